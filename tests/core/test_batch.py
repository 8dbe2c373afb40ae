"""The batch entry points (Device.send_packets, Device.receive_datagrams)
against the per-packet ones: two pairs built from the same deterministic
randomness must put the same bytes on the wire, deliver the same packets,
count the same drops and leave the same timers, whichever entry point fed
them. Plain asserts, MicroPython-portable like the rest of tests/core."""

from vpnspot_router.core.wireguard import actions as A
from vpnspot_router.core.wireguard import drops

from .pair import (TunnelPair, get_provider, icmp_echo, udp, A_V4, B_V4, A_V6, B_V6, seal_raw)


def seeded_provider(seed):
    state = [seed]

    def random_source(n):
        out = bytearray()
        while len(out) < n:
            state[0] = (state[0] * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
            out.append((state[0] >> 33) & 0xFF)
        return bytes(out)
    return get_provider().__class__(random_source)


def twin_pairs():
    return TunnelPair(provider=seeded_provider(7)), TunnelPair(provider=seeded_provider(7))


def flatten(actions):
    """Per-kind lists, with folded runs unfolded."""
    sent, delivered, dropped, events = [], [], [], []
    for a in actions:
        if a.kind == A.SEND:
            sent.append((bytes(a.data), a.addr))
        elif a.kind == A.SEND_MANY:
            for d in a.datas:
                sent.append((bytes(d), a.addr))
        elif a.kind == A.DELIVER:
            delivered.append(bytes(a.packet))
        elif a.kind == A.DELIVER_MANY:
            for p in a.packets:
                delivered.append(bytes(p))
        elif a.kind == A.DROP:
            dropped.append(a.reason)
        else:
            events.append(a.event)
    dropped.sort()
    return sent, delivered, dropped, events


def state(side):
    peer = side.peer
    t = peer.timers
    kp = peer.current
    return (peer.tx_bytes, peer.rx_bytes, peer.endpoint, t.retransmit_handshake, t.send_keepalive,
            t.new_handshake, t.zero_key_material, t.persistent_keepalive, t.need_another_keepalive,
            kp.send_counter if kp else None, kp.replay.newest if kp else None,
            kp.replay.bits if kp else None, sorted(side.device.drops.items()), len(peer.staged))


def one_by_one(side, packets, now):
    out = []
    for p in packets:
        out.extend(side.device.send_packet(p, now))
    return out


def receive_one_by_one(side, datas, addr, now):
    out = []
    for d in datas:
        out.extend(side.device.receive_datagram(d, addr, now))
    return out


def packets_mixed():
    return [icmp_echo(A_V4, B_V4, seq=1), udp(A_V4, B_V4, payload=b"x" * 1000),
            icmp_echo(A_V6, B_V6, seq=2), b"\x00not ip", udp(A_V6, B_V6, payload=b"y" * 1380),
            icmp_echo(A_V4, B_V4, seq=3, payload=b"")]


def test_send_packets_equals_send_packet_before_and_after_the_handshake():
    p1, p2 = twin_pairs()
    # No session yet: packets are staged and a handshake starts (slow path).
    r1 = flatten(one_by_one(p1.a, packets_mixed(), 1.0))
    r2 = flatten(p2.a.device.send_packets(packets_mixed(), 1.0))
    assert r1 == r2
    assert state(p1.a) == state(p2.a)
    for now in (2.0, 3.0):
        r1 = flatten(one_by_one(p1.a, packets_mixed(), now))
        r2 = flatten(p2.a.device.send_packets(packets_mixed(), now))
        assert r1 == r2
        assert state(p1.a) == state(p2.a)


def test_send_packets_folds_one_peers_run_into_one_action():
    pair = TunnelPair()
    pair.establish(0.0)
    out = pair.a.device.send_packets([icmp_echo(A_V4, B_V4, seq=i) for i in range(5)], 1.0)
    assert [a.kind for a in out] == [A.SEND_MANY]
    assert len(out[0].datas) == 5 and out[0].addr == pair.b.addr


def test_a_rekey_due_inside_a_batch_starts_the_handshake_at_the_same_packet():
    p1, p2 = twin_pairs()
    for p in (p1, p2):
        p.establish(0.0)
        p.a.device.timing.rekey_after_messages = p.a.peer.current.send_counter + 3
    packets = [icmp_echo(A_V4, B_V4, seq=i) for i in range(6)]
    # 10 s: past REKEY_TIMEOUT since the first handshake, so one may start.
    r1 = flatten(one_by_one(p1.a, packets, 10.0))
    r2 = flatten(p2.a.device.send_packets(packets, 10.0))
    assert r1 == r2
    assert A.HANDSHAKE_INITIATED in r1[3]
    assert state(p1.a) == state(p2.a)


def test_receive_datagrams_equals_receive_datagram_with_replays_forgeries_and_keepalives():
    p1, p2 = twin_pairs()
    for p in (p1, p2):
        p.establish(0.0)
    batches = []
    for p in (p1, p2):
        good = [d for d, _ in flatten(p.a.device.send_packets(packets_mixed(), 1.0))[0]]
        keepalive = seal_raw(p.a, b"")
        forged = bytearray(good[3])         # a counter not yet seen, with a bad tag
        forged[-1] ^= 1
        spoofed = seal_raw(p.a, udp("10.77.0.99", B_V4))          # source outside a's allowed IPs
        batches.append([good[0], good[1], good[0], bytes(forged), keepalive, good[2], spoofed,
                        good[3], b"\x04\x00\x00\x00short"])
    r1 = flatten(receive_one_by_one(p1.b, batches[0], p1.a.addr, 1.5))
    r2 = flatten(p2.b.device.receive_datagrams(batches[1], p2.a.addr, 1.5))
    assert r1 == r2
    assert len(r1[1]) == 4
    assert drops.REPLAYED in r1[2] and drops.DECRYPT_FAILED in r1[2] and drops.DISALLOWED_SOURCE in r1[2]
    assert state(p1.b) == state(p2.b)


def test_a_datagram_from_a_new_address_takes_the_per_packet_path_and_roams():
    p1, p2 = twin_pairs()
    for p in (p1, p2):
        p.establish(0.0)
    datas = []
    for p in (p1, p2):
        datas.append([d for d, _ in flatten(p.a.device.send_packets(packets_mixed()[:3], 1.0))[0]])
    moved = ("198.51.100.99", 40000)
    r1 = flatten(receive_one_by_one(p1.b, datas[0], moved, 1.5))
    r2 = flatten(p2.b.device.receive_datagrams(datas[1], moved, 1.5))
    assert r1 == r2
    assert r1[3] == [A.ENDPOINT_CHANGED]
    assert state(p1.b) == state(p2.b)
