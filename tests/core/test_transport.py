"""Transport data through Device: both families both ways, padding, inner
packet validation, the staged queue, and the three-keypair rotation that
keeps in-flight packets across a rekey (keypair.py, device.py)."""

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.actions import HANDSHAKE_COMPLETE
from vpnspot_router.core.wireguard.constants import STAGED_PACKETS_MAX, REKEY_AFTER_TIME

from .pair import (TunnelPair, MSG_INITIATION, MSG_TRANSPORT, of_type, seal_raw, icmp_echo, udp,
                   ipv4, ipv6, addresses, checksum, A_V4, B_V4, A_V6, B_V6)


def test_the_packet_builders_write_valid_headers_and_checksums():
    packet = icmp_echo(A_V4, B_V4)
    assert checksum(packet[:20]) == 0 and checksum(packet[20:]) == 0
    assert addresses(packet) == (A_V4, B_V4)
    assert addresses(udp(A_V6, B_V6)) == (A_V6, B_V6)
    six = icmp_echo(A_V6, B_V6, payload=b"x" * 7)
    assert six[0] >> 4 == 6 and len(six) == 40 + 8 + 7 and (six[4] << 8 | six[5]) == 15


def test_ipv4_data_flows_both_ways():
    pair = TunnelPair()
    pair.establish(0.0)
    to_b = pair.send_ping(pair.a, 1.0)
    to_a = pair.send_ping(pair.b, 1.0)
    query = udp(A_V4, B_V4, 5353, 53, b"a question")
    pair.send(pair.a, query, 1.5)
    pair.flush(1.5)
    assert pair.b.delivered == [to_b, query]
    assert pair.a.delivered == [to_a]
    assert pair.a.drops == [] and pair.b.drops == []


def test_ipv6_data_flows_both_ways():
    pair = TunnelPair()
    pair.establish(0.0)
    to_b = pair.send_ping(pair.a, 1.0, v6=True)
    to_a = pair.send_ping(pair.b, 1.0, v6=True)
    query = udp(A_V6, B_V6, 5353, 53, b"a question")
    pair.send(pair.a, query, 1.5)
    pair.flush(1.5)
    assert pair.b.delivered == [to_b, query]
    assert pair.a.delivered == [to_a]


def test_the_first_packet_may_be_ipv6_and_start_the_handshake():
    pair = TunnelPair()
    packet = pair.send_ping(pair.a, 0.0, v6=True)
    assert pair.b.delivered == [packet]


def test_lan_traffic_from_any_source_reaches_the_router_side():
    # a routes everything to b; b may send any source address to a.
    pair = TunnelPair(b_allowed=(A_V4 + "/32", "192.168.77.0/24"))
    pair.establish(0.0)
    packet = udp("8.8.8.8", "192.168.77.10", 53, 5353, b"an answer")
    pair.send(pair.b, packet, 1.0)
    pair.flush(1.0)
    assert pair.a.delivered == [packet]


def test_packets_of_every_size_arrive_unchanged():
    pair = TunnelPair()
    pair.establish(0.0)
    sent = []
    for size in (0, 1, 15, 16, 17, 100, 1000, 1372):
        for v6 in (False, True):
            src, dst = (A_V6, B_V6) if v6 else (A_V4, B_V4)
            packet = udp(src, dst, 1000, 2000, bytes([size & 255]) * size)
            sent.append(packet)
            pair.send(pair.a, packet, 1.0)
    pair.flush(1.0)
    assert pair.b.delivered == sent


def test_transport_payload_is_padded_to_a_multiple_of_16_and_trimmed_on_receipt():
    pair = TunnelPair()
    pair.establish(0.0)
    four = ipv4(A_V4, B_V4, 253, b"x")                  # 21 bytes
    six = ipv6(A_V6, B_V6, 253, b"xyz")                 # 43 bytes
    pair.send(pair.a, four, 1.0)
    pair.send(pair.a, six, 1.0)
    assert [len(d) for d in pair.a.sent] == [16 + 32 + 16, 16 + 48 + 16]
    pair.flush(1.0)
    assert pair.b.delivered == [four, six]


