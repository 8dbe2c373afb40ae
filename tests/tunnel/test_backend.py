"""Both data planes behind one TunnelBackend interface, and the choice between them.

Kernel WireGuard runs over FakeKernelNetlink, the userspace plane over the
fake core, TUN and UDP of tests/tunnel/fakecore.py, and the module probe
is a function the test writes: nothing here needs root or a WireGuard
module. The same choice on a kernel that has the module is in
tests/vm/test_kernel_wireguard.py.
"""

import base64
import json
import os
import time
import types

import pytest

from vpnspot_router import driver
from vpnspot_router.core import config as core_config
from vpnspot_router.core import offload
from vpnspot_router.core.wgconf import parse
from vpnspot_router.tunnel import backend as be
from vpnspot_router.tunnel.bind import FakeBind
from vpnspot_router.tunnel.dataplane import DataPlane
from vpnspot_router.tunnel.kernel import Availability
from vpnspot_router.tunnel.kernel_fake import FakeKernelNetlink
from vpnspot_router.tunnel.tun import FakeTun

from .fakecore import FakeDevice

PRIV = base64.b64encode(bytes(range(1, 33))).decode()
GW = bytes([0xA0] * 32)
OTHER = bytes([0xB0] * 32)


def wg_conf(keepalive=25, other=False, address="10.77.0.2/32"):
    lines = ["[Interface]", "PrivateKey = " + PRIV, "Address = " + address, "",
             "[Peer]", "PublicKey = " + base64.b64encode(GW).decode(),
             "Endpoint = 203.0.113.10:51820", "AllowedIPs = 0.0.0.0/0",
             "PersistentKeepalive = %d" % keepalive]
    if other:
        lines += ["", "[Peer]", "PublicKey = " + base64.b64encode(OTHER).decode(),
                  "AllowedIPs = 10.77.0.3/32"]
    return parse("\n".join(lines) + "\n", "test.conf")


def probe(ok, reason=None):
    calls = []

    def module_probe():
        calls.append(1)
        return Availability(ok, reason or ("the wireguard kernel module is loaded" if ok
                                           else "modprobe: FATAL: Module wireguard not found"))
    module_probe.calls = calls
    return module_probe


# ------------------------------------------------------------ kernel backend

def kernel_backend(tmp_path, nl=None):
    nl = nl or FakeKernelNetlink()
    return nl, be.KernelBackend("vpnspot0", fwmark=0x5650, status_path=str(tmp_path / "tunnel.json"),
                                netlink=nl)


def test_the_kernel_backend_starts_the_device_with_the_fwmark_address_and_mtu_of_the_config(tmp_path):
    nl, b = kernel_backend(tmp_path)
    conf = wg_conf()
    conf.interface.mtu = 1380
    b.start(conf)
    assert len(nl.wg_messages) == 1
    assert nl.devices["vpnspot0"].fwmark == 0x5650
    assert nl.links["vpnspot0"]["mtu"] == 1380 and nl.links["vpnspot0"]["up"]
    assert nl.links["vpnspot0"]["addresses"] == {"10.77.0.2/32"}
    # 0.0.0.0/0 belongs to the policy routing, as for the userspace plane.
    assert nl.links["vpnspot0"]["routes"] == set()
    with open(str(tmp_path / "tunnel.json")) as f:
        written = json.load(f)
    assert written["backend"] == "kernel" and written["running"] is True


def test_the_kernel_backend_reports_handshake_age_and_counters_in_the_shared_shape(tmp_path):
    nl, b = kernel_backend(tmp_path)
    b.clock = lambda: 1000.0
    b.start(wg_conf())
    nl.simulate_traffic("vpnspot0", GW, 990.0, rx=1500, tx=900)
    peer = b.status()["peers"][0]
    assert peer["public_key"] == base64.b64encode(GW).decode()
    assert peer["endpoint"] == "203.0.113.10:51820"
    assert (peer["last_handshake"], peer["handshake_age"]) == (990.0, 10.0)
    assert (peer["rx_bytes"], peer["tx_bytes"]) == (1500, 900)


