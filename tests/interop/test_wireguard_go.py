"""Our userspace tunnel against an independent WireGuard: Debian's wireguard-go.

Topology per test (namespaces made by the `lab` fixture, removed afterwards):

    us  (vpnspot tunnel up; underlay 198.51.100.2)  --veth--  gw (wireguard-go; 198.51.100.1)
        tunnel 10.77.0.2/24, fd77:77::2/64                        tunnel 10.77.0.1/24, fd77:77::1/64

Every test drives real packets through both implementations: a passing ping
or checksum-verified transfer is only possible if the handshake, key
derivation, transport format and replay rules agree byte for byte.
"""

import json
import os
import re
import sys
import time

import pytest

from vpnspot_router.lab import netns

US_UNDERLAY = "198.51.100.2"
GW_UNDERLAY = "198.51.100.1"
GW_PORT = 51820
US_PORT = 51821


class Topology:
    def __init__(self, lab, initiator=True, psk=False, timing=None, gw_keepalive=None, env=None,
                 runner=None):
        self.lab = lab
        self.env = env or {}
        # argv that runs `vpnspot` (e.g. refusing_kernel.py's, for the fallback tests)
        self.runner = runner or [sys.executable, "-m", "vpnspot_router"]
        lab.add_ns("us")
        lab.add_ns("gw")
        self.link = lab.add_link("us", "gw", US_UNDERLAY + "/24", GW_UNDERLAY + "/24")
        self.us_key = netns.wg_genkey()
        self.us_pub = netns.wg_pubkey(self.us_key)
        self.gw_key = netns.wg_genkey()
        self.psk = netns.wg_genpsk() if psk else None
        gw_peer = {"public_key": self.us_pub, "allowed_ips": ["10.77.0.2/32", "fd77:77::2/128"]}
        if self.psk:
            gw_peer["preshared_key"] = self.psk
        if not initiator:
            gw_peer["endpoint"] = "%s:%d" % (US_UNDERLAY, US_PORT)
        if gw_keepalive:
            gw_peer["persistent_keepalive"] = gw_keepalive
        self.gw = lab.start_wireguard_go("gw", "g0", self.gw_key, listen_port=GW_PORT,
                                         address_cidrs=["10.77.0.1/24", "fd77:77::1/64"],
                                         peers=[gw_peer])
        self.ifname = lab.wg_ifname("t0")
        self.status_file = os.path.join(lab.tmpdir, "tunnel-status.json")
        self.conf_path = os.path.join(lab.tmpdir, "us.conf")
        with open(self.conf_path, "w") as f:
            f.write(self.config_text(initiator))
        self.timing = timing
        self.proc = None
        self.start()

    def config_text(self, initiator):
        lines = ["# written by the interop test", "[Interface]",
                 "PrivateKey = " + self.us_key,
                 "Address = 10.77.0.2/24, fd77:77::2/64"]
        if not initiator:
            lines.append("ListenPort = %d" % US_PORT)
        lines += ["", "[Peer]", "PublicKey = " + self.gw.public_key,
                  "AllowedIPs = 10.77.0.0/24, fd77:77::/64"]
        if self.psk:
            lines.append("PresharedKey = " + self.psk)
        if initiator:
            lines.append("Endpoint = %s:%d" % (GW_UNDERLAY, GW_PORT))
        return "\n".join(lines) + "\n"

    def start(self):
        env = dict(os.environ)
        env.update(self.env)
        if self.timing:
            env["VPNSPOT_WG_TIMING"] = ",".join("%s=%s" % kv for kv in sorted(self.timing.items()))
        self.proc = self.lab.popen("us", self.runner + ["tunnel", "up", self.conf_path, "--ifname",
                                                        self.ifname, "--status-file", self.status_file],
                                   env=env)
        netns.wait_for(self._interface_up, timeout=15, what="our tunnel interface " + self.ifname)

    def _interface_up(self):
        if self.proc.poll() is not None:
            raise AssertionError("vpnspot tunnel exited with %s:\n%s"
                                 % (self.proc.returncode, self.lab.read_log(self.proc)))
        out = self.lab.run("us", "ip", "-o", "addr", "show", "dev", self.ifname, check=False)
        return out.returncode == 0 and "10.77.0.2/24" in out.stdout

    def stop(self):
        self.lab.stop_process(self.proc)

    def gw_peer(self):
        return self.gw.show().peers[self.us_pub]

    def log(self):
        return self.lab.read_log(self.proc)


