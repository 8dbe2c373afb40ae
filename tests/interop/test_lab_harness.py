"""The namespace lab itself: two wireguard-go peers over a veth underlay.

If these fail, every other interop result is suspect, so they exercise what
the other tests lean on: tunnel reachability both ways on IPv4 and IPv6, a
bulk transfer checked end to end, the parsed `wg show` output, and a
teardown that leaves nothing behind, even when the test body fails.
"""

import os
import subprocess

import pytest

from vpnspot_router.lab import netns

pytestmark = pytest.mark.interop

TRANSFER_BYTES = 20 * 1024 * 1024


def _build_pair(lab, keepalive=None):
    """Peers a (198.51.100.1, tunnel .1) and b (198.51.100.2, tunnel .2)."""
    lab.add_ns("a")
    lab.add_ns("b")
    lab.add_link("a", "b", "198.51.100.1/24", "198.51.100.2/24")
    key_a, key_b = netns.wg_genkey(), netns.wg_genkey()
    psk = netns.wg_genpsk()
    # b first: with a keepalive, a initiates the moment it is configured,
    # and a handshake sent to a closed port is retried only after 5 s.
    wg_b = lab.start_wireguard_go(
        "b", "wgb", key_b, listen_port=51820,
        address_cidrs=["10.77.0.2/24", "fd77::2/64"],
        peers=[dict(public_key=netns.wg_pubkey(key_a), preshared_key=psk,
                    endpoint="198.51.100.1:51820",
                    allowed_ips=["10.77.0.1/32", "fd77::1/128"])])
    wg_a = lab.start_wireguard_go(
        "a", "wga", key_a, listen_port=51820,
        address_cidrs=["10.77.0.1/24", "fd77::1/64"],
        peers=[dict(public_key=netns.wg_pubkey(key_b), preshared_key=psk,
                    endpoint="198.51.100.2:51820",
                    allowed_ips=["10.77.0.2/32", "fd77::2/128"],
                    persistent_keepalive=keepalive)])
    return wg_a, wg_b


def _namespaces_with(prefix):
    return [ns for ns in netns.list_namespaces() if ns.startswith(prefix)]


def test_peers_ping_each_other_through_the_tunnel_over_ipv4_and_ipv6(lab):
    wg_a, wg_b = _build_pair(lab)
    lab.ping("a", "10.77.0.2")
    lab.ping("b", "10.77.0.1")
    lab.ping("a", "fd77::2")
    lab.ping("b", "fd77::1")
    # Both sides count bytes for the other: the pings really used the
    # tunnel rather than some other path between the namespaces.
    peer_of_a = wg_a.show().peers[wg_b.public_key]
    peer_of_b = wg_b.show().peers[wg_a.public_key]
    assert peer_of_a.rx_bytes > 0 and peer_of_a.tx_bytes > 0
    assert peer_of_b.rx_bytes > 0 and peer_of_b.tx_bytes > 0


def test_a_ping_to_an_address_outside_allowed_ips_fails(lab):
    wg_a, wg_b = _build_pair(lab)
    # 10.77.0.99 is routed to the tunnel device (the /24 on it) but no peer
    # owns it, so wireguard-go must drop the packet instead of sending it.
    with pytest.raises(netns.LabError):
        lab.ping("a", "10.77.0.99", count=1, timeout=10)
    assert wg_a.show().peers[wg_b.public_key].tx_bytes == 0


def test_show_reports_the_handshake_endpoint_and_keys_of_each_peer(lab):
    wg_a, wg_b = _build_pair(lab)
    before = wg_a.show().peers[wg_b.public_key]
    assert before.latest_handshake == 0
    lab.ping("a", "10.77.0.2", count=1)
    info_a = wg_a.show()
    info_b = wg_b.show()
    assert info_a.public_key == wg_a.public_key
    assert info_a.listen_port == 51820
    peer = info_a.peers[wg_b.public_key]
    assert peer.latest_handshake > 0
    assert peer.endpoint == "198.51.100.2:51820"
    assert sorted(peer.allowed_ips) == ["10.77.0.2/32", "fd77::2/128"]
    assert peer.has_preshared_key
    assert peer.persistent_keepalive is None
    back = info_b.peers[wg_a.public_key]
    assert back.latest_handshake > 0
    # b learned a's endpoint from the handshake it received.
    assert back.endpoint == "198.51.100.1:51820"
    assert back.persistent_keepalive is None


def test_a_peer_with_persistent_keepalive_handshakes_without_any_traffic(lab):
    wg_a, wg_b = _build_pair(lab, keepalive=25)
    assert wg_a.show().peers[wg_b.public_key].persistent_keepalive == 25
    netns.wait_for(lambda: wg_b.show().peers[wg_a.public_key].latest_handshake > 0,
                   timeout=5, what="the keepalive-driven handshake")