def test_padding_stops_at_the_mtu():
    pair = TunnelPair()
    pair.establish(0.0)
    mtu = pair.a.device.mtu
    near = ipv4(A_V4, B_V4, 253, b"\x01" * (mtu - 1 - 20))
    over = ipv4(A_V4, B_V4, 253, b"\x02" * (mtu + 10 - 20))
    pair.send(pair.a, near, 1.0)
    pair.send(pair.a, over, 1.0)
    assert [len(d) - 32 for d in pair.a.sent] == [mtu, mtu + 10]
    pair.flush(1.0)
    assert pair.b.delivered == [near, over]


def test_bytes_beyond_the_ip_total_length_are_trimmed():
    pair = TunnelPair()
    pair.establish(0.0)
    packet = pair.ping(pair.a)
    pair.receive(pair.b, seal_raw(pair.a, packet + b"\xff" * 5), pair.a.addr, 1.0)
    six = pair.ping(pair.a, v6=True)
    pair.receive(pair.b, seal_raw(pair.a, six + b"\xff" * 9), pair.a.addr, 1.0)
    assert pair.b.delivered == [packet, six]


def test_a_decrypted_payload_that_is_not_ip_is_dropped_as_not_ip():
    pair = TunnelPair()
    pair.establish(0.0)
    four = pair.ping(pair.a)
    six = pair.ping(pair.a, v6=True)
    bad = [
        b"\x50" + b"\x00" * 39,                              # version 5
        b"\x00" * 40,                                        # version 0
        b"\xf0" * 64,                                        # version 15
        four[:19],                                           # shorter than an IPv4 header
        four[:2] + (len(four) + 1).to_bytes(2, "big") + four[4:],   # total length past the end
        four[:2] + (19).to_bytes(2, "big") + four[4:],       # total length below the header
        six[:39],                                            # shorter than an IPv6 header
        six[:4] + (len(six) - 39).to_bytes(2, "big") + six[6:],     # payload length past the end
        b"\x45",                                             # one byte
    ]
    for payload in bad:
        out = pair.receive(pair.b, seal_raw(pair.a, payload), pair.a.addr, 1.0)
        assert [a.reason for a in out if a.kind == 3] == [drops.NOT_IP], payload
    assert pair.b.delivered == []
    assert pair.b.device.drops[drops.NOT_IP] == len(bad)


def test_sending_a_packet_that_is_not_ip_is_dropped_as_not_ip():
    pair = TunnelPair()
    pair.establish(0.0)
    for packet in (b"", b"\x45" * 19, b"\x60" + b"\x00" * 30, b"\x10" + b"\x00" * 40):
        assert [a.reason for a in pair.send(pair.a, packet, 1.0)] == [drops.NOT_IP]
    assert pair.a.sent == []


def test_a_keepalive_authenticates_but_delivers_nothing():
    pair = TunnelPair()
    pair.establish(0.0)
    before = pair.b.peer.rx_bytes
    out = pair.receive(pair.b, seal_raw(pair.a, b""), pair.a.addr, 1.0)
    assert out == [] and pair.b.delivered == []
    assert pair.b.peer.rx_bytes == before + 32


def test_a_tampered_transport_packet_fails_and_does_not_burn_its_counter():
    pair = TunnelPair()
    pair.establish(0.0)
    genuine = seal_raw(pair.a, pair.ping(pair.a))
    for position in (16, len(genuine) - 1):
        tampered = bytearray(genuine)
        tampered[position] ^= 1
        pair.receive(pair.b, bytes(tampered), pair.a.addr, 1.0)
    # A changed counter is a different nonce: authentication fails too.
    moved = bytearray(genuine)
    moved[14] ^= 1
    pair.receive(pair.b, bytes(moved), pair.a.addr, 1.0)
    assert pair.b.drops == [drops.DECRYPT_FAILED] * 3
    pair.receive(pair.b, genuine, pair.a.addr, 1.0)
    assert len(pair.b.delivered) == 1


