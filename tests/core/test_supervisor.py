"""The agent's lifecycle (core/supervisor.py): every transition, the ones
refused, health monitoring, failover and API backoff."""

from vpnspot_router.core import supervisor as S


KEY = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="     # base64 of 32 x 0x09
# What every server entry holds besides id, region, load and endpoint
# (core/serverlist.py refuses an entry without them). An IPv6 resolver
# only: no IPv4 probe address, so these servers are watched passively
# (PROBED below are the ones that answer probes).
FIELDS = {"public_key": KEY, "ipv6": False, "dns": ["fd77:77::1"]}
SERVERS = [
    dict(FIELDS, id="gw", region="nl-ams", load=10, endpoint="203.0.113.10:51820"),
    dict(FIELDS, id="gw2", region="nl-ams", load=20, endpoint="203.0.113.20:51820"),
    dict(FIELDS, id="fra", region="de-fra", load=5, endpoint="203.0.113.30:51820"),
]
ADDR = {"ipv4": "10.77.0.2/32", "ipv6": None}
LAT = {"gw": [5], "gw2": [6], "fra": [40]}


def kinds(actions):
    return [a.kind for a in actions]


def refused(fn, *args):
    try:
        fn(*args)
    except S.SupervisorError as e:
        return str(e)
    raise AssertionError("no SupervisorError")


def connected(sup=None, now=0.0):
    """A supervisor taken from boot to connected on gw."""
    sup = sup or S.Supervisor()
    assert kinds(sup.boot(now)) == [S.APPLY_KILL_SWITCH]
    assert kinds(sup.killswitch_loaded(now, True)) == [S.FETCH_SERVERS]
    assert sup.state == S.FETCHING
    assert kinds(sup.servers_fetched(now, SERVERS)) == [S.REGISTER_KEY]
    assert sup.state == S.REGISTERING
    probe = sup.key_registered_ok(now, ADDR)
    assert kinds(probe) == [S.PROBE_SERVERS] and sup.state == S.CHOOSING
    conf = sup.probed(now + 1, LAT)
    assert kinds(conf) == [S.CONFIGURE_TUNNEL] and conf[0].server["id"] == "gw"
    assert conf[0].addresses == ADDR
    assert sup.state == S.CONNECTING
    assert sup.monitor(now + 1.5, now + 1.2, 148, 148) == []
    assert sup.state == S.CONNECTED
    return sup


def test_boot_loads_the_kill_switch_before_anything_else():
    sup = S.Supervisor()
    assert kinds(sup.boot(0)) == [S.APPLY_KILL_SWITCH]
    assert sup.state == S.BOOT
    assert "already started" in refused(sup.boot, 0)


def test_nothing_happens_before_the_kill_switch_is_loaded():
    sup = S.Supervisor()
    sup.boot(0)
    for fn, args in ((sup.servers_fetched, (0, SERVERS)), (sup.connect, (0,)),
                     (sup.disconnect, (0,)), (sup.enrolled, (0,))):
        assert "while boot" in refused(fn, *args)
        assert sup.state == S.BOOT


def test_a_router_without_enrollment_waits_and_continues_once_enrolled():
    sup = S.Supervisor()
    sup.boot(0)
    assert sup.killswitch_loaded(0, False) == []
    assert sup.state == S.NOT_ENROLLED
    assert "not_enrolled" in refused(sup.connect, 1)
    assert kinds(sup.enrolled(2)) == [S.FETCH_SERVERS]
    assert sup.state == S.FETCHING


def test_the_full_path_from_boot_to_connected_is_recorded_in_the_history():
    sup = connected()
    events = [h[2] for h in sup.history]
    assert events == ["killswitch_loaded_enrolled", "fetch", "servers_need_key", "key_registered",
                      "probed", "handshake"]
    snap = sup.snapshot(10)
    assert snap["state"] == "connected" and snap["server"] == "gw"
    assert snap["history"][-1]["to"] == "connected"


def test_a_known_key_skips_registration():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True, last_good=(SERVERS[1], ADDR))
    assert kinds(sup.servers_fetched(1, SERVERS)) == [S.PROBE_SERVERS]
    assert sup.state == S.CHOOSING


