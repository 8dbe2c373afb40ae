"""Handshakes through Device (noise.py, device.py): both directions, preshared
keys, and the checks that refuse replayed, flooded, forged or unknown
initiations before they cost the responder a session."""

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.actions import (HANDSHAKE_INITIATED, HANDSHAKE_COMPLETE)
from vpnspot_router.core.wireguard.constants import INITIATION_SIZE, RESPONSE_SIZE
from vpnspot_router.core.wireguard.device import Device

from .pair import (TunnelPair, MSG_INITIATION, MSG_RESPONSE, MSG_TRANSPORT, of_type, private_key,
                   raises, with_mac1, get_provider, icmp_echo, B_V4, B_ADDR)

OTHER_ADDR = ("198.51.100.3", 51820)


def test_a_handshake_started_by_a_completes_and_delivers_the_first_packet():
    pair = TunnelPair()
    packet = pair.send_ping(pair.a, 0.0)
    assert [len(d) for d in pair.a.sent[:1]] == [INITIATION_SIZE]
    assert [len(d) for d in pair.b.sent[:1]] == [RESPONSE_SIZE]
    assert pair.b.delivered == [packet]
    assert pair.a.peer.current.initiator and not pair.b.peer.current.initiator
    assert pair.a.drops == [] and pair.b.drops == []


def test_a_handshake_started_by_b_completes_in_the_other_direction():
    pair = TunnelPair()
    packet = pair.send_ping(pair.b, 0.0)
    assert pair.a.delivered == [packet]
    assert pair.b.peer.current.initiator and not pair.a.peer.current.initiator
    reply = pair.send_ping(pair.a, 0.5)
    assert pair.b.delivered == [reply]


def test_both_ends_derive_mirrored_transport_keys():
    pair = TunnelPair()
    pair.establish(0.0)
    a, b = pair.a.peer.current, pair.b.peer.current
    assert a.remote_index == b.local_index and b.remote_index == a.local_index
    sealed = a.send.seal(7, b"probe", b"")
    assert b.receive.open(7, sealed, b"") == b"probe"
    assert a.receive.open(7, sealed, b"") is None


def test_the_initiator_reports_complete_at_once_and_the_responder_on_first_data():
    pair = TunnelPair()
    pair.a.link.drop_types = (MSG_TRANSPORT,)
    pair.send_ping(pair.a, 0.0)
    assert pair.a.events == [HANDSHAKE_INITIATED, HANDSHAKE_COMPLETE]
    assert pair.b.events == []
    assert pair.b.peer.current is None and pair.b.peer.next is not None
    assert pair.a.peer.last_handshake == 0.0 and pair.b.peer.last_handshake is None
    pair.a.link.heal()
    pair.send_ping(pair.a, 1.0)
    assert pair.b.events == [HANDSHAKE_COMPLETE]
    assert pair.b.peer.last_handshake == 1.0


def test_the_initiator_confirms_the_session_with_a_keepalive_when_nothing_is_staged():
    pair = TunnelPair(a_keepalive=25)   # starts a handshake with no packet staged
    pair.tick(0.0)
    pair.flush(0.0)
    assert [len(d) for d in of_type(pair.a.sent, MSG_TRANSPORT)] == [32]
    assert pair.b.events == [HANDSHAKE_COMPLETE] and pair.b.peer.current is not None
    assert pair.b.delivered == []


def test_a_handshake_with_the_same_preshared_key_on_both_sides_completes():
    psk = bytes(range(32))
    pair = TunnelPair(a_psk=psk, b_psk=psk)
    packet = pair.send_ping(pair.a, 0.0)
    assert pair.b.delivered == [packet]
    back = pair.send_ping(pair.b, 0.1, v6=True)
    assert pair.a.delivered == [back]


def test_mismatched_preshared_keys_fail_the_response_with_handshake_decrypt():
    pair = TunnelPair(a_psk=b"\x01" * 32, b_psk=b"\x02" * 32)
    pair.send_ping(pair.a, 0.0)
    assert pair.a.drops == [drops.HANDSHAKE_DECRYPT]
    assert pair.a.peer.current is None and pair.a.peer.staged
    assert pair.b.delivered == []
    assert HANDSHAKE_COMPLETE not in pair.a.events