def test_a_packet_for_a_peer_without_endpoint_is_dropped_with_no_endpoint():
    pair = TunnelPair(a_knows_endpoint=False)
    out = pair.send(pair.a, pair.ping(pair.a), 0.0)
    assert [a.reason for a in out] == [drops.NO_ENDPOINT]
    assert pair.a.sent == [] and pair.a.peer.staged == []


def test_staged_packets_are_sent_in_order_once_the_handshake_completes():
    pair = TunnelPair()
    pair.a.link.hold = True
    packets = [pair.ping(pair.a, payload=bytes([n]) * 8) for n in range(5)]
    for packet in packets:
        pair.send(pair.a, packet, 0.0)
    pair.flush(0.0)
    assert len(pair.a.link.held) == 1           # one initiation for all of them
    assert pair.a.peer.staged == packets
    pair.a.link.hold = False
    pair.release(pair.a, 0.1)
    assert pair.b.delivered == packets


def test_the_staged_queue_is_bounded_and_drops_the_oldest_with_queue_full():
    pair = TunnelPair()
    pair.a.link.hold = True
    packets = [pair.ping(pair.a, payload=n.to_bytes(2, "big")) for n in range(STAGED_PACKETS_MAX + 3)]
    for packet in packets:
        pair.send(pair.a, packet, 0.0)
    assert pair.a.drops == [drops.QUEUE_FULL] * 3
    assert pair.a.device.drops[drops.QUEUE_FULL] == 3
    assert pair.a.peer.staged == packets[3:]
    pair.a.link.hold = False
    pair.release(pair.a, 0.1)
    assert pair.b.delivered == packets[3:]


def test_a_duplicated_transport_packet_is_delivered_once():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.a.link.duplicate = True
    packet = pair.send_ping(pair.a, 1.0)
    assert pair.b.delivered == [packet]
    assert pair.b.drops == [drops.REPLAYED]


def test_reordered_packets_are_all_delivered():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.a.link.reorder = True
    packets = [pair.ping(pair.a, payload=bytes([n])) for n in range(6)]
    for packet in packets:
        pair.send(pair.a, packet, 1.0)
    pair.flush(1.0)
    assert pair.b.delivered == packets[::-1]
    assert pair.b.drops == []


def test_a_lost_packet_does_not_stop_later_ones():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.a.link.drop_count = 1
    lost = pair.send_ping(pair.a, 1.0, payload=b"lost")
    kept = pair.send_ping(pair.a, 1.0, payload=b"kept")
    assert pair.b.delivered == [kept] and lost not in pair.b.delivered


def _rekey_with_b_unconfirmed(pair, now):
    """a rekeys at `now`, but its packets on the new session are lost, so
    b holds the new keys as `next`."""
    pair.a.link.drop_types = (MSG_TRANSPORT,)
    pair.send_ping(pair.a, now)
    pair.a.link.heal()
    assert pair.a.peer.previous is not None
    assert pair.b.peer.next is not None


def test_the_responders_next_session_waits_for_the_initiators_first_data():
    pair = TunnelPair()
    pair.establish(0.0)
    old = pair.b.peer.current
    _rekey_with_b_unconfirmed(pair, REKEY_AFTER_TIME + 1.0)
    new = pair.b.peer.next
    assert pair.b.peer.current is old and HANDSHAKE_COMPLETE not in pair.b.events
    # b still sends on the old session; a accepts it as its previous one.
    back = pair.send_ping(pair.b, REKEY_AFTER_TIME + 2.0)
    assert pair.a.delivered == [back]
    assert pair.b.peer.current is old
    # The first data on the new session promotes it.
    packet = pair.send_ping(pair.a, REKEY_AFTER_TIME + 3.0)
    assert pair.b.delivered[-1] == packet
    assert pair.b.peer.current is new and pair.b.peer.next is None
    assert pair.b.peer.previous is old
    assert pair.b.events == [HANDSHAKE_COMPLETE]
    assert pair.b.peer.last_handshake == REKEY_AFTER_TIME + 3.0