def ping_ok(lab, ns, addr, count=3):
    return lab.run(ns, "ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2",
                   *(["-6"] if ":" in addr else []), addr, check=False).returncode == 0


@pytest.mark.parametrize("psk", [False, True], ids=["no-psk", "psk"])
def test_we_initiate_and_ping_both_ways_over_ipv4_and_ipv6(lab, psk):
    topo = Topology(lab, initiator=True, psk=psk)
    lab.ping("us", "10.77.0.1")
    lab.ping("gw", "10.77.0.2")
    lab.ping("us", "fd77:77::1")
    lab.ping("gw", "fd77:77::2")
    peer = topo.gw_peer()
    assert peer.latest_handshake > 0
    assert peer.endpoint == "%s:%d" % (US_UNDERLAY, peer_port(peer))
    print("gateway saw handshake; rx=%d tx=%d bytes" % (peer.rx_bytes, peer.tx_bytes))


def peer_port(peer):
    return int(peer.endpoint.rsplit(":", 1)[1])


@pytest.mark.parametrize("psk", [False, True], ids=["no-psk", "psk"])
def test_we_respond_when_wireguard_go_initiates(lab, psk):
    topo = Topology(lab, initiator=False, psk=psk)
    # wireguard-go knows our endpoint; we know nothing of its address until
    # its authenticated initiation arrives (roaming sets our endpoint).
    lab.ping("gw", "10.77.0.2")
    lab.ping("us", "10.77.0.1")
    lab.ping("gw", "fd77:77::2")
    assert topo.gw_peer().latest_handshake > 0


def test_a_wrong_preshared_key_never_completes_a_handshake(lab):
    topo = Topology(lab, initiator=True, psk=True)
    topo.stop()
    with open(topo.conf_path) as f:
        text = f.read()
    with open(topo.conf_path, "w") as f:
        f.write(text.replace(topo.psk, netns.wg_genpsk()))
    topo.start()
    assert not ping_ok(lab, "us", "10.77.0.1", count=2)
    assert topo.gw_peer().latest_handshake == 0


@pytest.mark.parametrize("direction", ["us-to-gw", "gw-to-us"])
def test_a_100_megabyte_tcp_transfer_arrives_intact(lab, direction):
    Topology(lab, initiator=True)
    lab.ping("us", "10.77.0.1")    # the gateway learns our endpoint from our first packet
    src, dst, addr = ("us", "gw", "10.77.0.1") if direction == "us-to-gw" else ("gw", "us", "10.77.0.2")
    nbytes = 100 * 1024 * 1024
    result = lab.tcp_transfer(src, dst, addr, nbytes, timeout=240)
    mbit = nbytes * 8 / result.seconds / 1e6
    print("%s: %d bytes in %.1f s (%.0f Mbit/s), sha256 %s" % (
        direction, result.received_bytes, result.seconds, mbit, result.received_sha256))
    assert result.sent_bytes == nbytes
    assert result.received_bytes == nbytes
    assert result.received_sha256 == result.sent_sha256


# Each optimization (tunnel/offload.py, bind.py) flipped from its default
# alone (TSO and the writer thread are off by default, so they are switched
# on), all of them on, and all of them off: the data must arrive intact
# whichever path the packets take. The whole interop and leak suites also
# run under any of these settings, from the environment (README, Performance).
OFFLOAD_SWITCHES = {
    "tso-on": {"VPNSPOT_TUN_TSO": "1"},
    "writer-on": {"VPNSPOT_TUN_WRITER": "1"},
    "no-coalesce": {"VPNSPOT_TUN_COALESCE": "0"},
    "no-gso": {"VPNSPOT_UDP_GSO": "0"},
    "no-gro": {"VPNSPOT_UDP_GRO": "0"},
    "kernel-buffers": {"VPNSPOT_UDP_BUFFER": "0"},
    "all-on": {"VPNSPOT_TUN_TSO": "1", "VPNSPOT_TUN_WRITER": "1", "VPNSPOT_TUN_COALESCE": "1",
               "VPNSPOT_UDP_GSO": "1", "VPNSPOT_UDP_GRO": "1"},
    "all-off": {"VPNSPOT_TUN_TSO": "0", "VPNSPOT_TUN_COALESCE": "0", "VPNSPOT_TUN_WRITER": "0",
                "VPNSPOT_UDP_GSO": "0", "VPNSPOT_UDP_GRO": "0", "VPNSPOT_UDP_BUFFER": "0"},
}