def test_reconfiguring_the_kernel_backend_sends_only_the_difference(tmp_path):
    nl, b = kernel_backend(tmp_path)
    b.start(wg_conf(other=True))
    nl.simulate_traffic("vpnspot0", GW, time.time(), rx=100, tx=100)
    assert b.reconfigure(wg_conf(other=True)).empty
    assert len(nl.wg_messages) == 1
    change = b.reconfigure(wg_conf(keepalive=10, other=True))
    assert change.describe() == ["update peer %s (persistent_keepalive)"
                                 % base64.b64encode(GW).decode()[:8]]
    assert len(nl.wg_messages) == 2
    kept = [p for p in b.status()["peers"] if p["public_key"] == base64.b64encode(GW).decode()][0]
    assert kept["rx_bytes"] == 100 and kept["last_handshake"]


def test_stopping_the_kernel_backend_removes_the_interface_and_marks_the_status_stopped(tmp_path):
    nl, b = kernel_backend(tmp_path)
    b.start(wg_conf())
    b.stop()
    b.stop()
    assert "vpnspot0" not in nl.links
    with open(str(tmp_path / "tunnel.json")) as f:
        assert json.load(f)["running"] is False
    assert b.status() == {"backend": "kernel", "ifname": "vpnspot0", "running": False, "peers": []}


def test_a_kernel_without_wireguard_fails_the_start_and_leaves_nothing_behind(tmp_path):
    nl, b = kernel_backend(tmp_path, FakeKernelNetlink(wireguard_supported=False))
    with pytest.raises(Exception) as e:
        b.start(wg_conf())
    assert "kmod-wireguard" in str(e.value)
    assert nl.links == {} and b.tunnel is None


# --------------------------------------------------------- userspace backend

class FakeOpener(object):
    """open_tunnel's signature over the fake core, TUN and UDP."""

    def __init__(self):
        self.planes = []

    def __call__(self, conf, ifname, provider, status_path=None, status_interval=5.0, timing=None):
        dev = FakeDevice(("203.0.113.10", 51820))
        plane = DataPlane(dev, FakeTun(ifname), FakeBind(), status_path=status_path,
                          status_interval=status_interval, ifname=ifname)
        self.planes.append(plane)
        return plane


def userspace_backend(tmp_path):
    opener = FakeOpener()
    b = be.UserspaceBackend("vpnspot0", provider=None, fwmark=0x5650,
                            status_path=str(tmp_path / "tunnel.json"), opener=opener)
    return opener, b


def test_the_userspace_backend_runs_its_data_plane_in_a_thread_and_stops_it(tmp_path):
    opener, b = userspace_backend(tmp_path)
    b.start(wg_conf())
    try:
        assert b.thread.is_alive()
        status = b.status()
        assert status["backend"] == "userspace" and status["ifname"] == "vpnspot0"
        assert status["peers"][0]["handshake_age"] is None
    finally:
        b.stop()
    assert b.plane is None and not opener.planes[0].running


def test_the_userspace_backend_reports_handshake_age_and_counters_in_the_shared_shape(tmp_path):
    opener, b = userspace_backend(tmp_path)
    b.clock = lambda: 2000.0
    b.start(wg_conf())
    try:
        plane = opener.planes[0]
        peer = plane.dev.peer
        peer.last_handshake = 1990.0 - plane.dev.wall_offset
        peer.rx_bytes, peer.tx_bytes = 300, 200
        p = b.status()["peers"][0]
        assert p["handshake_age"] == pytest.approx(10.0, abs=0.2)
        assert (p["rx_bytes"], p["tx_bytes"]) == (300, 200)
    finally:
        b.stop()


def test_reconfiguring_the_userspace_backend_restarts_it_only_when_something_differs(tmp_path):
    opener, b = userspace_backend(tmp_path)
    b.start(wg_conf())
    try:
        assert b.reconfigure(wg_conf()).empty
        assert len(opener.planes) == 1
        change = b.reconfigure(wg_conf(keepalive=10))
        assert change.describe() == ["update peer %s (persistent_keepalive)"
                                     % base64.b64encode(GW).decode()[:8]]
        assert len(opener.planes) == 2 and not opener.planes[0].running
        assert "set addresses" in b.reconfigure(wg_conf(keepalive=10, address="10.77.0.9/32")).describe()
    finally:
        b.stop()