def test_probing_picks_the_region_the_household_prefers():
    sup = S.Supervisor(region="de-fra")
    sup.boot(0)
    sup.killswitch_loaded(0, True, last_good=(SERVERS[0], ADDR))
    probe = sup.servers_fetched(0, SERVERS)[0]
    assert [s["id"] for s in probe.servers][0] == "fra"
    assert sup.probed(1, LAT)[0].server["id"] == "fra"


def test_no_handshake_within_the_connect_timeout_fails_over():
    sup = S.Supervisor()
    sup.timing.connect_timeout = 3
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    sup.servers_fetched(0, SERVERS)
    sup.key_registered_ok(0, ADDR)
    sup.probed(1, LAT)
    assert sup.monitor(3.9, None, 0, 148) == []
    acts = sup.monitor(4.0, None, 0, 296)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server["id"] == "gw2"
    assert sup.state == S.FAILING_OVER
    assert sup.monitor(4.5, 4.3, 92, 148) == []
    assert sup.state == S.CONNECTED
    assert sup.snapshot(5)["last_failover"]["from"] == "gw"
    assert abs(sup.snapshot(5)["last_failover"]["seconds_to_handshake"] - 0.3) < 1e-9


def test_data_sent_without_anything_back_for_dead_after_fails_over():
    sup = connected()
    sup.timing.dead_after = 2.0
    sup.monitor(10, 1.2, 1000, 1000)
    sup.monitor(11, 1.2, 2000, 2000)          # two-way traffic: alive
    assert sup.state == S.CONNECTED
    sup.monitor(12, 1.2, 2000, 2500)          # sent, nothing back: clock starts
    sup.monitor(13.9, 1.2, 2000, 3000)
    assert sup.state == S.CONNECTED
    acts = sup.monitor(14.0, 1.2, 2000, 3100)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server["id"] == "gw2"
    assert "gw" in sup.snapshot(14)["failed"]
    assert sup.failovers == 1


def test_an_idle_tunnel_is_not_declared_dead():
    sup = connected()
    sup.timing.dead_after = 2.0
    for t in range(10, 100, 5):
        assert sup.monitor(t, 60.0 if t > 60 else 1.2, 148, 148) == []
    assert sup.state == S.CONNECTED


def test_a_handshake_older_than_reject_after_time_means_the_server_is_gone():
    sup = connected()
    acts = sup.monitor(1.2 + sup.timing.stale_handshake, 1.2, 148, 148)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL]
    assert sup.state == S.FAILING_OVER


def test_replies_arriving_reset_the_dead_timer():
    sup = connected()
    sup.timing.dead_after = 2.0
    sup.monitor(10, 1.2, 1000, 1000)
    sup.monitor(11, 1.2, 1000, 1200)
    sup.monitor(12.5, 1.2, 1100, 1300)        # a reply: alive
    sup.monitor(13.5, 1.2, 1100, 1400)
    assert sup.monitor(14.5, 1.2, 1100, 1500) == []
    assert sup.state == S.CONNECTED


def test_failover_tries_every_server_then_comes_back_round():
    sup = connected()
    sup.timing.connect_timeout = 1
    seen = []
    t = 20.0
    for _ in range(4):
        acts = sup.monitor(t, None, 0, 0) if sup.state != S.CONNECTED else []
        if sup.state == S.CONNECTED:
            sup.timing.stale_handshake = 1
            acts = sup.monitor(t, 1.2, 148, 148)
        seen.append(acts[0].server["id"])
        t += 2
    assert seen[:3] == ["gw2", "fra", "gw"]


def test_an_unreachable_service_without_a_known_server_backs_off_with_jitter():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    assert sup.api_failed(0, "no network", False, 0.5) == []
    assert sup.state == S.BACKOFF
    first = sup.api_retry_at
    assert first == 0.5 * sup.timing.backoff_base
    assert sup.tick(first - 0.01) == []
    assert kinds(sup.tick(first)) == [S.FETCH_SERVERS]
    assert sup.state == S.FETCHING
    sup.api_failed(10, "no network", False, 0.5)
    assert sup.api_retry_at == 10 + 0.5 * 2 * sup.timing.backoff_base