def test_a_preshared_key_on_one_side_only_fails_the_handshake():
    for a_psk, b_psk in ((b"\x05" * 32, None), (None, b"\x05" * 32)):
        pair = TunnelPair(a_psk=a_psk, b_psk=b_psk)
        pair.send_ping(pair.a, 0.0)
        assert pair.a.drops == [drops.HANDSHAKE_DECRYPT]
        assert pair.b.delivered == []


def _two_initiations(pair):
    """Two initiations from a, about REKEY_TIMEOUT apart (so their
    timestamps differ), both kept off the wire."""
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    pair.advance(6.0)
    held = of_type(pair.a.link.held, MSG_INITIATION)
    assert len(held) == 2
    pair.a.link.held = []
    pair.a.link.hold = False
    return held


def test_a_replayed_initiation_with_the_same_timestamp_is_dropped():
    pair = TunnelPair()
    first, second = _two_initiations(pair)
    pair.b.link.drop_all = True
    pair.receive(pair.b, first, pair.a.addr, 10.0)
    assert pair.b.drops == [] and len(pair.b.sent) == 1
    pair.receive(pair.b, first, pair.a.addr, 11.0)
    assert pair.b.drops == [drops.REPLAYED_HANDSHAKE]
    assert len(pair.b.sent) == 1
    # An older timestamp is a replay too, however late it arrives.
    pair.receive(pair.b, second, pair.a.addr, 12.0)
    pair.receive(pair.b, first, pair.a.addr, 5000.0)
    assert pair.b.drops == [drops.REPLAYED_HANDSHAKE, drops.REPLAYED_HANDSHAKE]
    assert pair.b.device.drops[drops.REPLAYED_HANDSHAKE] == 2


def test_two_initiations_within_20_ms_are_a_flood_and_the_second_is_dropped():
    pair = TunnelPair()
    first, second = _two_initiations(pair)
    pair.b.link.drop_all = True
    pair.receive(pair.b, first, pair.a.addr, 10.0)
    pair.receive(pair.b, second, pair.a.addr, 10.01)
    assert pair.b.drops == [drops.HANDSHAKE_FLOOD]
    assert len(pair.b.sent) == 1


def test_initiations_more_than_20_ms_apart_are_both_answered():
    pair = TunnelPair()
    first, second = _two_initiations(pair)
    pair.b.link.drop_all = True
    pair.receive(pair.b, first, pair.a.addr, 10.0)
    pair.receive(pair.b, second, pair.a.addr, 10.03)
    assert pair.b.drops == []
    assert len(of_type(pair.b.sent, MSG_RESPONSE)) == 2


def test_an_initiation_from_an_unknown_peer_is_dropped():
    provider = get_provider()
    pair = TunnelPair()
    stranger = Device(provider, private_key(3))
    stranger.add_peer(pair.b.device.public_key, endpoint=B_ADDR, allowed_ips=["0.0.0.0/0"])
    out = stranger.send_packet(icmp_echo("10.77.0.3", B_V4), 0.0)
    initiation = out[0].data
    pair.receive(pair.b, initiation, OTHER_ADDR, 0.0)
    assert pair.b.drops == [drops.UNKNOWN_PEER]
    assert pair.b.sent == []
    assert pair.b.peer.endpoint == pair.a.addr


def test_an_initiation_for_another_responder_fails_mac1():
    provider = get_provider()
    pair = TunnelPair()
    stranger = Device(provider, private_key(3))
    stranger.add_peer(Device(provider, private_key(4)).public_key, endpoint=B_ADDR,
                      allowed_ips=["0.0.0.0/0"])
    initiation = stranger.send_packet(icmp_echo("10.77.0.3", B_V4), 0.0)[0].data
    pair.receive(pair.b, initiation, OTHER_ADDR, 0.0)
    assert pair.b.drops == [drops.BAD_MAC1]


def test_a_handshake_message_with_a_bad_mac1_is_dropped():
    pair = TunnelPair()
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    for position in (8, 100, 116, 131):     # ephemeral, timestamp, first and last MAC1 byte
        forged = bytearray(initiation)
        forged[position] ^= 1
        pair.receive(pair.b, bytes(forged), pair.a.addr, 1.0)
    assert pair.b.drops == [drops.BAD_MAC1] * 4
    assert pair.b.peer.next is None and pair.b.sent == []
    # The response is checked the same way.
    pair.b.link.hold = True
    pair.deliver(pair.a, initiation, 1.0)
    pair.flush(1.0)
    response = bytearray(pair.b.link.held[0])
    response[70] ^= 0x80
    pair.receive(pair.a, bytes(response), pair.b.addr, 1.0)
    assert pair.a.drops == [drops.BAD_MAC1]
    assert pair.a.peer.current is None