@pytest.mark.parametrize("switch", sorted(OFFLOAD_SWITCHES))
def test_a_tcp_transfer_arrives_intact_both_ways_with_each_offload_switch_flipped(lab, switch):
    topo = Topology(lab, initiator=True, env=OFFLOAD_SWITCHES[switch])
    lab.ping("us", "10.77.0.1")
    buffer_kb = int(re.search(r"offloads: .* receive buffer=(\d+) KB", topo.log()).group(1))
    if OFFLOAD_SWITCHES[switch].get("VPNSPOT_UDP_BUFFER") == "0":
        assert buffer_kb < 7 * 1024, buffer_kb          # the kernel's default (~200 KB)
    else:
        assert buffer_kb >= 7 * 1024, buffer_kb         # 7 MB asked (the kernel reports double)
    nbytes = 20 * 1024 * 1024
    for src, dst, addr, port in (("us", "gw", "10.77.0.1", 5001), ("gw", "us", "10.77.0.2", 5002)):
        result = lab.tcp_transfer(src, dst, addr, nbytes, port=port, timeout=120)
        assert result.received_bytes == nbytes
        assert result.received_sha256 == result.sent_sha256


# The kernel refusing offloads (tests/interop/refusing_kernel.py fails the
# calls an older kernel fails), with every switch asking for them: the
# tunnel must notice, fall back, say so in its log, and carry the data intact.
REFUSALS = {
    # vnet headers, but no TSO; GSO accepted at start and refused by the
    # first burst (EIO); no GRO.
    "tso,gro,gso-send": ("vnet header=True TSO=False coalesce=True",
                         ["kernel refused TSO offload", "UDP GSO refused",
                          "UDP: kernel offers GSO=True GRO=False"]),
    # no vnet headers (so no TSO and no coalescing) and no GSO; GRO works.
    "vnet,gso": ("vnet header=False TSO=False coalesce=False",
                 ["kernel refused vnet headers", "UDP: kernel offers GSO=False GRO=True"]),
}


@pytest.mark.parametrize("refused", sorted(REFUSALS))
def test_a_tcp_transfer_arrives_intact_when_the_kernel_refuses_offloads(lab, refused):
    offloads, log_lines = REFUSALS[refused]
    topo = Topology(lab, initiator=True, env=OFFLOAD_SWITCHES["all-on"],
                    runner=[sys.executable, os.path.join(os.path.dirname(__file__), "refusing_kernel.py"),
                            refused])
    lab.ping("us", "10.77.0.1")
    nbytes = 20 * 1024 * 1024
    for src, dst, addr, port in (("us", "gw", "10.77.0.1", 5001), ("gw", "us", "10.77.0.2", 5002)):
        result = lab.tcp_transfer(src, dst, addr, nbytes, port=port, timeout=120)
        assert result.received_bytes == nbytes
        assert result.received_sha256 == result.sent_sha256
    topo.stop()                         # the status file's last write has the final counters
    log = topo.log()
    assert "offloads: TUN " + offloads in log, log
    for line in log_lines:
        assert line in log, (line, log)
    with open(topo.status_file) as f:
        counters = json.load(f)["counters"]
    assert counters["send_errors"] == 0 and counters["core_errors"] == 0, counters


def test_ipv6_tcp_crosses_intact_with_every_offload_on(lab):
    Topology(lab, initiator=True)
    lab.ping("us", "fd77:77::1")
    nbytes = 20 * 1024 * 1024
    for src, dst, addr, port in (("us", "gw", "fd77:77::1", 5001), ("gw", "us", "fd77:77::2", 5002)):
        result = lab.tcp_transfer(src, dst, addr, nbytes, port=port, timeout=120)
        assert result.received_bytes == nbytes
        assert result.received_sha256 == result.sent_sha256


def test_sessions_rekey_under_traffic_without_losing_the_tunnel(lab):
    # Shortened timers (the lab's test hook): we rekey every 3 s as initiator.
    topo = Topology(lab, initiator=True, timing={"rekey_after_time": 3, "reject_after_time": 8,
                                                  "rekey_timeout": 1, "keepalive_timeout": 1})
    lab.ping("us", "10.77.0.1")
    first = topo.gw_peer().latest_handshake
    deadline = time.monotonic() + 20
    handshakes = {first}
    while time.monotonic() < deadline and len(handshakes) < 3:
        assert ping_ok(lab, "us", "10.77.0.1", count=2)
        handshakes.add(topo.gw_peer().latest_handshake)
    # latest_handshake has one-second resolution, so three distinct values
    # need at least two rekeys.
    assert len(handshakes) >= 3, "expected repeated rekeys, saw handshake times %s" % sorted(handshakes)
    lab.ping("gw", "10.77.0.2")
    print("handshake times seen by wireguard-go:", sorted(handshakes))


