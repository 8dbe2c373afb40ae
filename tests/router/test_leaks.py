"""Leak and recovery tests: the household lab with captures on the router's WAN.

Each test builds the whole household (vpnspot_router/lab/topology.py: lan,
router, wan, gw, gw2, site), captures every frame on the router's WAN
device while the scenario runs, and asserts that nothing but WireGuard to
the gateway crossed it (lab/pcap.py classifies; the tally is printed).
The first test is the control: without the agent the same traffic does
leak, and the capture must see it - so a capture that sees nothing cannot
make the others pass.

These tests need root, namespaces, wireguard-go, nft, tcpdump and dnsmasq;
when any is missing they FAIL (conftest and the `house` fixture).

Timers: the agent runs with VPNSPOT_WG_TIMING rekey_timeout=1,
keepalive_timeout=1 so recovery is measured in seconds; the bounds asserted
are stated in those shortened units (one REKEY_TIMEOUT plus the protocol's
jitter of at most 1/3 s and 0.5 s for the processes involved).
"""

import os
import signal
import time

import pytest

from vpnspot_router.lab import pcap
from vpnspot_router.lab import topology as T
from tests.faults import household as H
from tests.faults.household import RECOVERY_BOUND, TIMING, finish

pytestmark = pytest.mark.interop

INET6 = "fd77:113::1"       # the ISP's side of the internet: WAN-side, never behind the tunnel


@pytest.fixture
def house(lab):
    return H.make_house(lab)


def lan_traffic_fails(house):
    """Every kind of LAN traffic a leak could carry; all must fail."""
    H.lan_traffic_fails(house, every_kind=True)


def site_saw_tunnel(house):
    reply = house.http_from_lan()
    assert reply.get("ok"), reply
    assert reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL


# ------------------------------------------------------------------ control

def test_without_the_agent_lan_traffic_leaks_and_the_capture_sees_it(house):
    capture = house.start_capture()
    assert house.ping_from_lan(T.GW, count=2)
    answer = house.lan_probe("dns", T.ISP, T.SITE_NAME)
    tally = capture.stop()
    print("\n[control, no agent] " + pcap.tally_text(tally))
    assert answer == {"ok": True, "answers": [T.ISP_ANSWER]}
    assert tally["leaked"] >= 4, tally


# ---------------------------------------------------------------- steady state

# Every data-plane optimization off (tunnel/offload.py, bind.py): the packets
# take the plain path, and still nothing leaks.
ALL_OFFLOADS_OFF = {"VPNSPOT_TUN_TSO": "0", "VPNSPOT_TUN_COALESCE": "0", "VPNSPOT_TUN_WRITER": "0",
                    "VPNSPOT_UDP_GSO": "0", "VPNSPOT_UDP_GRO": "0", "VPNSPOT_UDP_BUFFER": "0"}


@pytest.mark.parametrize("offloads", ["default", "all-off"])
def test_http_and_ping_reach_the_site_only_through_the_tunnel(house, offloads):
    capture = house.start_capture()
    house.start_agent(timing=TIMING, env=ALL_OFFLOADS_OFF if offloads == "all-off" else None)
    site_saw_tunnel(house)
    assert house.ping_from_lan(T.SITE, count=3)
    result = house.lab.tcp_transfer("lan", "site", T.SITE, 2 * 1024 * 1024)
    assert result.received_bytes == 2 * 1024 * 1024
    assert result.received_sha256 == result.sent_sha256
    if offloads == "all-off":
        assert "vnet header=False TSO=False coalesce=False writer thread=False, UDP GSO=False GRO=False" \
            in house.agent_log(), house.agent_log()
    finish(capture, "steady traffic, offloads " + offloads)