def test_packets_staged_by_the_responder_leave_when_its_next_session_is_confirmed():
    pair = TunnelPair()
    pair.a.link.drop_types = (MSG_TRANSPORT,)
    pair.send_ping(pair.a, 0.0)
    pair.a.link.heal()
    assert pair.b.peer.current is None and pair.b.peer.next is not None
    pair.b.link.hold = True
    waiting = pair.send_ping(pair.b, 0.5)       # no current session: staged, b initiates
    assert pair.b.peer.staged == [waiting]
    pair.b.link.held = []
    pair.b.link.hold = False
    pair.send_ping(pair.a, 1.0)                 # confirms b's next session
    assert pair.a.delivered == [waiting]
    assert pair.b.peer.staged == []


def test_packets_in_flight_on_the_previous_session_are_accepted_after_a_rekey():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.b.link.hold = True
    in_flight = [pair.send_ping(pair.b, 100.0, payload=bytes([n])) for n in range(3)]
    pair.b.link.hold = False
    held = pair.b.link.held
    pair.b.link.held = []
    pair.send_ping(pair.a, REKEY_AFTER_TIME + 1.0)  # a rekeys; b confirms
    assert pair.a.peer.previous is not None and pair.b.peer.previous is not None
    pair.clear()
    for datagram in held:
        pair.receive(pair.a, datagram, pair.b.addr, REKEY_AFTER_TIME + 2.0)
    assert pair.a.delivered == in_flight and pair.a.drops == []


def test_packets_on_the_session_before_previous_are_dropped():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.b.link.hold = True
    pair.send_ping(pair.b, 100.0)
    pair.b.link.hold = False
    stale = pair.b.link.held[0]
    pair.b.link.held = []
    pair.send_ping(pair.a, REKEY_AFTER_TIME + 1.0)          # second session
    pair.send_ping(pair.a, 2 * REKEY_AFTER_TIME + 2.0)      # third session
    pair.clear()
    pair.receive(pair.a, stale, pair.b.addr, 2 * REKEY_AFTER_TIME + 3.0)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]


def test_transport_to_an_unknown_index_is_dropped():
    pair = TunnelPair()
    pair.establish(0.0)
    packet = bytearray(seal_raw(pair.a, pair.ping(pair.a)))
    packet[4:8] = ((int.from_bytes(packet[4:8], "little") + 1) & 0xFFFFFFFF).to_bytes(4, "little")
    pair.receive(pair.b, bytes(packet), pair.a.addr, 1.0)
    assert pair.b.drops == [drops.UNKNOWN_INDEX]


def test_transport_to_a_handshake_index_is_dropped_as_unknown_index():
    pair = TunnelPair()
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    forged = bytes([MSG_TRANSPORT, 0, 0, 0]) + initiation[4:8] + bytes(8 + 32)
    pair.receive(pair.a, forged, pair.b.addr, 0.0)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]
    assert initiation[0] == MSG_INITIATION


def test_byte_counters_count_transport_datagrams():
    pair = TunnelPair()
    pair.establish(0.0)
    a_tx, b_rx = pair.a.peer.tx_bytes, pair.b.peer.rx_bytes
    pair.send_ping(pair.a, 1.0)
    sent = sum([len(d) for d in of_type(pair.a.sent, MSG_TRANSPORT)])
    assert pair.a.peer.tx_bytes - a_tx == sent
    assert pair.b.peer.rx_bytes - b_rx == sent