# ------------------------------------------------------------------ choice

def test_kernel_wireguard_is_chosen_when_the_decision_says_kernel_and_the_module_is_there():
    choice = be.select({"data_plane": "kernel", "reason": "kernel WireGuard module present; "
                        "using kernel WireGuard"}, probe(True))
    assert choice.backend == "kernel"
    assert choice.reason == "kernel WireGuard module present; using kernel WireGuard"


def test_the_userspace_plane_takes_over_when_the_module_probe_says_no_and_says_why():
    choice = be.select({"data_plane": "kernel", "reason": "module present"}, probe(False))
    assert choice.backend == "userspace"
    assert "Module wireguard not found" in choice.reason and "userspace" in choice.reason


def test_a_userspace_decision_is_kept_without_probing_the_module():
    p = probe(True)
    choice = be.select({"data_plane": "userspace", "reason": "overridden in configuration"}, p)
    assert choice.backend == "userspace" and choice.reason == "overridden in configuration"
    assert p.calls == []


def test_without_a_decision_the_module_probe_alone_decides():
    assert be.select(None, probe(True)).backend == "kernel"
    choice = be.select({"data_plane": None, "reason": "not decided: no /proc"}, probe(False))
    assert choice.backend == "userspace" and "not decided: no /proc" in choice.reason


def test_the_configuration_s_crypto_override_reaches_the_backend_choice():
    settings = core_config.load("config vpnspot 'main'\n\toption crypto 'userspace'\n")
    assert settings.crypto == "userspace"
    profile = types.SimpleNamespace(wireguard_module_present=True, engines=(), cpu_impls={},
                                    simd=None)
    measured = {"openssl": {64: 1e5, 512: 1e5, 1420: 1e5}}
    auto = offload.decide(profile, None, measured, "auto")
    forced = offload.decide(profile, None, measured, settings.crypto)
    assert be.select({"data_plane": auto.data_plane, "reason": auto.reason}, probe(True)).backend == "kernel"
    choice = be.select({"data_plane": forced.data_plane, "reason": forced.reason}, probe(True))
    assert choice.backend == "userspace" and choice.reason.startswith("overridden in configuration")


def test_a_crypto_setting_that_names_no_choice_is_refused_with_the_choices():
    with pytest.raises(core_config.ConfigError) as e:
        core_config.load("config vpnspot 'main'\n\toption crypto 'fastest'\n")
    assert "auto, kernel, userspace" in str(e.value)


def test_the_status_line_names_the_data_plane_and_the_reason():
    assert be.describe({"backend": "kernel", "reason": "module present"}) == \
        "kernel WireGuard \u2014 module present"
    assert be.describe({"backend": "userspace", "reason": ""}) == "userspace WireGuard"


# ------------------------------------------------- the supervisor's driver

def service_agent(tmp_path, choice, factory):
    return driver.ServiceAgent(core_config.Settings(), {"lan": "br-lan", "wan": "wan",
                                                        "tunnel": "vpnspot0"},
                               str(tmp_path / "state"), str(tmp_path / "run"), provider=None,
                               firewall=object(), routing=object(), data_plane=choice,
                               backend_factory=factory)


def test_the_driver_starts_the_chosen_backend_and_its_status_file_says_which(tmp_path):
    nl = FakeKernelNetlink()
    agent = service_agent(tmp_path, be.Choice("kernel", "module present"),
                          lambda name: be.KernelBackend("vpnspot0", netlink=nl))
    plane = agent._start_backend(wg_conf())
    assert plane.name == "kernel" and "vpnspot0" in nl.links
    agent.plane = plane
    agent.write_status()
    with open(str(tmp_path / "run" / "agent.json")) as f:
        written = json.load(f)
    assert written["data_plane"] == {"backend": "kernel", "reason": "module present", "running": True}
    agent._stop_plane()
    assert "vpnspot0" not in nl.links