def test_the_tunnel_recovers_when_the_gateway_restarts(lab):
    topo = Topology(lab, initiator=True, timing={"rekey_timeout": 1, "keepalive_timeout": 1})
    lab.ping("us", "10.77.0.1")
    topo.gw.restart()
    # The restarted gateway has forgotten the session; our side notices the
    # silence (KEEPALIVE + REKEY_TIMEOUT, shortened here) and rehandshakes.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ping_ok(lab, "us", "10.77.0.1", count=1):
            break
    else:
        pytest.fail("tunnel did not recover after the gateway restarted:\n" + topo.log()[-3000:])
    assert topo.gw_peer().latest_handshake > 0
    lab.ping("gw", "10.77.0.2")


def test_the_gateway_follows_us_when_our_address_changes(lab):
    topo = Topology(lab, initiator=True, timing={"keepalive_timeout": 1})
    lab.ping("us", "10.77.0.1")
    assert topo.gw_peer().endpoint.startswith(US_UNDERLAY + ":")
    # Move our underlay address: the next packets leave from 198.51.100.3,
    # and wireguard-go must roam to it after authenticating them. (Without
    # promote_secondaries, deleting the primary address deletes the new one.)
    move_address(lab, "us", topo.link.ifname_a)
    lab.run("us", "ip", "addr", "add", "198.51.100.3/24", "dev", topo.link.ifname_a)
    lab.run("us", "ip", "addr", "del", US_UNDERLAY + "/24", "dev", topo.link.ifname_a)
    lab.ping("us", "10.77.0.1")
    assert topo.gw_peer().endpoint.startswith("198.51.100.3:")
    lab.ping("gw", "10.77.0.2")


def test_we_follow_the_gateway_when_its_address_changes(lab):
    # wireguard-go initiates; we learn its endpoint (198.51.100.1) from its
    # authenticated initiation alone.
    topo = Topology(lab, initiator=False, gw_keepalive=1)
    # The gateway's first initiation may predate our tunnel; its retry
    # comes REKEY_TIMEOUT (5 s) later.
    wait_ping(lab, "gw", "10.77.0.2", timeout=15)
    # The status file follows the handshake once the tunnel is quiet
    # (dataplane.STATUS_QUIET, at most STATUS_DEFER_MAX), not before the ping.
    netns.wait_for(lambda: endpoint_of_gateway(topo) == "%s:%d" % (GW_UNDERLAY, GW_PORT),
                   timeout=2, what="our endpoint for the gateway in the status file")
    move_address(lab, "gw", topo.link.ifname_b)
    lab.run("gw", "ip", "addr", "add", "198.51.100.9/24", "dev", topo.link.ifname_b)
    lab.run("gw", "ip", "addr", "del", GW_UNDERLAY + "/24", "dev", topo.link.ifname_b)
    # Debian's wireguard-go pins the source address it last used and keeps
    # failing with ENETUNREACH once that address is gone, so restart it: it
    # then initiates from 198.51.100.9 and we must roam there.
    topo.gw.restart()
    netns.wait_for(lambda: endpoint_of_gateway(topo) == "198.51.100.9:%d" % GW_PORT,
                   timeout=10, what="our endpoint for the gateway to move to 198.51.100.9")
    lab.ping("us", "10.77.0.1")
    lab.ping("gw", "10.77.0.2")


def endpoint_of_gateway(topo):
    return read_status(topo)["peers"][0]["endpoint"]


def wait_ping(lab, ns, addr, timeout):
    deadline = time.monotonic() + timeout
    while not ping_ok(lab, ns, addr, count=1):
        if time.monotonic() > deadline:
            pytest.fail("no ping reply from %s within %d s" % (addr, timeout))


def move_address(lab, ns, ifname):
    for scope in ("all", ifname):
        lab.sysctl(ns, "net.ipv4.conf.%s.promote_secondaries" % scope, "1")


def read_status(topo):
    netns.wait_for(lambda: os.path.exists(topo.status_file), timeout=5, what="status file")
    os.kill(topo.proc.pid, 0)
    with open(topo.status_file) as f:
        return json.load(f)
