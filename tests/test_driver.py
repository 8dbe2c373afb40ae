"""The supervisor's driver (vpnspot_router/driver.py) with the household's
own WireGuard server (option server_source 'own'): the tunnel comes from
STATE/wg-household.conf with the same kill switch, routing and DNS plan as
a VPN Spot server; the provider is asked for nothing and the traffic is not
counted; a missing or damaged file leaves no tunnel and says why; the
control socket's "server_source" request switches both ways; and a stopped
tunnel's last status is never taken for the next tunnel's handshake.

Everything here runs in memory: FakeFirewall, FakeRouting, a recording
tunnel backend, a provider client that fails the test if it is called."""

import base64
import json
import os
import time

from vpnspot_router import driver
from vpnspot_router.core import config as core_config
from vpnspot_router.core import supervisor as sv
from vpnspot_router.core import telemetry
from vpnspot_router.crypto import default_provider
from vpnspot_router.net import firewall as fw_mod
from vpnspot_router.net import routing as rt_mod
from vpnspot_router.provider.client import Server, TunnelAddresses
from vpnspot_router.store import FileStore
from vpnspot_router.tunnel import backend as be

CPYTHON_ONLY = "the driver's IO around the core"


def key(n):
    return base64.b64encode(bytes([n]) * 32).decode()


OWN_CONF = """[Interface]
PrivateKey = %s
Address = 10.77.0.50/32, fd77:77::50/128
DNS = 10.77.0.1, fd77:77::1
MTU = 1400

[Peer]
PublicKey = %s
PresharedKey = %s
Endpoint = 203.0.113.10:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25
""" % (key(1), key(2), key(3))
NET = {"kill_switch": "on", "dns": "tunnel", "ipv6": "auto", "mtu": "auto", "lan": "br-lan",
       "wan": "wan", "tunnel": "vpnspot0"}
PROVISIONING = ("config provider 'provider'\n\toption name 'Example ISP'\n"
                "\tlist lock 'server_source'\n")


class RecordingBackend:
    """A TunnelBackend that records what it was asked to carry."""
    name = be.USERSPACE

    def __init__(self, log):
        self.log = log
        self.conf = None

    def start(self, conf):
        self.conf = conf
        self.log.append(("start", conf))
        self.handshake = time.time() + 0.001       # its peer answers at once

    def status(self):
        return {"peers": [{"last_handshake": self.handshake, "rx_bytes": 5000, "tx_bytes": 7000}]}

    def stop(self):
        self.log.append(("stop", self.conf))


class NoProvider:
    """The provider client while the own server is in use: never called."""

    def __getattr__(self, name):
        raise AssertionError("the provider was called (%s) while the own server is in use" % name)


class LabProvider:
    def __init__(self):
        self.calls = []

    def servers(self):
        self.calls.append("servers")
        return [Server("ams-gw", "europe", "NL", "Amsterdam", "gw.vpnspot.test",
                       "203.0.113.10:51820", key(9), 10, False, ["10.77.0.1"])]

    def register_key(self, public_key):
        self.calls.append("register_key")
        return TunnelAddresses(public_key, "10.77.0.2/32", None)


def make_agent(tmp_path, household="config vpnspot 'main'\n\toption server_source 'own'\n",
               provisioning=None, conf=OWN_CONF, last_good=None):
    prov = core_config.parse_provisioning(provisioning) if provisioning else None
    settings = core_config.load(household, prov)
    state = tmp_path / "state"
    state.mkdir()
    if conf is not None:
        FileStore(str(state / driver.OWN_CONFIG)).write(conf.encode())
    log = []
    agent = driver.ServiceAgent(settings, dict(NET), str(state), str(tmp_path / "run"),
                                default_provider(), firewall=fw_mod.FakeFirewall(),
                                routing=rt_mod.FakeRouting(),
                                data_plane=be.Choice(be.USERSPACE, "test"),
                                backend_factory=lambda name: RecordingBackend(log),
                                report_timing={"first_jitter": 0})
    agent.backend_log = log
    agent.private_key = bytes([7]) * 32
    agent.client = NoProvider()
    agent.dispatch(agent.sup.boot(time.monotonic()))
    return agent


def started(agent):
    return [c for what, c in agent.backend_log if what == "start"]


