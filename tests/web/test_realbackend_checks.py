"""The real backend's latency, DNS-through-the-tunnel and MTU checks: the
agent's "diagnose" control request, the backend over a real control socket
answered by a fake agent, checks.py's probes on loopback, and the MTU check
through a real tunnel in the household lab whose path beyond the gateway is
narrower than the tunnel (marker interop)."""

import json
import os
import socket
import struct
import sys
import threading

import pytest

from vpnspot_router import configstore, driver
from vpnspot_router.core import config as core_config
from vpnspot_router.lab import topology as T
from vpnspot_router.web import checks
from vpnspot_router.web.realbackend import RealBackend


# ----------------------------------------------------------- the agent side

class FakePlan:
    mtu = 1420


def test_the_agent_answers_diagnose_with_latencies_resolver_mtu_and_probe_age(tmp_path):
    agent = driver.ServiceAgent(core_config.Settings(), {"lan": "br-lan", "wan": "wan",
                                                         "tunnel": "vpnspot0"},
                                str(tmp_path / "state"), str(tmp_path / "run"), provider=None,
                                firewall=object(), routing=object(),
                                data_plane=object(), backend_factory=lambda name: None)
    assert agent.handle({"cmd": "diagnose"}) == {
        "ok": True, "server": None, "tunnel_up": False, "tunnel": None, "dns": [], "mtu": None,
        "latencies": {}, "probed_ago": None}
    agent.sup.latencies = {"ams-gw": [None, 12.4], "ams-gw2": [None]}
    agent.sup.history = [(100.0, "choosing", "probed", "connecting", "ams-gw")]
    agent.sup.current = {"id": "ams-gw", "dns": ["10.77.0.1", "fd77:77::1"]}
    agent.plane, agent.plan = object(), FakePlan()
    answer = agent.diagnose(130.0)
    assert answer == {"server": "ams-gw", "tunnel_up": True, "tunnel": "vpnspot0",
                      "dns": ["10.77.0.1", "fd77:77::1"], "mtu": 1420,
                      "latencies": {"ams-gw": 12.4, "ams-gw2": None}, "probed_ago": 30.0}


# ------------------------------------------------ the backend, fake agent

class FakeAgent:
    """A real control socket in a temporary run directory, answering
    "diagnose" with a fixed answer, and the agent.json of a live agent."""

    def __init__(self, run_dir, answer):
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "agent.json"), "w") as f:
            json.dump({"pid": os.getpid(), "mode": "service", "state": "running"}, f)
        self.server = driver.ControlServer(run_dir)
        self.asked = []
        self.thread = threading.Thread(target=self._answer, args=(answer,), daemon=True)
        self.thread.start()

    def _answer(self, answer):
        while True:
            request, slot, done = self.server.requests.get()
            if request is None:
                return
            self.asked.append(request["cmd"])
            slot["answer"] = dict(answer, ok=True) if request["cmd"] == "diagnose" else \
                {"ok": False, "error": "unknown request"}
            done.set()

    def close(self):
        self.server.requests.put((None, None, None))
        self.server.close()


class FakeServer:
    def __init__(self, sid):
        self.id, self.region, self.city, self.country, self.load = sid, "europe", "Amsterdam", \
            "NL", 10


def backend_with(tmp_path, monkeypatch, answer):
    run = str(tmp_path / "run")
    state = str(tmp_path / "state")
    conf = tmp_path / "config" / "vpnspot"
    conf.parent.mkdir()
    conf.write_text("config vpnspot 'main'\n")
    agent = FakeAgent(run, answer) if answer is not None else None
    backend = RealBackend(paths=configstore.Paths(str(conf), (str(tmp_path / "prov"),)),
                          state_dir=state, run_dir=run)
    device = {"api_url": "https://api.vpnspot.test:8443", "device_token": "t", "ca_file": None}
    monkeypatch.setattr(backend, "_device", lambda: device)

    class Client:
        def servers(self):
            return [FakeServer("ams-gw"), FakeServer("ams-gw2"), FakeServer("fra-gw")]
    monkeypatch.setattr(backend, "_client", lambda token=None, device=None: Client())
    return backend, agent


def test_the_servers_page_shows_the_agent_s_measured_latency_and_when(tmp_path, monkeypatch):
    backend, agent = backend_with(tmp_path, monkeypatch, {
        "server": "ams-gw", "tunnel_up": True, "tunnel": "vpnspot0", "dns": [], "mtu": 1420,
        "latencies": {"ams-gw": 12.4, "ams-gw2": None}, "probed_ago": 300.0})
    try:
        data = backend.servers()
    finally:
        agent.close()
    assert [s["latency_ms"] for s in data["servers"]] == [12, None, None]
    assert "timed by this router when it last chose a server, 5 min ago" in data["note"]
    assert agent.asked == ["diagnose"]


def test_without_a_running_agent_latency_and_the_tunnel_checks_say_why(tmp_path, monkeypatch):
    backend, _ = backend_with(tmp_path, monkeypatch, None)
    data = backend.servers()
    assert [s["latency_ms"] for s in data["servers"]] == [None, None, None]
    assert "not available yet" in data["note"] and "not running" in data["note"]
    by_name = {c["name"]: c for c in backend.diagnostics()["checks"]}
    assert by_name["DNS through the tunnel"] == {
        "name": "DNS through the tunnel", "ok": None,
        "detail": "not checked: the VPN Spot agent is not running"}
    assert by_name["MTU"]["ok"] is None and "agent is not running" in by_name["MTU"]["detail"]