def test_an_unreachable_service_keeps_the_tunnel_on_the_last_good_server():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True, last_good=(SERVERS[1], ADDR))
    acts = sup.api_failed(0, "no network", False, 0.9)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server["id"] == "gw2"
    assert sup.state == S.CONNECTING
    sup.monitor(1, 0.5, 0, 0)
    assert sup.state == S.CONNECTED
    assert sup.snapshot(1)["api_problem"] == "no network"
    # The retry happens as a background refresh, not a reconnect.
    acts = sup.tick(sup.api_retry_at)
    assert kinds(acts) == [S.FETCH_SERVERS] and acts[0].background
    assert sup.servers_fetched(20, SERVERS) == []
    assert sup.state == S.CONNECTED and sup.current["id"] == "gw2"


def test_a_background_refresh_that_fails_leaves_the_tunnel_alone():
    sup = connected()
    acts = sup.tick(sup.next_refresh)
    assert kinds(acts) == [S.FETCH_SERVERS]
    assert sup.api_failed(sup.next_refresh, "no network", False, 0.1) == []
    assert sup.state == S.CONNECTED and sup.api_retry_at is not None


def test_a_refused_account_needs_attention_and_is_retried_slowly():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    sup.api_failed(0, "account suspended", True, 0.0)
    assert sup.state == S.NEEDS_ATTENTION
    assert sup.api_retry_at >= sup.timing.backoff_cap
    assert kinds(sup.connect(5)) == [S.FETCH_SERVERS]


def test_the_household_can_connect_elsewhere_and_disconnect():
    sup = connected()
    acts = sup.connect(30, region="de-fra")
    assert kinds(acts) == [S.FETCH_SERVERS] and sup.state == S.FETCHING
    probe = sup.servers_fetched(30, SERVERS)
    assert probe[0].servers[0]["id"] == "fra"
    assert sup.probed(31, LAT)[0].server["id"] == "fra"
    assert kinds(sup.disconnect(32)) == [S.STOP_TUNNEL]
    assert sup.state == S.DISCONNECTED
    assert sup.monitor(33, None, 0, 0) == []
    assert kinds(sup.connect(34, server="gw2")) == [S.FETCH_SERVERS]
    sup.servers_fetched(34, SERVERS)
    assert sup.probed(35, LAT)[0].server["id"] == "gw2"


def test_illegal_transitions_raise_and_change_nothing():
    sup = connected()
    for fn, args in ((sup.probed, (40, LAT)), (sup.key_registered_ok, (40, ADDR)),
                     (sup.enrolled, (40,)), (sup.killswitch_loaded, (40, True))):
        msg = refused(fn, *args)
        assert "while connected" in msg, msg
        assert sup.state == S.CONNECTED
    sup.stop(50)
    assert sup.state == S.STOPPED
    assert "while stopped" in refused(sup.stop, 51)
    assert "while stopped" in refused(sup.connect, 51)


def test_every_state_can_stop_and_no_table_entry_leads_outside_the_states():
    for (state, event), target in S.TRANSITIONS.items():
        assert state in S.STATES and target in S.STATES, (state, event, target)
    for state in S.STATES:
        if state != S.STOPPED:
            assert S.TRANSITIONS[(state, "stop")] == S.STOPPED


def test_an_empty_server_list_is_treated_as_a_service_problem():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    sup.servers_fetched(0, [])
    assert sup.state == S.BACKOFF
    assert "no servers" in sup.api_problem


# -- the server list passes core/serverlist.py -----------------------------

def test_a_refused_server_entry_is_left_out_and_named_and_the_rest_is_used():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    bad = [dict(SERVERS[0], dns=["1.2.3"]), dict(SERVERS[1], endpoint="127.0.0.1:51820")]
    assert kinds(sup.servers_fetched(0, bad + [SERVERS[2]])) == [S.REGISTER_KEY]
    assert [s["id"] for s in sup.servers] == ["fra"]
    assert sup.refused == ["server gw: dns: '1.2.3' is not an IPv4 address",
                           "server gw2: endpoint: '127.0.0.1:51820': 127.0.0.1 is a loopback address"]
    assert sup.snapshot(0)["servers_refused"] == sup.refused
    probe = sup.key_registered_ok(0, ADDR)
    assert [s["id"] for s in probe[0].servers] == ["fra"]
    conf = sup.probed(1, {"fra": [5]})
    assert conf[0].server["id"] == "fra"