def test_lan_dns_over_udp_and_tcp_is_answered_by_the_tunnel_resolver(house):
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    for args in ((T.ISP, T.SITE_NAME), (T.ISP, T.SITE_NAME, "tcp"), (T.ROUTER_LAN, T.SITE_NAME),
                 (T.ROUTER_LAN, T.SITE_NAME, "tcp")):
        # Asked of the ISP's resolver or of the router: the tunnel resolver answers.
        assert house.lan_probe("dns", *args) == {"ok": True, "answers": [T.SITE]}, args
    assert house.lan_probe("dns", T.ISP6, T.SITE_NAME, "aaaa") == {"ok": True, "answers": [T.SITE6]}
    # DNS-over-TLS to a server behind the gateway works, through the tunnel.
    assert house.lan_probe("tcp", T.SITE, "853")["ok"]
    finish(capture, "dns udp/tcp/dot")


def test_ipv6_goes_through_the_tunnel_when_the_server_offers_it(house):
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    reply = house.http_from_lan(T.SITE6)
    assert reply.get("ok") and reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL6, reply
    assert house.ping_from_lan(T.SITE6, count=3)
    assert house.status()["ipv6"] == "tunnel"
    finish(capture, "ipv6 tunneled")


def test_ipv6_is_blocked_when_the_server_offers_none_despite_a_wan_ipv6_route(house):
    # The router's main table routes the site's IPv6 prefix through the WAN,
    # as router advertisements on the WAN would: that route must not open a leak.
    house.write_wg_config(ipv6=False)
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    assert house.status()["ipv6"] == "blocked"
    site_saw_tunnel(house)
    assert not house.ping_from_lan(T.SITE6, count=2)
    assert not house.ping_from_lan("fd77:113::10", count=2)
    assert not house.http_from_lan(T.SITE6, timeout=1.0).get("ok")
    finish(capture, "ipv6 blocked")


@pytest.mark.parametrize("ipv6", ["tunnel", "blocked"])
def test_real_router_advertisements_on_the_wan_open_no_ipv6_leak(house, ipv6):
    # The ISP's RAs give the router a default route and a SLAAC address on
    # the WAN; the lab's static IPv6 routes are gone, so the learned route is
    # the only IPv6 way out.
    route, slaac = house.learn_ipv6_from_router_advertisements()
    print("\n[router advertisements] learned %r and address %s" % (route, slaac))
    assert route.startswith("default via fe80::") and "dev wan proto ra" in route, route
    wan_side = (INET6, "fd77:113::10", T.ISP6)
    # Control: without the agent that route carries LAN IPv6 out, and the
    # capture sees it.
    control = house.start_capture("wan-control")
    assert house.ping_from_lan(INET6, count=2)
    tally = control.stop()
    print("[router advertisements, no agent] " + pcap.tally_text(tally))
    assert tally["leaked"] >= 2 and tally["housekeeping"] > 0, tally
    house.write_wg_config(ipv6=(ipv6 == "tunnel"))
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    assert house.status()["ipv6"] == ipv6
    if ipv6 == "tunnel":
        reply = house.http_from_lan(T.SITE6)
        assert reply.get("ok") and reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL6, reply
    else:
        site_saw_tunnel(house)
        assert not house.http_from_lan(T.SITE6, timeout=1.0).get("ok")
    for addr in wan_side:
        pinged = house.ping_from_lan(addr, count=2)
        asked = house.lan_probe("dns", addr, T.SITE_NAME, "aaaa")
        if ipv6 == "blocked":
            assert not pinged and not asked.get("ok"), (addr, asked)
    # The advertisements kept coming all along: the route is still there.
    assert "proto ra" in house.lab.run("router", "ip", "-6", "route", "show", "default").stdout
    tally = finish(capture, "router advertisements, IPv6 %s" % ipv6)
    assert tally["housekeeping"] > 0, "the capture saw no router advertisement"


# ------------------------------------------------------------ agent lifecycle

def test_boot_before_the_agent_the_kill_switch_already_holds(house):
    capture = house.start_capture()
    proc = house.vpnspot("killswitch", "apply", "--settings", house.settings)
    assert proc.returncode == 0, proc.stderr
    assert house.vpnspot("killswitch", "status").returncode == 0
    lan_traffic_fails(house)
    # Then the agent starts and the household is online; the same capture
    # runs on, so its WireGuard count proves it was live during boot too.
    house.start_agent(timing=TIMING)
    site_saw_tunnel(house)
    finish(capture, "boot, agent not started, then started")