def test_with_server_source_own_the_tunnel_is_the_imported_file_with_the_usual_kill_switch_and_dns(tmp_path):
    agent = make_agent(tmp_path)
    agent.dispatch(agent._use_own(time.monotonic()))
    assert agent.sup.state == sv.CONNECTING and agent.sup.source == sv.SOURCE_OWN
    (conf,) = started(agent)
    assert conf.interface.private_key == bytes([1]) * 32
    assert conf.interface.addresses == [("10.77.0.50", 32), ("fd77:77::50", 128)]
    assert conf.interface.mtu == 1400 and conf.interface.dns == ["10.77.0.1", "fd77:77::1"]
    peer = conf.peers[0]
    assert peer.public_key == bytes([2]) * 32 and peer.preshared_key == bytes([3]) * 32
    assert peer.endpoint == ("203.0.113.10", 51820) and peer.persistent_keepalive == 25
    assert peer.allowed_ips == [("0.0.0.0", 0), ("::", 0)]
    # The same kill switch, DNS redirection and IPv6 handling as for VPN Spot.
    text = agent.firewall.text
    assert 'oifname != "vpnspot0" counter drop comment "vpnspot kill switch"' in text
    assert "dnat ip to 10.77.0.1:53" in text and "dnat ip6 to [fd77:77::1]:53" in text
    assert "ipv6 blocked" not in text
    assert agent.plan.mtu == 1400
    assert agent.routing.routes == {(4, "unicast", "vpnspot0", rt_mod.METRIC_TUNNEL),
                                    (6, "unicast", "vpnspot0", rt_mod.METRIC_TUNNEL),
                                    (4, "unreachable", None, rt_mod.METRIC_UNREACHABLE),
                                    (6, "unreachable", None, rt_mod.METRIC_UNREACHABLE)}
    # The handshake arrives; hours pass: the provider is never called (NoProvider).
    agent._observe(time.monotonic())
    assert agent.sup.state == sv.CONNECTED
    agent.dispatch(agent.sup.tick(time.monotonic() + 48 * 3600))
    agent.write_status()
    with open(str(tmp_path / "run" / "agent.json")) as f:
        status = json.load(f)
    assert status["server_source"] == "own"
    assert status["supervisor"]["own_endpoint"] == "203.0.113.10:51820"
    assert agent.diagnose(time.monotonic())["dns"] == ["10.77.0.1", "fd77:77::1"]


def test_traffic_to_the_own_server_is_neither_counted_nor_reported(tmp_path):
    agent = make_agent(tmp_path)
    agent.identity = telemetry.Identity("GL-MT3000", "OpenWrt", "23.05.3", "0.1.0")
    # A report of an earlier VPN Spot period waits in the queue.
    agent.queue.add(agent.identity, 1000, 4600, 10, 20, 4600)
    agent.dispatch(agent._use_own(time.monotonic()))
    for _ in range(3):
        agent._observe(time.monotonic())
    assert agent.acc.total_rx == 0 and agent.acc.total_tx == 0
    agent._send_reports()                   # NoProvider: would fail the test if called
    assert len(agent.queue.items) == 1
    agent._stop_plane()
    assert agent.acc.total_rx == 0


def test_a_missing_own_file_leaves_no_tunnel_the_kill_switch_on_and_says_why(tmp_path):
    agent = make_agent(tmp_path, conf=None)
    agent.dispatch(agent._use_own(time.monotonic()))
    assert agent.sup.state == sv.NEEDS_ATTENTION and started(agent) == []
    problem = agent.sup.snapshot(time.monotonic())["own_problem"]
    assert "wg-household.conf: no WireGuard configuration has been imported" in problem
    assert "WireGuard page" in problem
    assert 'comment "vpnspot kill switch"' in agent.firewall.text
    assert (4, "unicast", "vpnspot0", rt_mod.METRIC_TUNNEL) not in agent.routing.routes
    assert (4, "unreachable", None, rt_mod.METRIC_UNREACHABLE) in agent.routing.routes


def test_a_damaged_own_file_without_a_good_copy_is_moved_aside_and_named(tmp_path):
    agent = make_agent(tmp_path, conf=OWN_CONF.replace("Endpoint = 203.0.113.10:51820",
                                                       "Endpoint = 203.0.113.10"))
    path = os.path.join(agent.state_dir, driver.OWN_CONFIG)
    os.unlink(path + ".last-good")
    agent.dispatch(agent._use_own(time.monotonic()))
    assert agent.sup.state == sv.NEEDS_ATTENTION and started(agent) == []
    problem = agent.sup.own_problem
    assert "wg-household.conf:10: Endpoint: missing :port" in problem and "moved aside" in problem
    assert not os.path.exists(path)
    assert [n for n in os.listdir(agent.state_dir) if ".corrupt-" in n]