def test_a_list_with_no_usable_server_is_a_failed_call_retried_later_not_a_crash():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    assert sup.servers_fetched(0, [dict(SERVERS[0], dns=["0.0.0.0"])]) == []
    assert sup.state == S.BACKOFF and sup.api_retry_at is not None
    assert sup.api_problem == ("the provider listed no usable server (1 refused: server gw: dns: "
                               "0.0.0.0 is the unspecified address)")
    # The next list is good: on as usual.
    sup.tick(sup.api_retry_at)
    assert kinds(sup.servers_fetched(sup.api_retry_at, SERVERS)) == [S.REGISTER_KEY]
    assert sup.refused == []


def test_the_routers_own_networks_are_refused_as_endpoints_and_resolvers():
    sup = S.Supervisor()
    sup.networks = [(4, 0xC0A84D00, 24)]             # 192.168.77.0/24, the LAN
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    sup.servers_fetched(0, [dict(SERVERS[0], dns=["192.168.77.1"])] + SERVERS[1:])
    assert sup.refused == ["server gw: dns: 192.168.77.1 is inside the router's own network "
                           "192.168.77.0/24"]


def test_a_saved_last_good_server_that_fails_the_checks_is_forgotten():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True, (dict(SERVERS[0], dns=["0.0.0.0"]), ADDR))
    assert sup.last_good is None and not sup.key_registered
    assert sup.refused == ["last good server: server gw: dns: 0.0.0.0 is the unspecified address"]
    # The service is unreachable: no tunnel to a bad server, the kill switch holds.
    assert sup.api_failed(1, "no network", False, 0.0) == [] and sup.state == S.BACKOFF
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True, (SERVERS[0], {"ipv4": "1.2.3/32", "ipv6": None}))
    assert sup.last_good is None
    assert sup.refused == ["last good server: ipv4: '1.2.3' is not an IPv4 address"]


def test_an_unusable_tunnel_address_from_key_registration_is_a_failed_call():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    sup.servers_fetched(0, SERVERS)
    assert sup.key_registered_ok(0, {"ipv4": "1.2.3/32", "ipv6": None}) == []
    assert sup.state == S.BACKOFF and not sup.key_registered
    assert sup.api_problem == ("the provider assigned an unusable tunnel address: ipv4: "
                               "'1.2.3' is not an IPv4 address")


def test_timers_are_validated():
    t = S.Timing()
    t.set("dead_after", 1.5)
    assert t.dead_after == 1.5
    for name, value in (("nope", 1), ("dead_after", 0), ("_x", 1)):
        try:
            t.set(name, value)
        except ValueError:
            continue
        raise AssertionError("accepted %s=%s" % (name, value))


# -- active liveness (core/liveness.py), at the default timing ---------------

PROBED = [dict(s, dns=["10.77.0.1", "fd77:77::1"]) for s in SERVERS]


def connected_probing(now=0.0):
    """Connected to gw, a server with a probe address, which answered the
    probe sent right after the handshake. Returns (sup, rx, tx)."""
    sup = S.Supervisor()
    sup.boot(now)
    sup.killswitch_loaded(now, True)
    sup.servers_fetched(now, PROBED)
    sup.key_registered_ok(now, ADDR)
    sup.probed(now + 1, LAT)
    acts = sup.monitor(now + 1.5, now + 1.2, 148, 148)
    assert kinds(acts) == [S.PROBE_TUNNEL] and acts[0].address == "10.77.0.1"
    assert sup.state == S.CONNECTED
    sup.probe_sent(now + 1.5, acts[0].seq)
    sup.probe_reply(now + 1.52, acts[0].seq)
    assert sup.snapshot(now + 2)["liveness"]["answering"]
    return sup, 148 + 84, 148 + 84


def test_a_dead_server_is_found_by_probes_in_about_two_seconds_at_the_default_timing():
    sup, rx, tx = connected_probing()
    assert sup.timing.dead_after == 15.0          # the default, untouched
    for i in range(50):                           # two-way traffic for 10 s
        rx, tx = rx + 100, tx + 100
        assert sup.monitor(2 + i * 0.2, 1.2, rx, tx) == []
    died = 12.0
    t = died
    acts = []
    while not acts or acts[0].kind == S.PROBE_TUNNEL:
        t = round(t + 0.2, 6)
        tx += 100                                 # the LAN keeps sending, nothing comes back
        acts = sup.monitor(t, 1.2, rx, tx) + sup.tick(t)
        for a in acts:
            if a.kind == S.PROBE_TUNNEL:
                sup.probe_sent(t, a.seq)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server["id"] == "gw2"
    assert sup.state == S.FAILING_OVER
    assert t - died < 2.5, t - died              # 1 s quiet + 2 x 0.5 s, on a 0.2 s grid
    assert "probes unanswered" in sup.history[-1][4]