def test_agent_kill_9_keeps_the_kill_switch_and_a_restart_recovers(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    site_saw_tunnel(house)
    os.kill(house.agent.pid, signal.SIGKILL)
    house.agent.wait(timeout=5)
    lan_traffic_fails(house)
    assert house.vpnspot("killswitch", "status").returncode == 0
    house.start_agent(timing=TIMING)
    since = time.time()
    site_saw_tunnel(house)
    assert probe.wait_reply_after(since, timeout=10) < 10
    finish(capture, "agent kill -9 and restart")


def test_agent_sigterm_stops_the_tunnel_but_keeps_the_kill_switch(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.agent.send_signal(signal.SIGTERM)
    assert house.agent.wait(timeout=10) == 0
    assert house.status()["state"] == "stopped"
    assert house.vpnspot("killswitch", "status").returncode == 0
    lan_traffic_fails(house)
    house.start_agent(timing=TIMING)
    assert probe.wait_reply_after(time.time(), timeout=10) < 10
    finish(capture, "agent restart")


def test_config_reload_keeps_the_kill_switch_and_rejects_a_bad_file(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.write_settings(mtu="1400")
    house.agent.send_signal(signal.SIGHUP)
    T.netns.wait_for(lambda: house.status().get("reloads") == 1, timeout=10, what="the reload")
    # The reload is counted before the tunnel reopens: wait for the new MTU.
    T.netns.wait_for(lambda: house.lab.run("router", "cat", "/sys/class/net/%s/mtu" % T.TUNNEL_IFNAME,
                                           check=False).stdout.strip() == "1400",
                     timeout=10, what="the reopened tunnel with MTU 1400")
    assert probe.wait_reply_after(time.time(), timeout=10) < 10
    # A broken settings file: logged, and nothing changes.
    with open(house.settings, "a") as f:
        f.write("kill_switch = maybe\n")
    house.agent.send_signal(signal.SIGHUP)
    T.netns.wait_for(lambda: "reload rejected" in house.agent_log(), timeout=5, what="the rejection")
    assert house.status()["reloads"] == 1
    assert probe.wait_reply_after(time.time(), timeout=5) < 5
    assert house.agent.poll() is None
    finish(capture, "config reload")


# ------------------------------------------------------------------ recovery

def test_gateway_down_leaks_nothing_and_its_restart_is_recovered(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    site_saw_tunnel(house)
    house.gw.stop()
    lan_traffic_fails(house)
    time.sleep(2)
    house.gw.start()
    back = probe.wait_reply_after(time.time(), timeout=10)
    print("\n[gateway restart] tunnel back %.2f s after the gateway returned" % back)
    assert back <= RECOVERY_BOUND
    finish(capture, "gateway down and restart")


def test_wan_flap_leaks_nothing_and_the_tunnel_returns_within_one_rekey_timeout(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.wan_down()
    lan_traffic_fails(house)
    time.sleep(1)
    house.wan_up()
    usable = time.time()
    back = probe.wait_reply_after(usable, timeout=10)
    print("\n[wan flap] tunnel back %.2f s after the WAN was usable" % back)
    assert back <= RECOVERY_BOUND
    site_saw_tunnel(house)
    finish(capture, "wan flap")


def test_wan_address_change_leaks_nothing_and_the_tunnel_returns(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.change_wan_address()
    usable = time.time()
    back = probe.wait_reply_after(usable, timeout=10)
    print("\n[wan address change] tunnel back %.2f s after the new address" % back)
    assert back <= RECOVERY_BOUND
    site_saw_tunnel(house)
    peer = house.gw.show().peers[house.router_pub]
    assert peer.endpoint.startswith(T.ROUTER_WAN_ALT + ":"), peer.endpoint
    finish(capture, "wan address change")


# ------------------------------------------- LAN DNS through the router's resolver
#
# On OpenWrt the LAN asks the router (dnsmasq), which forwards upstream from
# the router itself: a path the kill switch's forward rules never see. The
# lab's router runs such a resolver (topology.py), forwarding to the ISP's.
# Until the agent's table sends LAN DNS to the tunnel resolver, only the boot
# guard (the package's vpnspot.nft, loaded as fw4 and `vpnspot guard sync`
# load it) keeps LAN names from reaching the ISP that way.

QNAME = b"\x04site\x07vpnspot\x04test"      # site.vpnspot.test as DNS writes it
WHOLE_GUARD = {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}


class RouterFiles:
    """The router's settings for the service agent and the guard: CONFIG/vpnspot
    (UCI) and STATE (provisioning file, guard.d), in the lab's directory."""

    def __init__(self, house, main_options):
        base = house.lab.tmpdir
        self.config = os.path.join(base, "boot-config")
        self.state = os.path.join(base, "boot-state")
        self.run = os.path.join(base, "boot-run")
        for d in (self.config, self.state, self.run):
            os.makedirs(d, exist_ok=True)
        self.write(main_options)

    def write(self, main_options):
        with open(os.path.join(self.config, "vpnspot"), "w") as f:
            f.write("config vpnspot 'main'\n" + "".join("\toption %s '%s'\n" % kv
                                                         for kv in main_options.items()))

    def provisioning(self, text):
        with open(os.path.join(self.state, "provisioning"), "w") as f:
            f.write(text)


def boot(house, files):
    """A router booting: the firewall starts (fw4 and its include of the
    guard), then /etc/init.d/vpnspot's `vpnspot guard sync`."""
    house.fw4_reload(files.state)
    return house.guard_sync(files.config, files.state, check=False)


def run_service_agent(house, files):
    """`vpnspot agent` as procd starts it (its own settings, no --wg-config);
    returns the finished process (it is expected to exit here)."""
    return house.vpnspot("agent", "--config-dir", files.config, "--state-dir", files.state,
                         "--run-dir", files.run, "--lan", "br-lan", "--wan", "wan",
                         "--tunnel", T.TUNNEL_IFNAME, "--guard-file", T.GUARD_FILE, timeout=60)


def ask_the_router(house):
    """LAN DNS to the router itself: UDP and TCP, IPv4 and IPv6, and DNS
    over TLS's port."""
    return {"udp": house.lan_probe("dns", T.ROUTER_LAN, T.SITE_NAME),
            "tcp": house.lan_probe("dns", T.ROUTER_LAN, T.SITE_NAME, "tcp"),
            "udp6": house.lan_probe("dns", T.ROUTER_LAN6, T.SITE_NAME),
            "dot": house.lan_probe("tcp", T.ROUTER_LAN, "853")}


def the_router_answers_no_lan_name(house):
    answers = ask_the_router(house)
    answered = dict((k, v) for k, v in answers.items() if v.get("ok"))
    assert not answered, "the router's resolver answered the LAN: %s" % answered


def lan_names_on_wan(capture):
    """Frames on the WAN that carry the LAN's question (query or answer)."""
    return sum(1 for frame in pcap.read_pcap(capture.path) if QNAME in frame)


def finish_dns(capture, scenario, expect_wireguard=False):
    tally = finish(capture, scenario, expect_wireguard=expect_wireguard)
    names = lan_names_on_wan(capture)
    print("[%s] LAN DNS questions on the WAN: %d" % (scenario, names))
    assert names == 0, "%s: %d frames on the WAN carry a LAN name" % (scenario, names)
    return tally


def test_without_the_guards_dns_rule_lan_names_reach_the_isp_through_the_routers_resolver(house):
    # Control: the guard as it was before it had its DNS rule (the forward
    # rule only). The router's resolver answers the LAN with the ISP's
    # answer, and the capture sees the name go out.
    files = RouterFiles(house, {"kill_switch": "1"})
    assert boot(house, files).returncode == 0
    house.lab.run("router", "nft", "flush", "chain", "inet", "vpnspot_guard", "dns")
    capture = house.start_capture()
    answer = house.lan_probe("dns", T.ROUTER_LAN, T.SITE_NAME)
    tally = capture.stop()
    names = lan_names_on_wan(capture)
    print("\n[control, guard without its DNS rule] %s; LAN DNS questions on the WAN: %d"
          % (pcap.tally_text(tally), names))
    assert answer == {"ok": True, "answers": [T.ISP_ANSWER]}
    assert names >= 2 and tally["leaked"] >= 2, tally
    # The forward rule held all along: the router's resolver carried the name.
    assert not house.lan_probe("dns", T.ISP, T.SITE_NAME).get("ok")


def test_boot_before_the_agent_the_guard_keeps_lan_names_from_the_isp(house):
    files = RouterFiles(house, {"kill_switch": "1"})
    capture = house.start_capture()
    proc = boot(house, files)
    assert proc.returncode == 0, proc.stderr
    assert house.guard_status() == WHOLE_GUARD
    the_router_answers_no_lan_name(house)
    lan_traffic_fails(house)
    # Then the agent: its table sends LAN DNS to the tunnel resolver before
    # the guard's input rule sees it, so the household's names work.
    house.start_agent(timing=TIMING)
    for args in ((T.ROUTER_LAN, T.SITE_NAME), (T.ROUTER_LAN, T.SITE_NAME, "tcp")):
        assert house.lan_probe("dns", *args) == {"ok": True, "answers": [T.SITE]}, args
    assert house.guard_status() == WHOLE_GUARD
    finish_dns(capture, "boot: the guard alone, then the agent", expect_wireguard=True)


def test_an_agent_refusing_a_bad_provisioning_file_leaves_the_guard_holding_lan_names(house):
    files = RouterFiles(house, {"kill_switch": "1"})
    files.provisioning("config provider 'provider'\n\toption name 'Example ISP\n")
    capture = house.start_capture()
    proc = boot(house, files)
    assert proc.returncode == 1 and "provisioning" in proc.stderr, proc.stdout + proc.stderr
    agent = run_service_agent(house, files)
    assert agent.returncode == 2 and "provisioning" in agent.stderr, agent.stderr
    assert house.guard_status() == WHOLE_GUARD
    the_router_answers_no_lan_name(house)
    lan_traffic_fails(house)
    finish_dns(capture, "agent fails at start: bad provisioning file")


def test_a_switched_off_agent_with_the_kill_switch_on_leaves_the_guard_holding_lan_names(house):
    files = RouterFiles(house, {"enabled": "0", "kill_switch": "1"})
    capture = house.start_capture()
    assert boot(house, files).returncode == 0
    agent = run_service_agent(house, files)
    assert agent.returncode == 0 and "switched off" in agent.stderr, agent.stderr
    assert house.guard_status() == WHOLE_GUARD
    the_router_answers_no_lan_name(house)
    lan_traffic_fails(house)
    finish_dns(capture, "main.enabled 0, kill switch on")


def test_after_nft_flush_ruleset_the_firewall_reload_brings_the_whole_guard_back(house):
    files = RouterFiles(house, {"kill_switch": "1"})
    assert boot(house, files).returncode == 0
    house.lab.run("router", "nft", "flush", "ruleset")
    assert house.guard_status()["loaded"] is False
    capture = house.start_capture()
    # The firewall reload path: fw4 with its include, then the hotplug
    # hook's guard sync.
    house.fw4_reload(files.state)
    assert house.guard_status() == WHOLE_GUARD
    assert house.guard_sync(files.config, files.state).returncode == 0
    assert house.guard_status() == WHOLE_GUARD
    the_router_answers_no_lan_name(house)
    lan_traffic_fails(house)
    finish_dns(capture, "nft flush ruleset, then the firewall reload")
