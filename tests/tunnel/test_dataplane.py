"""The userspace data plane's driver loop, first over fakes (no root), then
over a real TUN and real UDP inside namespaces the tests create."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from vpnspot_router.core.wireguard import actions as A
from vpnspot_router.tunnel.bind import FakeBind, UdpBind, normalise
from vpnspot_router.tunnel.dataplane import (BATCH, ENDPOINT_MOVED, RESOLVE_AFTER_ATTEMPTS,
                                             RESOLVE_RETRY, STATUS_DEFER_MAX, STATUS_QUIET, DataPlane,
                                             warm_up)
from vpnspot_router.tunnel.tun import FakeTun

from .fakecore import PEER_KEY, FakeDevice

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER_ADDR = ("203.0.113.10", 51820)


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def make_plane(endpoint=PEER_ADDR, clock=None, **kwargs):
    dev = FakeDevice(endpoint)
    tun, udp = FakeTun(), FakeBind()
    plane = DataPlane(dev, tun, udp, clock=clock or Clock(), **kwargs)
    return plane, dev, tun, udp


def ipv4_packet(src="10.77.0.2", dst="10.77.0.1", payload=b"hello"):
    header = bytearray(20)
    header[0] = 0x45
    header[2:4] = (20 + len(payload)).to_bytes(2, "big")
    header[8] = 64
    header[9] = 17
    header[12:16] = socket.inet_aton(src)
    header[16:20] = socket.inet_aton(dst)
    return bytes(header) + payload


# ------------------------------------------------------------- over fakes

def test_a_packet_read_from_tun_goes_out_as_the_datagram_the_core_asked_for():
    plane, dev, tun, udp = make_plane()
    pkt = ipv4_packet()
    tun.inject(pkt)
    plane.step(max_wait=0)
    assert udp.sent == [(b"E" + pkt, PEER_ADDR)]
    c = plane.counters
    assert (c.tun_rx_packets, c.tun_rx_bytes) == (1, len(pkt))
    assert (c.tx_packets, c.tx_bytes) == (1, len(pkt) + 1)


def test_a_datagram_the_core_decrypts_is_written_to_tun():
    plane, dev, tun, udp = make_plane()
    pkt = ipv4_packet()
    udp.inject(b"E" + pkt, PEER_ADDR)
    plane.step(max_wait=0)
    assert tun.written == [pkt]
    assert dev.received[0][1] == PEER_ADDR
    c = plane.counters
    assert (c.rx_packets, c.rx_bytes, c.tun_tx_packets, c.tun_tx_bytes) == (1, len(pkt) + 1, 1, len(pkt))


def test_drops_are_counted_per_reason_name():
    plane, dev, tun, udp = make_plane(endpoint=None)
    udp.inject(b"D1", PEER_ADDR)
    udp.inject(b"D2", PEER_ADDR)
    udp.inject(b"?", PEER_ADDR)
    tun.inject(ipv4_packet())
    plane.step(max_wait=0)
    plane.step(max_wait=0)
    assert plane.counters.drops == {"decrypt-failed": 2, "unknown-type": 1, "no-endpoint": 1}


def test_a_core_exception_is_counted_and_the_loop_keeps_delivering():
    plane, dev, tun, udp = make_plane()
    udp.inject(b"X", PEER_ADDR)
    udp.inject(b"Eafter", PEER_ADDR)
    plane.step(max_wait=0)
    assert plane.counters.core_errors == 1
    assert tun.written == [b"after"]


def test_a_refused_send_is_counted_not_raised():
    plane, dev, tun, udp = make_plane()
    udp.fail_sends = True
    tun.inject(ipv4_packet())
    plane.step(max_wait=0)
    assert (plane.counters.send_errors, plane.counters.tx_packets) == (1, 0)


def test_one_wakeup_drains_a_batch_and_the_rest_follows_on_the_next():
    plane, dev, tun, udp = make_plane()
    for i in range(BATCH + 10):
        udp.inject(b"E%d" % i, PEER_ADDR)
    plane.step(max_wait=0)
    assert len(tun.written) == BATCH
    plane.step(max_wait=0)
    assert len(tun.written) == BATCH + 10


def test_tick_runs_every_quarter_second_and_at_the_cores_deadline():
    clock = Clock(100.0)
    plane, dev, tun, udp = make_plane(clock=clock)
    plane.step(max_wait=0)
    assert dev.ticks == [100.0]
    clock.now = 100.1
    plane.step(max_wait=0)
    assert dev.ticks == [100.0]
    clock.now = 100.26
    plane.step(max_wait=0)
    assert dev.ticks == [100.0, 100.26]
    dev.deadline = 100.3
    clock.now = 100.31
    plane.step(max_wait=0)
    assert dev.ticks[-1] == 100.31


def test_the_loop_sleeps_no_longer_than_the_cores_next_deadline():
    plane, dev, tun, udp = make_plane(clock=time.monotonic)
    plane.step(max_wait=0)              # first tick
    dev.deadline = time.monotonic() + 0.05
    start = time.monotonic()
    plane.step(max_wait=5)
    # Woken for the deadline (0.05 s), not at max_wait (5 s); the margin is
    # for a loaded machine, not a speed claim.
    assert time.monotonic() - start < 1.0
    assert len(dev.ticks) == 2


def test_wall_offset_is_set_from_the_two_clocks():
    plane, dev, tun, udp = make_plane()
    assert abs(dev.wall_offset - (time.time() - time.monotonic())) < 1.0


def test_handshake_give_up_re_resolves_a_hostname_endpoint():
    answers = [("198.51.100.20", 51820)]
    asked = []

    def resolver(host, port, want_v6):
        asked.append((host, port))
        return answers[0]

    plane, dev, tun, udp = make_plane(endpoint_names={PEER_KEY: ("gw.vpn.example", 51820)},
                                      resolver=resolver)
    udp.inject(b"G", PEER_ADDR)
    plane.step(max_wait=0)
    assert asked == [("gw.vpn.example", 51820)]
    assert dev.peer.endpoint == ("198.51.100.20", 51820)
    assert plane.counters.events == {A.HANDSHAKE_GAVE_UP: 1, ENDPOINT_MOVED: 1}


def test_a_hostname_endpoint_is_re_resolved_after_a_few_unanswered_handshakes_not_only_at_give_up():
    moved = ("198.51.100.30", 51820)
    asked = []

    def resolver(host, port, want_v6):
        asked.append(host)
        return moved

    plane, dev, tun, udp = make_plane(endpoint_names={PEER_KEY: ("gw.vpn.example", 51820)},
                                      resolver=resolver)
    initiated = A.PeerEvent(A.HANDSHAKE_INITIATED, dev.peer)
    # One initiation that is answered: no lookup, and the count starts over.
    plane.dispatch([initiated, A.PeerEvent(A.HANDSHAKE_COMPLETE, dev.peer)])
    for _ in range(RESOLVE_AFTER_ATTEMPTS - 1):
        plane.dispatch([initiated])
    assert asked == [] and dev.peer.endpoint == PEER_ADDR
    plane.dispatch([initiated])
    assert asked == ["gw.vpn.example"]
    assert dev.peer.endpoint == moved
    assert plane.counters.events[ENDPOINT_MOVED] == 1
    # Unanswered at the new address too: asked again after as many more.
    for _ in range(RESOLVE_AFTER_ATTEMPTS):
        plane.dispatch([initiated])
    assert asked == ["gw.vpn.example"] * 2
    assert plane.counters.events[ENDPOINT_MOVED] == 1      # same answer: nothing moved


def test_a_peer_configured_by_address_is_never_looked_up():
    plane, dev, tun, udp = make_plane(resolver=lambda *a: pytest.fail("looked up"))
    plane.dispatch([A.PeerEvent(A.HANDSHAKE_INITIATED, dev.peer)] * (RESOLVE_AFTER_ATTEMPTS * 2))
    assert dev.peer.endpoint == PEER_ADDR


def test_an_unresolved_hostname_endpoint_is_retried_later():
    clock = Clock(100.0)
    results = [None, ("198.51.100.21", 51820)]

    def resolver(host, port, want_v6):
        return results.pop(0)

    plane, dev, tun, udp = make_plane(endpoint=None, clock=clock, resolver=resolver,
                                      endpoint_names={PEER_KEY: ("gw.vpn.example", 51820)})
    plane.step(max_wait=0)
    assert dev.peer.endpoint is None
    clock.now += RESOLVE_RETRY + 0.1
    plane.step(max_wait=0)
    assert dev.peer.endpoint == ("198.51.100.21", 51820)
    assert results == []


def test_status_holds_counters_and_peers_but_no_inner_address(tmp_path):
    path = tmp_path / "status" / "tunnel-fake0.json"
    plane, dev, tun, udp = make_plane(status_path=str(path))
    tun.inject(ipv4_packet(src="10.77.0.55", dst="10.77.0.66"))
    udp.inject(b"E" + ipv4_packet(src="10.77.0.66", dst="10.77.0.55"), PEER_ADDR)
    plane.step(max_wait=0)
    plane.write_status()
    text = path.read_text()
    status = json.loads(text)
    assert status["counters"]["tx_packets"] == 1 and status["counters"]["tun_tx_packets"] == 1
    assert status["peers"][0]["endpoint"] == "203.0.113.10:51820"
    assert status["peers"][0]["allowed_ips"] == ["10.77.0.0/24"]
    assert "10.77.0.55" not in text and "10.77.0.66" not in text


def test_an_endpoint_change_is_written_to_the_status_file_once_the_loop_is_quiet(tmp_path):
    path = tmp_path / "tunnel.json"
    clock = Clock(100.0)
    plane, dev, tun, udp = make_plane(clock=clock, status_path=str(path), status_interval=3600)
    plane.step(max_wait=0)
    assert json.loads(path.read_text())["peers"][0]["endpoint"] == "203.0.113.10:51820"
    clock.now += 1
    udp.inject(b"R", ("fd77::9", 4242))
    tun.inject(ipv4_packet())
    plane.step(max_wait=0)
    # Packets first: the write (~0.5 ms) waits until nothing is ready, so a
    # first handshake's data and its answer do not queue behind it.
    assert json.loads(path.read_text())["peers"][0]["endpoint"] == "203.0.113.10:51820"
    started = time.monotonic()
    plane.step(max_wait=5)          # nothing ready: written after STATUS_QUIET, not max_wait
    quiet = time.monotonic() - started
    assert json.loads(path.read_text())["peers"][0]["endpoint"] == "[fd77::9]:4242"
    # It waited for quiet (a reply to the packets above would have come in
    # that time and gone first), rather than writing at the first idle wakeup.
    assert quiet >= STATUS_QUIET * 0.9, quiet


def test_a_requested_status_write_waits_for_a_busy_loop_at_most_status_defer_max(tmp_path):
    path = tmp_path / "tunnel.json"
    clock = Clock(100.0)
    plane, dev, tun, udp = make_plane(clock=clock, status_path=str(path), status_interval=3600)
    plane.step(max_wait=0)
    udp.inject(b"R", ("fd77::9", 4242))
    plane.step(max_wait=0)
    for _ in range(100):
        if json.loads(path.read_text())["peers"][0]["endpoint"] == "[fd77::9]:4242":
            break
        udp.inject(b"Ex", PEER_ADDR)        # always something to do
        clock.now += 0.01
        plane.step(max_wait=0)
    waited = clock.now - 100.0
    assert STATUS_DEFER_MAX - 0.001 <= waited <= STATUS_DEFER_MAX + 0.011, waited


def test_warm_up_runs_on_every_provider_through_the_contract_alone():
    from vpnspot_router.crypto.openssl import OpenSSLProvider
    from vpnspot_router.crypto.pure import PureProvider
    for provider in (OpenSSLProvider(), PureProvider()):
        warm_up(provider)


def test_sigusr1_writes_status_and_sigterm_ends_run_with_0_closing_tun_and_bind(tmp_path):
    path = tmp_path / "tunnel.json"
    plane, dev, tun, udp = make_plane(clock=time.monotonic, status_path=str(path), status_interval=3600)
    seen = {}

    def poke():
        time.sleep(0.3)
        os.unlink(path)                 # written at start; prove SIGUSR1 writes it again
        udp.inject(b"Ex", PEER_ADDR)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 2
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["usr1"] = json.loads(path.read_text()) if path.exists() else None
        os.kill(os.getpid(), signal.SIGTERM)

    old = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=poke)
    t.start()
    start = time.monotonic()
    rc = plane.run()
    t.join()
    assert rc == 0
    assert time.monotonic() - start < 3
    assert seen["usr1"]["running"] is True and seen["usr1"]["counters"]["rx_packets"] == 1
    assert tun.closed and udp.closed
    assert json.loads(path.read_text())["running"] is False
    assert signal.getsignal(signal.SIGTERM) is old


# ------------------------------------------------------------ UDP bind

def test_normalise_gives_one_form_per_address():
    assert normalise("::ffff:198.51.100.7", 1) == ("198.51.100.7", 1)
    assert normalise("FD77:0:0::0:1", 2) == ("fd77::1", 2)
    assert normalise("198.51.100.7", 3) == ("198.51.100.7", 3)


def test_dual_stack_bind_reports_ipv4_and_ipv6_senders_in_the_canonical_form():
    udp = UdpBind(0)
    try:
        assert udp.dual_stack
        v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        v4.bind(("127.0.0.1", 0))
        v6.bind(("::1", 0))
        v4.sendto(b"four", ("127.0.0.1", udp.port))
        v6.sendto(b"six", ("::1", udp.port))
        got = []
        deadline = time.monotonic() + 2
        while len(got) < 2 and time.monotonic() < deadline:
            got += udp.recv_many()
        assert sorted(got) == sorted([(b"four", ("127.0.0.1", v4.getsockname()[1])),
                                      (b"six", ("::1", v6.getsockname()[1]))])
        # and answers go back to the same normalised addresses
        assert udp.sendto(b"back4", ("127.0.0.1", v4.getsockname()[1]))
        assert udp.sendto(b"back6", ("::1", v6.getsockname()[1]))
        v4.settimeout(2)
        v6.settimeout(2)
        assert v4.recv(100) == b"back4"
        assert v6.recv(100) == b"back6"
        v4.close()
        v6.close()
    finally:
        udp.close()


def test_a_send_the_kernel_refuses_returns_false():
    udp = UdpBind(0)
    try:
        assert udp.sendto(b"x" * 70000, ("127.0.0.1", 9)) is False
    finally:
        udp.close()


# ------------------------------------------- real TUN in a namespace (root)

def run_vpnspot(lab, ns, *argv, wait=True, timeout=20):
    cmd = [sys.executable, "-m", "vpnspot_router"] + [str(a) for a in argv]
    if wait:
        return lab.run(ns, *cmd, check=False, timeout=timeout)
    return lab.popen(ns, cmd, cwd=REPO)


def links(lab, ns):
    out = lab.run(ns, "ip", "-o", "link", "show").stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def wait_file(path, timeout=10, proc=None, lab=None):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            pytest.fail("process exited with %s before writing %s:\n%s"
                        % (proc.returncode, path, lab.read_log(proc)))
        if time.monotonic() > deadline:
            pytest.fail("%s did not appear within %ss" % (path, timeout))
        time.sleep(0.02)


def sigterm_and_wait(proc, timeout=5):
    os.kill(proc.pid, signal.SIGTERM)
    return proc.wait(timeout=timeout)


@pytest.mark.interop
def test_ping_crosses_a_real_tun_driven_by_the_loop_and_sigterm_removes_the_interface(lab):
    ns = lab.add_ns("tun")
    status = os.path.join(lab.tmpdir, "fake.json")
    proc = lab.popen(ns, [sys.executable, os.path.join(REPO, "tests", "tunnel", "fakecore.py"),
                          "vsfake0", "10.77.0.1/24", status], cwd=REPO,
                     env=dict(os.environ, PYTHONPATH=REPO))
    wait_file(status, proc=proc, lab=lab)
    assert "vsfake0" in links(lab, ns)
    # The fake core answers echo requests, so every reply crossed the TUN
    # twice (read by the loop, written back by it).
    lab.ping(ns, "10.77.0.9", count=3)
    assert sigterm_and_wait(proc) == 0, lab.read_log(proc)
    assert "vsfake0" not in links(lab, ns)
    final = json.load(open(status))
    assert final["running"] is False
    assert final["counters"]["tun_rx_packets"] >= 3
    assert final["counters"]["rx_packets"] >= 3          # the UDP loopback leg
    assert final["counters"]["core_errors"] == 0


@pytest.mark.interop
def test_a_bad_config_exits_2_naming_file_line_and_field_and_creates_no_interface(lab):
    ns = lab.add_ns("bad")
    conf = os.path.join(lab.tmpdir, "wgbad.conf")
    with open(conf, "w") as f:
        f.write("[Interface]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n\n[Peer]\n# gw\nPublicKey = nope\n"
                % subprocess.run([sys.executable, "-m", "vpnspot_router", "genkey"], cwd=REPO,
                                 capture_output=True, text=True, check=True).stdout.strip())
    before = links(lab, ns)
    result = run_vpnspot(lab, ns, "tunnel", "up", conf, "--ifname", "vsbad0",
                         "--status-file", os.path.join(lab.tmpdir, "bad.json"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: %s:7: PublicKey: not a 32-byte base64 key" % conf
    assert links(lab, ns) == before
    assert not os.path.exists(os.path.join(lab.tmpdir, "bad.json"))


def _genkey():
    return subprocess.run([sys.executable, "-m", "vpnspot_router", "genkey"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout.strip()


def _pubkey(private):
    return subprocess.run([sys.executable, "-m", "vpnspot_router", "pubkey"], cwd=REPO, input=private,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_pubkey_matches_what_genkeys_private_key_implies_and_rejects_garbage():
    private = _genkey()
    public = _pubkey(private)
    assert len(public) == 44 and public != private
    assert _pubkey(private) == public
    bad = subprocess.run([sys.executable, "-m", "vpnspot_router", "pubkey"], cwd=REPO, input="junk",
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "32-byte base64" in bad.stderr


@pytest.mark.interop
def test_tunnel_up_configures_the_interface_and_sigterm_exits_0_and_removes_it(lab):
    ns = lab.add_ns("up")
    conf = os.path.join(lab.tmpdir, "wgup.conf")
    with open(conf, "w") as f:
        f.write("[Interface]\nPrivateKey = %s\nAddress = 10.77.0.1/24, fd77::1/64\nMTU = 1380\n"
                "[Peer]\nPublicKey = %s\nEndpoint = 198.51.100.99:51820\n" % (_genkey(), _pubkey(_genkey())))
    status = os.path.join(lab.tmpdir, "up.json")
    proc = run_vpnspot(lab, ns, "tunnel", "up", conf, "--ifname", "vsup0", "--status-file", status,
                       "--foreground", wait=False)
    wait_file(status, proc=proc, lab=lab)
    show = lab.run(ns, "ip", "addr", "show", "dev", "vsup0").stdout
    assert "mtu 1380" in show and "10.77.0.1/24" in show and "fd77::1/64" in show
    assert ",UP" in show
    assert json.load(open(status))["peers"][0]["endpoint"] == "198.51.100.99:51820"
    assert sigterm_and_wait(proc) == 0, lab.read_log(proc)
    assert "vsup0" not in links(lab, ns)


@pytest.mark.interop
def test_two_of_our_tunnels_in_two_namespaces_ping_each_other(lab):
    """The loop against the real core: handshake, transport both ways."""
    lab.add_ns("a")
    lab.add_ns("b")
    lab.add_link("a", "b", "198.51.100.1/24", "198.51.100.2/24")
    ka, kb = _genkey(), _genkey()
    confs = {
        "a": "[Interface]\nPrivateKey = %s\nAddress = 10.77.0.1/24\nListenPort = 51820\n"
             "[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.2/32\nEndpoint = 198.51.100.2:51820\n"
             % (ka, _pubkey(kb)),
        "b": "[Interface]\nPrivateKey = %s\nAddress = 10.77.0.2/24\nListenPort = 51820\n"
             "[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.1/32\n" % (kb, _pubkey(ka)),
    }
    procs = {}
    for side, text in confs.items():
        path = os.path.join(lab.tmpdir, "wg%s.conf" % side)
        with open(path, "w") as f:
            f.write(text)
        procs[side] = run_vpnspot(lab, side, "tunnel", "up", path, "--ifname", "vs%s0" % side,
                                  "--status-file", os.path.join(lab.tmpdir, "%s.json" % side), wait=False)
    for side, proc in procs.items():
        wait_file(os.path.join(lab.tmpdir, "%s.json" % side), proc=proc, lab=lab)
    lab.ping("a", "10.77.0.2", count=3)
    lab.ping("b", "10.77.0.1", count=3)
    for side, proc in procs.items():
        assert sigterm_and_wait(proc) == 0, lab.read_log(proc)
    status = json.load(open(os.path.join(lab.tmpdir, "a.json")))
    assert status["counters"]["events"].get(A.HANDSHAKE_COMPLETE, 0) >= 1
    assert status["counters"]["core_errors"] == 0
    assert status["peers"][0]["last_handshake"] is not None


@pytest.mark.interop
def test_without_pyroute2_the_link_is_configured_with_the_ip_command(lab):
    ns = lab.add_ns("noprt")
    script = (
        "import sys; sys.modules['pyroute2'] = None\n"
        "from vpnspot_router.tunnel import tun\n"
        "dev = tun.TunDevice('vsip0')\n"
        "print(tun.configure_link(dev.name, [('10.77.0.1', 24), ('fd77::1', 64)], 1300,"
        " [('10.77.5.0', 24), ('0.0.0.0', 0)]))\n"
        "import subprocess\n"
        "print(subprocess.run(['ip', 'addr', 'show', 'dev', 'vsip0'], capture_output=True, text=True).stdout)\n"
        "print(subprocess.run(['ip', 'route', 'show', 'dev', 'vsip0'], capture_output=True, text=True).stdout)\n"
    )
    out = lab.run(ns, sys.executable, "-c", script).stdout
    assert "[('10.77.5.0', 24)]" in out      # the /0 is left to net/'s policy routing
    assert "mtu 1300" in out and "10.77.0.1/24" in out and "fd77::1/64" in out
    assert "10.77.5.0/24" in out
    assert not [line for line in out.splitlines() if line.startswith("default")]
    assert "vsip0" not in links(lab, ns)     # the process ended, so the TUN went with it