def test_a_20_mb_tcp_transfer_arrives_intact_through_the_tunnel(lab):
    wg_a, wg_b = _build_pair(lab)
    result = lab.tcp_transfer("a", "b", "10.77.0.2", TRANSFER_BYTES)
    assert result.received_bytes == TRANSFER_BYTES
    assert result.received_sha256 == result.sent_sha256
    # The payload crossed wireguard-go: b's peer counter saw at least it.
    assert wg_b.show().peers[wg_a.public_key].rx_bytes >= TRANSFER_BYTES


def test_the_tunnel_works_again_after_a_peer_restarts(lab):
    wg_a, wg_b = _build_pair(lab)
    lab.ping("a", "10.77.0.2", count=1)
    old_pid = wg_b.proc.pid
    wg_b.restart()
    assert wg_b.proc.pid != old_pid
    # The restarted b has no session; a still holds its old one and would
    # only notice after ~15 s, so b (which knows a's endpoint) speaks first.
    lab.ping("b", "fd77::1", count=1)
    lab.ping("a", "10.77.0.2", count=2)
    assert wg_b.show().peers[wg_a.public_key].latest_handshake > 0


def test_teardown_leaves_no_namespace_socket_or_wireguard_go_process():
    with netns.Lab() as lab:
        wg_a, wg_b = _build_pair(lab)
        lab.ping("a", "10.77.0.2", count=1)
        prefix = lab.prefix
        pids = [wg_a.proc.pid, wg_b.proc.pid]
        sockets = [wg_a.socket_path, wg_b.socket_path]
        # A process that is not the lab's child, started from inside a
        # namespace: only `ip netns pids` can find it at teardown.
        lab.run("a", "sh", "-c", "sleep 300 >/dev/null 2>&1 &")
        stray = [int(p) for p in subprocess.run(
            ["ip", "netns", "pids", lab.name("a")],
            capture_output=True, text=True, check=True).stdout.split()]
        assert len(stray) >= 2  # wireguard-go and the sleep
        assert len(_namespaces_with(prefix)) == 2
        assert all(os.path.exists(s) for s in sockets)
    assert _namespaces_with(prefix) == []
    assert not any(os.path.exists(s) for s in sockets)
    for pid in pids + stray:
        assert not netns.pid_alive(pid), f"pid {pid} survived teardown"
    assert not os.path.exists(os.path.join(netns.MARKER_DIR, prefix))


def test_teardown_still_runs_when_the_test_body_raises():
    with pytest.raises(RuntimeError, match="body failed"):
        with netns.Lab() as lab:
            wg_a, _ = _build_pair(lab)
            prefix, pid = lab.prefix, wg_a.proc.pid
            raise RuntimeError("body failed")
    assert _namespaces_with(prefix) == []
    assert not netns.pid_alive(pid)


def test_sweep_removes_namespaces_of_dead_runs_and_keeps_live_ones():
    # Simulate a crashed run: a marker naming a pid that has exited.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale_prefix = "vs" + os.urandom(3).hex()
    stale_ns = stale_prefix + "x"
    os.makedirs(netns.MARKER_DIR, exist_ok=True)
    marker = os.path.join(netns.MARKER_DIR, stale_prefix)
    with open(marker, "w") as f:
        f.write(f"{dead.pid} 1\n")
    subprocess.run(["ip", "netns", "add", stale_ns], check=True)
    try:
        with netns.Lab() as live:
            live.add_ns("y")
            removed = netns.sweep_stale()
            assert stale_ns in removed
            assert live.name("y") in netns.list_namespaces()
            assert os.path.exists(os.path.join(netns.MARKER_DIR, live.prefix))
        assert stale_ns not in netns.list_namespaces()
        assert not os.path.exists(marker)
    finally:
        # Only needed when the sweep under test failed to do its job.
        subprocess.run(["ip", "netns", "del", stale_ns], capture_output=True)
        if os.path.exists(marker):
            os.unlink(marker)


def test_wg_dump_parsing_hides_the_private_key_and_reads_every_peer_field():
    dump = ("PRIVKEY=\tPUBKEY=\t51820\toff\n"
            "PEER1=\tPSK=\t198.51.100.2:51820\t10.77.0.2/32,fd77::2/128\t1700000000\t100\t200\t25\n"
            "PEER2=\t(none)\t(none)\t(none)\t0\t0\t0\toff\n")
    info = netns.parse_wg_dump(dump)
    assert "PRIVKEY=" not in repr(info)
    assert info.public_key == "PUBKEY=" and info.listen_port == 51820 and info.fwmark is None
    p1, p2 = info.peers["PEER1="], info.peers["PEER2="]
    assert (p1.has_preshared_key, p1.endpoint, p1.allowed_ips) == (
        True, "198.51.100.2:51820", ["10.77.0.2/32", "fd77::2/128"])
    assert (p1.latest_handshake, p1.rx_bytes, p1.tx_bytes, p1.persistent_keepalive) == (
        1700000000, 100, 200, 25)
    assert (p2.has_preshared_key, p2.endpoint, p2.allowed_ips, p2.persistent_keepalive) == (
        False, None, [], None)