def test_the_tunnel_checks_ask_the_server_s_resolver_for_the_api_name_out_of_the_tunnel(
        tmp_path, monkeypatch):
    backend, agent = backend_with(tmp_path, monkeypatch, {
        "server": "ams-gw", "tunnel_up": True, "tunnel": "vpnspot0",
        "dns": ["fd77:77::1", "10.77.0.1"], "mtu": 1420, "latencies": {}, "probed_ago": None})
    calls = []
    monkeypatch.setattr(checks, "dns_check", lambda *a: calls.append(("dns",) + a) or
                        {"ok": True, "detail": "answered"})
    monkeypatch.setattr(checks, "mtu_check", lambda *a: calls.append(("mtu",) + a) or
                        {"ok": True, "detail": "fits"})
    try:
        by_name = {c["name"]: c for c in backend.diagnostics()["checks"]}
    finally:
        agent.close()
    assert calls == [("dns", "10.77.0.1", "api.vpnspot.test", "vpnspot0"),
                     ("mtu", "10.77.0.1", 1420, "vpnspot0")]
    assert by_name["DNS through the tunnel"]["ok"] is True
    assert by_name["MTU"] == {"name": "MTU", "ok": True, "detail": "automatic, fits"}


def test_with_the_tunnel_down_the_checks_are_not_run_and_say_so(tmp_path, monkeypatch):
    backend, agent = backend_with(tmp_path, monkeypatch, {
        "server": None, "tunnel_up": False, "tunnel": None, "dns": [], "mtu": None,
        "latencies": {}, "probed_ago": None})
    try:
        by_name = {c["name"]: c for c in backend.diagnostics()["checks"]}
    finally:
        agent.close()
    assert by_name["DNS through the tunnel"]["detail"] == "not checked: the tunnel is not up"


# ------------------------------------------------------- probes on loopback

def fake_resolver(rcode, answers):
    """A UDP 'resolver' on 127.0.0.1 that answers one query with rcode."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    seen = []

    def serve():
        data, addr = s.recvfrom(512)
        seen.append(data)
        qid = struct.unpack_from("!H", data)[0]
        s.sendto(struct.pack("!HHHHHH", 0x1234 ^ qid or 1, 0x8180, 1, 0, 0, 0), addr)   # not ours
        s.sendto(struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, answers, 0, 0) + data[12:], addr)
        s.close()
    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1], seen


def test_the_dns_check_passes_on_an_answer_and_says_which_resolver_answered():
    port, seen = fake_resolver(0, 2)
    result = checks.dns_check("127.0.0.1", "api.vpnspot.test", "lo", port=port)
    assert result == {"ok": True, "detail": "127.0.0.1 answered api.vpnspot.test through the "
                                            "tunnel (2 addresses)"}
    assert b"\x03api\x07vpnspot\x04test\x00" in seen[0]


def test_a_resolver_that_refuses_fails_the_dns_check_with_the_reason():
    port, _ = fake_resolver(5, 0)
    result = checks.dns_check("127.0.0.1", "api.vpnspot.test", "lo", port=port)
    assert result["ok"] is False and result["detail"].endswith("(refused)")


def test_a_silent_resolver_fails_the_dns_check_after_its_timeout(monkeypatch):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    monkeypatch.setattr(checks, "DNS_TIMEOUT", 0.3)
    try:
        result = checks.dns_query("127.0.0.1", "x.test", "lo", timeout=0.3, port=s.getsockname()[1])
    except socket.timeout:
        result = "timeout"
    finally:
        s.close()
    assert result == "timeout"


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")


@needs_root
def test_a_full_size_packet_that_fits_passes_the_mtu_check():
    result = checks.mtu_check("127.0.0.1", 1420, "lo")
    assert result["ok"] is True and result["detail"].startswith("1420: a full-size packet")


MTU_CHECK = """
import json, sys
from vpnspot_router.web import checks
print(json.dumps(checks.mtu_check(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
"""


@pytest.mark.interop
def test_a_hop_beyond_the_gateway_narrower_than_the_tunnel_fails_the_mtu_check_and_is_named(lab):
    """The household lab with the tunnel up (MTU 1420, from the 1500-byte
    WAN); the gateway's onward link to the site is narrowed to 1400. The
    check, run on the router out of the tunnel interface to the site,
    sends 1420 bytes with Don't Fragment: the gateway cannot forward them
    and answers "fragmentation needed, MTU 1400" back through the tunnel."""
    house = T.Household(lab)
    house.start_agent()

    def check(mtu):
        proc = lab.run("router", sys.executable, "-c", MTU_CHECK, T.SITE, str(mtu),
                       T.TUNNEL_IFNAME)
        return json.loads(proc.stdout)
    assert check(1420)["ok"] is True          # the whole path carries it before the change
    for role, ifname in (("gw", "site0"), ("site", "eth0")):
        lab.run(role, "ip", "link", "set", ifname, "mtu", "1400")
    narrow = check(1420)
    print("\n[mtu check, a 1400-byte hop beyond the gateway] %s" % narrow["detail"])
    assert narrow["ok"] is False, narrow
    assert narrow["detail"] == ("1420 is too large: small packets cross the tunnel to %s but "
                                "full-size ones do not (a hop allows 1400); set a lower MTU in "
                                "Settings" % T.SITE)
    fits = check(1400)
    assert fits == {"ok": True, "detail": "1400: a full-size packet crossed the tunnel to %s and "
                                          "back without fragmenting" % T.SITE}
    # Larger than the tunnel interface itself: refused on the router, before
    # anything is sent (no hop to name).
    local = check(1480)
    assert local["ok"] is False and "1480 is too large" in local["detail"]
    assert "a hop allows" not in local["detail"]