def test_a_damaged_own_file_with_a_good_copy_is_replaced_by_it_and_used(tmp_path):
    agent = make_agent(tmp_path)
    path = os.path.join(agent.state_dir, driver.OWN_CONFIG)
    with open(path, "wb") as f:
        f.write(b"\x00\xff garbage from a failing flash chip")
    agent.dispatch(agent._use_own(time.monotonic()))
    assert agent.sup.state == sv.CONNECTING and len(started(agent)) == 1
    with open(path) as f:
        assert f.read() == OWN_CONF


def test_a_file_without_an_endpoint_cannot_be_used_and_says_what_to_add(tmp_path):
    agent = make_agent(tmp_path, conf=OWN_CONF.replace("Endpoint = 203.0.113.10:51820\n", ""))
    agent.dispatch(agent._use_own(time.monotonic()))
    assert agent.sup.state == sv.NEEDS_ATTENTION
    assert "no [Peer] has an Endpoint" in agent.sup.own_problem


def test_the_control_socket_switches_to_the_own_server_and_back_to_vpn_spot(tmp_path, monkeypatch):
    agent = make_agent(tmp_path, household="config vpnspot 'main'\n")
    provider = LabProvider()
    agent.client = provider
    agent.load_device = lambda: {"api_url": "https://api.vpnspot.test/v1", "device_token": "t",
                                 "ca_file": None, "resolve": {}}
    monkeypatch.setattr(driver.ServiceAgent, "_make_client", lambda self: None)
    monkeypatch.setattr(driver, "probe_handshakes",
                        lambda servers, *a, **k: {s["id"]: [4.0] for s in servers})
    agent.dispatch(agent.sup.killswitch_loaded(time.monotonic(), True))
    (vpnspot,) = started(agent)
    assert vpnspot.peers[0].public_key == bytes([9]) * 32
    assert provider.calls == ["servers", "register_key"]

    answer = agent.handle({"cmd": "server_source", "source": "own"})
    assert answer == {"ok": True, "source": "own", "state": sv.CONNECTING, "problem": None}
    own = started(agent)[-1]
    assert own.peers[0].public_key == bytes([2]) * 32
    assert agent.backend_log[-2] == ("stop", vpnspot)        # the VPN Spot tunnel went first
    assert agent.settings.server_source == "own"
    # Choosing a VPN Spot server now is refused, and changes nothing.
    answer = agent.handle({"cmd": "connect", "region": "europe"})
    assert not answer["ok"] and "your own server is in use" in answer["error"]
    assert started(agent)[-1] is own

    answer = agent.handle({"cmd": "server_source", "source": "vpnspot"})
    assert answer["ok"] and answer["state"] == sv.CONNECTING
    back = started(agent)[-1]
    assert back.peers[0].public_key == bytes([9]) * 32
    assert agent.backend_log[-2] == ("stop", own)
    assert provider.calls == ["servers", "register_key", "servers"]
    assert agent.sup.source == sv.SOURCE_VPNSPOT


def test_connect_on_the_own_server_reads_a_newly_imported_file(tmp_path):
    agent = make_agent(tmp_path)
    agent.dispatch(agent._use_own(time.monotonic()))
    FileStore(os.path.join(agent.state_dir, driver.OWN_CONFIG)).write(
        OWN_CONF.replace("203.0.113.10:51820", "203.0.113.20:51820").encode())
    answer = agent.handle({"cmd": "connect"})
    assert answer["ok"] and answer["server"] == "own"
    assert started(agent)[-1].peers[0].endpoint == ("203.0.113.20", 51820)
    assert agent.sup.snapshot(time.monotonic())["own_endpoint"] == "203.0.113.20:51820"


def test_a_server_source_the_provider_locked_is_refused_by_the_agent_too(tmp_path):
    agent = make_agent(tmp_path, household="config vpnspot 'main'\n",
                       provisioning=PROVISIONING)
    agent.dispatch(agent.sup.killswitch_loaded(time.monotonic(), False))
    answer = agent.handle({"cmd": "server_source", "source": "own"})
    assert answer == {"ok": False, "error": "server_source: locked by your provider Example ISP"}
    assert agent.sup.source == sv.SOURCE_VPNSPOT and started(agent) == []
    answer = agent.handle({"cmd": "server_source", "source": "elsewhere"})
    assert not answer["ok"] and "'vpnspot' or 'own'" in answer["error"]