def test_one_way_traffic_answered_by_probes_never_fails_over_at_the_default_timing():
    sup, rx, tx = connected_probing()
    replies = []
    probes = 0
    t = 2.0
    while t < 120.0:
        t = round(t + 0.2, 6)
        tx += 1400                                # an upload: nothing comes back
        for due, seq in list(replies):
            if due <= t:
                replies.remove((due, seq))
                rx += 84                          # the echo reply, counted by the tunnel
                assert sup.probe_reply(t, seq) == []
        acts = sup.monitor(t, 1.2, rx, tx) + sup.tick(t)
        for a in acts:
            assert a.kind == S.PROBE_TUNNEL, (t, acts)
            probes += 1
            tx += 84
            sup.probe_sent(t, a.seq)
            replies.append((t + 0.03, a.seq))
    assert sup.state == S.CONNECTED and sup.failovers == 0
    assert 40 <= probes <= 120, probes            # about one per quiet second


def test_a_server_that_ignores_probes_is_still_failed_over_by_the_passive_limit():
    sup = S.Supervisor()
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    sup.servers_fetched(0, PROBED)
    sup.key_registered_ok(0, ADDR)
    sup.probed(1, LAT)
    first = sup.monitor(1.5, 1.2, 148, 148)[0]
    sup.probe_sent(1.5, first.seq)               # never answered
    t, tx, verdict = 1.5, 148, []
    while not verdict:
        t = round(t + 0.2, 6)
        tx += 100
        for a in sup.monitor(t, 1.2, 148, tx) + sup.tick(t):
            if a.kind == S.PROBE_TUNNEL:
                sup.probe_sent(t, a.seq)
            else:
                verdict.append(a)
    assert verdict[0].kind == S.CONFIGURE_TUNNEL
    assert 15.0 <= t - 1.7 <= 15.5 and "nothing back" in sup.history[-1][4]


def test_probe_answers_for_an_old_tunnel_change_nothing():
    sup, rx, tx = connected_probing()
    old = sup.liveness.seq
    sup.disconnect(3)
    assert sup.probe_reply(3.1, old) == [] and sup.probe_failed(3.1, old) == []
    assert sup.state == S.DISCONNECTED


def test_a_server_without_a_probe_address_is_not_probed():
    sup = connected()
    assert sup.liveness is None and S.probe_address(SERVERS[0]) is None
    assert S.probe_address({"dns": ["fd77:77::1", "10.77.0.1"]}) == "10.77.0.1"


# -- the household's own server (server_source 'own') -------------------------

OWN = S.own_server("203.0.113.10:51820", ["10.77.0.1"])


def own_connected(now=0.0):
    """A supervisor that booted on the household's own server and connected."""
    sup = S.Supervisor()
    sup.boot(now)
    acts = sup.use_own(now, OWN)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server is OWN
    assert acts[0].addresses is None and acts[0].reason == "your own server"
    assert sup.state == S.CONNECTING and sup.source == S.SOURCE_OWN
    assert sup.monitor(now + 1, now + 0.5, 148, 148) == []
    assert sup.state == S.CONNECTED
    return sup


def test_the_own_server_needs_the_kill_switch_loaded_first():
    sup = S.Supervisor()
    assert "kill switch is not loaded" in refused(sup.use_own, 0, OWN)
    assert "kill switch is not loaded" in refused(sup.own_unusable, 0, "no file")
    assert sup.state == S.BOOT and sup.source == S.SOURCE_VPNSPOT


def test_the_own_server_connects_without_asking_the_provider_for_anything():
    sup = own_connected()
    # Hours later: no refresh, no API retry, no probe; nothing to wake up for.
    for t in (10.0, 7 * 3600.0, 48 * 3600.0):
        assert sup.tick(t) == [] and sup.next_wakeup() is None
    assert sup.last_good is None and sup.liveness is None
    snap = sup.snapshot(2.0)
    assert snap["server_source"] == "own" and snap["server"] == "own"
    assert snap["own_endpoint"] == "203.0.113.10:51820" and snap["own_problem"] is None
    assert snap["outside_region"] is False and snap["order"] == []
    assert S.probe_address(OWN) is None