def test_the_driver_falls_back_to_userspace_when_kernel_wireguard_refuses_to_start(tmp_path):
    opener = FakeOpener()
    made = []

    def factory(name):
        made.append(name)
        if name == "kernel":
            return be.KernelBackend("vpnspot0", netlink=FakeKernelNetlink(wireguard_supported=False))
        return be.UserspaceBackend("vpnspot0", None, opener=opener)
    agent = service_agent(tmp_path, be.Choice("kernel", "module present"), factory)
    plane = agent._start_backend(wg_conf())
    try:
        assert made == ["kernel", "userspace"] and plane.name == "userspace"
        assert agent.data_plane.backend == "userspace"
        assert agent.data_plane.reason.startswith("kernel WireGuard failed to start (")
    finally:
        plane.stop()


def test_vpnspot_status_prints_the_data_plane_in_use(tmp_path, monkeypatch, capsys):
    from vpnspot_router import agent as agent_mod
    run = tmp_path / "run"
    run.mkdir()
    (run / "agent.json").write_text(json.dumps({
        "pid": os.getpid(), "state": "running", "plan": {}, "events": [],
        "tunnel_status": str(run / "tunnel.json"),
        "data_plane": {"backend": "kernel", "reason": "kernel WireGuard module present; using "
                       "kernel WireGuard", "running": True}}))

    class NoFirewall(object):
        def status(self):
            return {"kill_switch": True}
    monkeypatch.setattr(agent_mod.fw_mod, "Firewall", NoFirewall)
    agent_mod.cmd_status(types.SimpleNamespace(run_dir=str(run), json=False))
    out = capsys.readouterr().out
    assert "data plane:   kernel WireGuard \u2014 kernel WireGuard module present; using kernel " \
           "WireGuard" in out


def configured_agent(tmp_path, backend_factory):
    """A driver whose supervisor told it to configure a tunnel to ams-gw;
    (agent, probers made: [(device, FakeProber)])."""
    from vpnspot_router.core import supervisor as sv
    from vpnspot_router.net.firewall import FakeFirewall
    from vpnspot_router.net.routing import FakeRouting
    from vpnspot_router.net.tunnelprobe import FakeProber
    probers = []

    def prober_factory(device):
        probers.append((device, FakeProber()))
        return probers[-1][1]
    net = {"kill_switch": "on", "dns": "tunnel", "ipv6": "auto", "mtu": "auto", "lan": "br-lan",
           "wan": "wan", "tunnel": "vpnspot0"}
    agent = driver.ServiceAgent(core_config.Settings(), net, str(tmp_path / "state"),
                                str(tmp_path / "run"), provider=None, firewall=FakeFirewall(),
                                routing=FakeRouting(), data_plane=be.Choice("kernel", "test"),
                                backend_factory=backend_factory, prober_factory=prober_factory)
    agent.private_key = bytes(range(1, 33))
    server = {"id": "ams-gw", "endpoint": "203.0.113.10:51820", "dns": ["fd77:77::1", "10.77.0.1"],
              "public_key": base64.b64encode(GW).decode()}
    agent._configure(sv.ConfigureTunnel(server, {"ipv4": "10.77.0.2/32", "ipv6": None}, "test"))
    return agent, probers


def test_a_kernel_tunnel_gets_its_first_handshake_from_one_echo_sent_through_it(tmp_path):
    # Kernel WireGuard shakes hands only for a packet to send; the supervisor
    # waits for that handshake before it calls the tunnel connected.
    nl = FakeKernelNetlink()
    agent, probers = configured_agent(tmp_path, lambda name: be.KernelBackend("vpnspot0", netlink=nl))
    try:
        assert agent.plane.name == "kernel"
        assert [(dev, p.sent, p.closed) for dev, p in probers] == [("vpnspot0", [(0, "10.77.0.1")], True)]
        assert agent.prober is None         # the liveness probes' own socket is not this one
    finally:
        agent._stop_plane()


def test_a_userspace_tunnel_needs_no_such_echo(tmp_path):
    opener = FakeOpener()
    agent, probers = configured_agent(
        tmp_path, lambda name: be.UserspaceBackend("vpnspot0", None, opener=opener))
    try:
        assert agent.plane.name == "userspace" and probers == []
    finally:
        agent._stop_plane()