def test_vpnspot_status_says_your_own_server_and_that_nothing_goes_to_vpn_spot(tmp_path, monkeypatch, capsys):
    import types
    from vpnspot_router import agent as agent_mod
    agent = make_agent(tmp_path)
    agent.dispatch(agent._use_own(time.monotonic()))
    agent._observe(time.monotonic())
    agent.write_status()

    class NoFirewall(object):
        def status(self):
            return {"kill_switch": True}
    monkeypatch.setattr(agent_mod.fw_mod, "Firewall", NoFirewall)
    run = str(tmp_path / "run")
    status = agent_mod.gather_status(run)
    assert status["state"] == "connected" and status["server_source"] == "own"
    assert status["own_endpoint"] == "203.0.113.10:51820"
    agent_mod.cmd_status(types.SimpleNamespace(run_dir=run, json=False))
    out = capsys.readouterr().out
    assert "server:       your own server (203.0.113.10:51820)" in out
    assert "service:      not used while your own server is in use" in out
    assert "none while your own server is in use" in out


class ScriptedBackend(RecordingBackend):
    """A backend whose handshake time the test sets (None: none yet)."""

    def __init__(self, log, handshake):
        RecordingBackend.__init__(self, log)
        self._handshake = handshake

    def start(self, conf):
        RecordingBackend.start(self, conf)
        self.handshake = self._handshake

    def status(self):
        return {"peers": [{"last_handshake": self.handshake, "rx_bytes": 5000, "tx_bytes": 7000}]}


def test_the_old_tunnels_last_status_never_marks_the_next_one_connected(tmp_path, monkeypatch):
    """Stopping a tunnel reads its counters one last time (for accounting).
    Were that read fed to the supervisor, which already waits for the next
    tunnel, a handshake the old tunnel made around the switch would count as
    the new one's and the household would see "connected" with no tunnel."""
    agent = make_agent(tmp_path, household="config vpnspot 'main'\n")
    agent.client = LabProvider()
    agent.load_device = lambda: {"api_url": "https://api.vpnspot.test/v1", "device_token": "t",
                                 "ca_file": None, "resolve": {}}
    monkeypatch.setattr(driver.ServiceAgent, "_make_client", lambda self: None)
    monkeypatch.setattr(driver, "probe_handshakes",
                        lambda servers, *a, **k: {s["id"]: [4.0] for s in servers})
    # The VPN Spot tunnel's handshake lands just after the switch decision;
    # the own server's tunnel has none yet.
    handshakes = iter([time.time() + 5.0, None])
    agent.backend_factory = lambda name: ScriptedBackend(agent.backend_log, next(handshakes))
    agent.dispatch(agent.sup.killswitch_loaded(time.monotonic(), True))
    assert len(started(agent)) == 1

    answer = agent.handle({"cmd": "server_source", "source": "own"})
    assert answer["ok"] and len(started(agent)) == 2
    assert agent.sup.state == sv.CONNECTING, agent.sup.state
    agent._observe(time.monotonic())        # the new tunnel itself: still no handshake
    assert agent.sup.state == sv.CONNECTING
    agent.plane.handshake = time.time()      # now it has one
    agent._observe(time.monotonic())
    assert agent.sup.state == sv.CONNECTED


# -- the provider's server list passes core/serverlist.py ----------------------

class ListProvider(LabProvider):
    """The provider answering with the given server entries."""

    def __init__(self, servers):
        super().__init__()
        self.entries = servers

    def servers(self):
        self.calls.append("servers")
        return list(self.entries)


def lab_server(sid, load, dns, endpoint="203.0.113.10:51820"):
    return Server(sid, "europe", "NL", "Amsterdam", "%s.vpnspot.test" % sid, endpoint, key(9),
                  load, False, dns)


def vpnspot_agent(tmp_path, monkeypatch, servers):
    agent = make_agent(tmp_path, household="config vpnspot 'main'\n")
    agent.client = ListProvider(servers)
    monkeypatch.setattr(driver.ServiceAgent, "_make_client", lambda self: None)
    monkeypatch.setattr(driver, "probe_handshakes",
                        lambda servers, *a, **k: {s["id"]: [4.0] for s in servers})
    return agent