def test_a_dead_own_server_is_configured_again_and_never_failed_over():
    sup = S.Supervisor()
    sup.boot(0)
    sup.use_own(0, OWN)
    acts = sup.monitor(10.5, None, 0, 148)          # no handshake within connect_timeout
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server is OWN
    assert acts[0].addresses is None and "your own server again" in acts[0].reason
    assert sup.state == S.FAILING_OVER and sup.failovers == 0 and sup.failed == {}
    sup.monitor(11, 10.8, 148, 148)
    assert sup.state == S.CONNECTED
    # Sent, nothing back for dead_after: the same server again.
    sup.monitor(12, 10.8, 148, 300)
    acts = sup.monitor(27.1, 10.8, 148, 900)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server is OWN
    assert sup.history[-1][4].startswith("your own server: sent data")


def test_choosing_a_vpn_spot_server_is_refused_while_the_own_server_is_in_use():
    sup = own_connected()
    before = (sup.state, sup.region, sup.pinned, sup.transitions)
    assert "your own server is in use" in refused(sup.connect, 5, "europe")
    assert "your own server is in use" in refused(sup.connect, 5, None, "gw")
    assert (sup.state, sup.region, sup.pinned, sup.transitions) == before
    # An answer from the provider flow that was under way changes nothing.
    assert sup.servers_fetched(5, SERVERS) == [] and sup.api_failed(5, "x", False) == []
    assert sup.state == S.CONNECTED and sup.servers == [] and sup.api_problem is None


def test_an_unusable_own_file_stops_the_tunnel_and_says_why_and_nothing_retries():
    sup = connected()
    sup.api_failed(2, "no network", False, 0.0)      # a background refresh retry pending
    assert sup.api_retry_at is not None
    acts = sup.own_unusable(3, "/etc/vpnspot/wg-household.conf: no such file")
    assert kinds(acts) == [S.STOP_TUNNEL]
    assert sup.state == S.NEEDS_ATTENTION and sup.current is None
    snap = sup.snapshot(3)
    assert snap["server_source"] == "own" and "no such file" in snap["own_problem"]
    for t in (4.0, 3600.0, 86400.0):
        assert sup.tick(t) == [] and sup.next_wakeup() is None
    assert sup.state == S.NEEDS_ATTENTION
    # A good file later (a new import): connect to it.
    assert kinds(sup.use_own(100, OWN)) == [S.CONFIGURE_TUNNEL]
    assert sup.state == S.CONNECTING and sup.own_problem is None


def test_switching_back_to_vpn_spot_fetches_the_servers_again_and_keeps_the_last_good_server():
    sup = connected()
    sup.use_own(5, OWN)
    sup.monitor(6, 5.5, 148, 148)
    assert sup.state == S.CONNECTED and sup.last_good[0]["id"] == "gw"
    acts = sup.use_vpnspot(7, True)
    assert kinds(acts) == [S.STOP_TUNNEL, S.FETCH_SERVERS] and sup.state == S.FETCHING
    assert sup.source == S.SOURCE_VPNSPOT and sup.current is None
    # The key is still registered: straight to probing.
    assert kinds(sup.servers_fetched(8, SERVERS)) == [S.PROBE_SERVERS]
    assert sup.use_vpnspot(9, True) == []            # already there: nothing to do


def test_switching_back_without_an_enrollment_waits_for_one():
    sup = own_connected()
    acts = sup.use_vpnspot(5, False)
    assert kinds(acts) == [S.STOP_TUNNEL] and sup.state == S.NOT_ENROLLED
    assert kinds(sup.enrolled(6)) == [S.FETCH_SERVERS]


def test_a_supervisor_that_started_on_the_own_server_takes_the_saved_last_good_server_back():
    sup = own_connected()
    saved = (SERVERS[1], ADDR)
    assert kinds(sup.use_vpnspot(5, True, saved)) == [S.STOP_TUNNEL, S.FETCH_SERVERS]
    assert sup.last_good == saved and sup.key_registered
    acts = sup.api_failed(6, "no network", False, 0.0)
    assert kinds(acts) == [S.CONFIGURE_TUNNEL] and acts[0].server["id"] == "gw2"