def test_an_initiation_with_a_valid_mac1_but_corrupted_static_fails_to_decrypt():
    pair = TunnelPair()
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = bytearray(pair.a.link.held[0])
    initiation[50] ^= 1
    forged = with_mac1(pair.provider, bytes(initiation), pair.b.device.public_key)
    pair.receive(pair.b, forged, pair.a.addr, 1.0)
    assert pair.b.drops == [drops.HANDSHAKE_DECRYPT]


def test_an_initiation_with_a_low_order_ephemeral_key_is_dropped():
    pair = TunnelPair()
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    forged = with_mac1(pair.provider, initiation[:8] + b"\x00" * 32 + initiation[40:],
                       pair.b.device.public_key)
    pair.receive(pair.b, forged, pair.a.addr, 1.0)
    assert pair.b.drops == [drops.HANDSHAKE_DECRYPT]


def test_a_duplicated_response_is_dropped_as_unknown_index():
    pair = TunnelPair()
    pair.b.link.duplicate = True
    packet = pair.send_ping(pair.a, 0.0)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]
    assert pair.b.delivered == [packet]


def test_a_response_to_an_initiation_that_was_retransmitted_is_dropped():
    pair = TunnelPair()
    pair.b.link.hold = True
    pair.send_ping(pair.a, 0.0)
    pair.advance(6.0)                   # a retransmits: its first index is gone
    first_response, second_response = pair.b.link.held
    pair.b.link.held = []
    pair.receive(pair.a, first_response, pair.b.addr, 6.0)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]
    pair.receive(pair.a, second_response, pair.b.addr, 6.0)
    assert HANDSHAKE_COMPLETE in pair.a.events


def test_a_response_aimed_at_a_session_index_is_dropped():
    pair = TunnelPair()
    pair.establish(0.0)
    index = pair.a.peer.current.local_index
    response = bytearray(RESPONSE_SIZE)
    response[0] = MSG_RESPONSE
    response[8:12] = index.to_bytes(4, "little")
    forged = with_mac1(pair.provider, bytes(response), pair.a.device.public_key)
    pair.receive(pair.a, forged, pair.b.addr, 10.0)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]
    assert pair.a.peer.current.local_index == index


def test_simultaneous_initiations_from_both_sides_recover_within_one_retransmit():
    pair = TunnelPair()
    to_b = pair.ping(pair.a)
    to_a = pair.ping(pair.b)
    pair.send(pair.a, to_b, 0.0)
    pair.send(pair.b, to_a, 0.0)
    pair.flush(0.0)
    pair.advance(6.0)
    assert pair.b.delivered == [to_b]
    assert pair.a.delivered == [to_a]


def test_device_and_add_peer_refuse_bad_configuration():
    provider = get_provider()
    raises(ValueError, Device, provider, b"\x01" * 31)
    dev = Device(provider, private_key(1))
    other = Device(provider, private_key(2)).public_key
    raises(ValueError, dev.add_peer, other[:31])
    raises(ValueError, dev.add_peer, b"\x00" * 32)          # low-order point
    raises(ValueError, dev.add_peer, other, b"\x00" * 16)   # short preshared key
    raises(ValueError, dev.add_peer, other, None, None, ["10.0.0.0/33"])
    dev.add_peer(other)
    raises(ValueError, dev.add_peer, other)


def test_secrets_do_not_print():
    pair = TunnelPair()
    pair.establish(0.0)
    text = repr(pair.a.peer.current) + repr(pair.a.peer.handshake)
    assert "redacted" in text
    assert repr(pair.a.peer.current.send) not in text


def test_handshakes_count_in_the_peer_byte_counters():
    pair = TunnelPair()
    pair.send_ping(pair.a, 0.0)
    assert pair.a.peer.tx_bytes == sum([len(d) for d in pair.a.sent])
    assert pair.b.peer.rx_bytes == pair.a.peer.tx_bytes
    assert pair.b.peer.tx_bytes == sum([len(d) for d in pair.b.sent])
    assert pair.a.peer.rx_bytes == pair.b.peer.tx_bytes