def test_a_malformed_dns_value_in_the_list_no_longer_makes_the_agent_exit(tmp_path, monkeypatch,
                                                                         caplog):
    """The least loaded server (chosen first) has DNS '1.2.3', which the API
    schema's pattern lets through: the agent used to raise out of dispatch
    (wgconf.ConfigError) and exit, and procd respawned it into the same list.
    Now that entry is refused with one log line and the other is used."""
    agent = vpnspot_agent(tmp_path, monkeypatch, [lab_server("bad-dns", 0, ["1.2.3"]),
                                                  lab_server("ams-gw", 50, ["10.77.0.1"])])
    with caplog.at_level("WARNING", logger="vpnspot.agent"):
        agent.dispatch(agent.sup.killswitch_loaded(time.monotonic(), True))
    (conf,) = started(agent)
    assert conf.interface.dns == ["10.77.0.1"] and agent.sup.current["id"] == "ams-gw"
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert lines == ["server list: refused server bad-dns: dns: '1.2.3' is not an IPv4 address"]
    assert "dnat ip to 10.77.0.1:53" in agent.firewall.text


def test_a_list_of_only_unsafe_servers_leaves_no_tunnel_and_retries_later(tmp_path, monkeypatch,
                                                                         caplog):
    monkeypatch.setattr(driver, "router_interfaces",
                        lambda: [("br-lan", "192.168.77.1/24"), ("wan", "198.51.100.2/24")])
    bad = [lab_server("zero-dns", 0, ["0.0.0.0"]),
           lab_server("loopback", 0, ["10.77.0.1"], endpoint="127.0.0.1:51820"),
           lab_server("in-lan", 0, ["10.77.0.1"], endpoint="192.168.77.20:51820"),
           lab_server("lan-dns", 0, ["192.168.77.1"]),
           lab_server("port-0", 0, ["10.77.0.1"], endpoint="203.0.113.10:0"),
           lab_server("link-local", 0, ["10.77.0.1"], endpoint="169.254.7.7:51820")]
    agent = vpnspot_agent(tmp_path, monkeypatch, bad)
    with caplog.at_level("WARNING", logger="vpnspot.agent"):
        agent.dispatch(agent.sup.killswitch_loaded(time.monotonic(), True))
    assert started(agent) == [] and agent.sup.state == sv.BACKOFF
    assert agent.sup.api_problem.startswith("the provider listed no usable server (6 refused")
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert [l.split(":")[1] for l in lines] == [" refused server zero-dns", " refused server loopback",
                                                " refused server in-lan", " refused server lan-dns",
                                                " refused server port-0",
                                                " refused server link-local"]
    assert "inside the router's own network 192.168.77.0/24" in lines[2]
    assert "192.168.77.1 is inside the router's own network" in lines[3]
    # The kill switch holds: LAN traffic is dropped, not sent anywhere.
    assert 'counter drop comment "vpnspot kill switch"' in agent.firewall.text


def test_an_endpoint_name_that_resolves_into_the_router_is_not_probed(monkeypatch):
    answers = {"gw.vpnspot.test": "127.0.0.1", "lan.vpnspot.test": "192.168.77.5",
               "ok.vpnspot.test": "203.0.113.10"}
    monkeypatch.setattr(driver.socket, "getaddrinfo", lambda host, port, *a: [
        (driver.socket.AF_INET, driver.socket.SOCK_DGRAM, 17, "", (answers[host], port))])
    lan = [(4, 0xC0A84D00, 24)]
    for name, words in (("gw", "127.0.0.1 is a loopback address"),
                        ("lan", "192.168.77.5 is inside the router's own network 192.168.77.0/24")):
        try:
            driver._endpoint("%s.vpnspot.test:51820" % name, lan)
        except ValueError as e:
            assert str(e) == "endpoint %s.vpnspot.test:51820 resolves to %s" % (name, words)
        else:
            raise AssertionError("%s was accepted" % name)
    assert driver._endpoint("ok.vpnspot.test:51820", lan) == (driver.socket.AF_INET,
                                                             ("203.0.113.10", 51820))


def test_an_own_server_inside_the_lan_cannot_be_used_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(driver, "router_interfaces", lambda: [("br-lan", "192.168.77.1/24")])
    agent = make_agent(tmp_path, conf=OWN_CONF.replace("203.0.113.10:51820", "192.168.77.9:51820"))
    agent.dispatch(agent._use_own(time.monotonic()))
    assert agent.sup.state == sv.NEEDS_ATTENTION and started(agent) == []
    assert ("Endpoint: '192.168.77.9:51820': 192.168.77.9 is inside the router's own network "
            "192.168.77.0/24") in agent.sup.own_problem
    # A server on the network upstream of the router (private, not the LAN) is fine.
    FileStore(os.path.join(agent.state_dir, driver.OWN_CONFIG)).write(
        OWN_CONF.replace("203.0.113.10:51820", "192.168.1.5:51820").encode())
    agent.dispatch(agent._use_own(time.monotonic()))
    assert agent.sup.state == sv.CONNECTING and started(agent)[-1].peers[0].endpoint == (
        "192.168.1.5", 51820)


# -- dns_mode custom: the household's servers, through the tunnel ---------------

def test_dns_mode_custom_reaches_the_plan_as_the_households_servers_not_off(monkeypatch):
    """The UCI setting used to be mapped to "off" exactly like isp: every LAN
    name went to the ISP. Now the plan sends LAN DNS to the household's
    first server of each family, through the tunnel."""
    from vpnspot_router import agent as agent_mod
    from vpnspot_router.net import settings as st_mod
    monkeypatch.setattr(driver, "router_interfaces", lambda: [("br-lan", "192.168.77.1/24"),
                                                              ("wan", "198.51.100.2/24")])
    settings = core_config.load("config vpnspot 'main'\n\toption dns_mode 'custom'\n"
                                "\tlist dns_servers '203.0.113.130'\n\tlist dns_servers 'fd77:200::80'\n")
    net = agent_mod.service_net_settings(settings, ["br-lan"], "wan", "vpnspot0")
    assert net["dns"] == "custom" and net["dns_servers"] == "203.0.113.130 fd77:200::80"
    from vpnspot_router.core.wgconf import parse
    conf = parse(OWN_CONF, "a VPN Spot server's tunnel (DNS 10.77.0.1, fd77:77::1)")
    text = fw_mod.build_ruleset(st_mod.plan_from_config(net, conf))
    assert "dnat ip to 203.0.113.130:53" in text and "dnat ip6 to [fd77:200::80]:53" in text
    assert "dnat ip to 10.77.0.1:53" not in text
    # isp leaves LAN DNS alone; tunnel uses the server's resolver.
    isp = core_config.load("config vpnspot 'main'\n\toption dns_mode 'isp'\n")
    assert agent_mod.service_net_settings(isp, ["br-lan"], "wan", "vpnspot0")["dns"] == "off"


def test_a_household_dns_server_on_the_router_or_its_lan_is_refused_and_its_dns_dropped(
        monkeypatch, caplog):
    """DNAT'ed to the router itself, a query would be answered by the
    router's own resolver, which asks upstream over the WAN: such a server
    is left out with an error naming the option, and LAN DNS of its family
    is dropped rather than sent anywhere else."""
    from vpnspot_router import agent as agent_mod
    from vpnspot_router.core.wgconf import parse
    from vpnspot_router.net import settings as st_mod
    monkeypatch.setattr(driver, "router_interfaces", lambda: [("br-lan", "192.168.77.1/24"),
                                                              ("wan", "198.51.100.2/24")])
    settings = core_config.load("config vpnspot 'main'\n\toption dns_mode 'custom'\n"
                                "\tlist dns_servers '192.168.77.1'\n\tlist dns_servers '198.51.100.2'\n"
                                "\tlist dns_servers 'fd77:200::80'\n")
    with caplog.at_level("ERROR", logger="vpnspot.agent"):
        net = agent_mod.service_net_settings(settings, ["br-lan"], "wan", "vpnspot0")
    assert net["dns"] == "custom" and net["dns_servers"] == "fd77:200::80"
    lines = [r.getMessage() for r in caplog.records]
    assert [l.split(";")[0] for l in lines] == [
        "dns_servers: 192.168.77.1 is inside the router's own network 192.168.77.0/24",
        "dns_servers: 198.51.100.2 is the router's own address"]
    text = fw_mod.build_ruleset(st_mod.plan_from_config(net, parse(OWN_CONF, "t.conf")))
    assert "dnat ip to" not in text and "dnat ip6 to [fd77:200::80]:53" in text
    assert ('iifname "br-lan" meta nfproto ipv4 meta l4proto { tcp, udp } th dport 53 counter drop '
            'comment "vpnspot dns without tunnel resolver"') in text
