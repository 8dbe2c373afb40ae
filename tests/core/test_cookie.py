"""Cookie mode (cookie.py, device.py): under load a handshake message without a
valid MAC2 costs the responder one cookie reply and no Diffie-Hellman; the
initiator stores the cookie and its retry proves its address."""

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.actions import COOKIE_RECEIVED, HANDSHAKE_COMPLETE
from vpnspot_router.core.wireguard.constants import (COOKIE_REPLY_SIZE, UNDER_LOAD_THRESHOLD,
                                                     UNDER_LOAD_HOLD)

from .pair import (TunnelPair, MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, of_type,
                   receiver_of, sender_of, ROAMED_ADDR)


def test_under_load_an_initiation_without_mac2_is_answered_with_a_64_byte_cookie_reply():
    pair = TunnelPair()
    pair.b.device.force_under_load = True
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    assert initiation[-16:] == bytes(16)        # no cookie yet: MAC2 is zero
    out = pair.receive(pair.b, initiation, pair.a.addr, 0.0)
    assert [a.kind for a in out] == [1, 3]      # a reply, then the drop
    reply = out[0].data
    assert len(reply) == COOKIE_REPLY_SIZE and reply[0] == MSG_COOKIE_REPLY
    assert out[0].addr == pair.a.addr
    assert receiver_of(reply) == sender_of(initiation)
    assert pair.b.drops == [drops.BAD_MAC2]
    # No handshake work was done: no session, no response.
    assert pair.b.peer.next is None and of_type(pair.b.sent, MSG_RESPONSE) == []


def test_the_initiator_stores_the_cookie_and_its_retry_carries_a_valid_mac2_and_succeeds():
    pair = TunnelPair()
    pair.b.device.force_under_load = True
    packet = pair.send_ping(pair.a, 0.0)
    assert pair.a.events[-1] == COOKIE_RECEIVED
    assert pair.a.peer.cookies.cookie is not None
    assert pair.b.delivered == []
    times = pair.advance(6.0)                   # the retransmit
    retry = of_type(pair.a.sent, MSG_INITIATION)[-1]
    assert retry[-16:] != bytes(16)
    assert pair.b.device.cookie_checker.check_mac2(retry, pair.a.addr, times[0])
    assert pair.b.delivered == [packet]
    assert HANDSHAKE_COMPLETE in pair.a.events


def test_an_initiator_under_load_demands_a_cookie_from_the_responder_too():
    pair = TunnelPair()
    pair.a.device.force_under_load = True
    packet = pair.send_ping(pair.a, 0.0)
    assert pair.a.drops == [drops.BAD_MAC2]
    assert COOKIE_RECEIVED in pair.b.events
    pair.advance(6.0)
    assert pair.b.delivered == [packet]


def test_more_handshake_messages_than_the_threshold_per_second_turn_on_cookie_mode():
    pair = TunnelPair()
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    pair.b.link.drop_all = True
    for n in range(UNDER_LOAD_THRESHOLD):
        pair.receive(pair.b, initiation, pair.a.addr, 1.0 + n * 0.001)
    assert drops.BAD_MAC2 not in pair.b.drops
    assert of_type(pair.b.sent, MSG_COOKIE_REPLY) == []
    pair.receive(pair.b, initiation, pair.a.addr, 1.5)
    assert pair.b.drops[-1] == drops.BAD_MAC2
    assert len(of_type(pair.b.sent, MSG_COOKIE_REPLY)) == 1
    assert pair.b.device.under_load(1.5)


def test_a_lower_threshold_is_honoured():
    pair = TunnelPair()
    pair.b.device.under_load_threshold = 2
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    pair.b.link.drop_all = True
    for n in range(3):
        pair.receive(pair.b, initiation, pair.a.addr, 1.0)
    assert len(of_type(pair.b.sent, MSG_COOKIE_REPLY)) == 1


def test_cookie_mode_ends_after_the_load_drops():
    pair = TunnelPair()
    pair.b.device.under_load_threshold = 2
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    pair.a.link.held = []
    pair.a.link.hold = False
    pair.b.link.drop_all = True
    for n in range(3):
        pair.receive(pair.b, initiation, pair.a.addr, 1.0)
    assert pair.b.device.under_load(1.0 + UNDER_LOAD_HOLD - 0.01)
    assert not pair.b.device.under_load(1.0 + UNDER_LOAD_HOLD + 0.01)
    pair.b.link.heal()
    pair.clear()
    packet = pair.send_ping(pair.a, 10.0)
    assert pair.b.delivered[-1] == packet and pair.b.drops == []


def test_a_cookie_reply_for_an_unknown_index_is_dropped():
    pair = TunnelPair()
    reply = bytes([MSG_COOKIE_REPLY, 0, 0, 0]) + (12345).to_bytes(4, "little") + bytes(56)
    pair.receive(pair.a, reply, pair.b.addr, 0.0)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]


def test_a_cookie_reply_with_a_bad_tag_is_dropped_as_bad_cookie():
    pair = TunnelPair()
    pair.b.device.force_under_load = True
    pair.b.link.hold = True
    pair.send_ping(pair.a, 0.0)
    reply = pair.b.link.held[0]
    for position in (8, 40, 63):            # nonce, sealed cookie, tag
        forged = bytearray(reply)
        forged[position] ^= 1
        pair.receive(pair.a, bytes(forged), pair.b.addr, 0.0)
    assert pair.a.drops == [drops.BAD_COOKIE] * 3
    assert pair.a.peer.cookies.cookie is None
    pair.receive(pair.a, reply, pair.b.addr, 0.0)
    assert pair.a.peer.cookies.cookie is not None


def test_a_cookie_reply_answering_an_older_message_is_dropped():
    # The reply is bound to the MAC1 it answers; a retry has a new MAC1.
    pair = TunnelPair()
    pair.b.device.force_under_load = True
    pair.b.link.hold = True
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    first = pair.a.link.held[0]
    pair.receive(pair.b, first, pair.a.addr, 0.0)
    reply = pair.b.sent[0]
    pair.advance(6.0)                       # a retransmits: its MAC1 changed
    pair.receive(pair.a, bytes([MSG_COOKIE_REPLY, 0, 0, 0]) + pair.a.link.held[-1][4:8]
                 + reply[8:], pair.b.addr, 6.0)
    assert pair.a.drops == [drops.BAD_COOKIE]


def test_a_cookie_is_bound_to_the_address_it_was_given_to():
    pair = TunnelPair()
    pair.b.device.force_under_load = True
    pair.send_ping(pair.a, 0.0)
    assert pair.a.peer.cookies.cookie is not None
    pair.a.link.source = ROAMED_ADDR        # a's retry arrives from another address
    pair.advance(6.0)
    assert pair.b.drops == [drops.BAD_MAC2, drops.BAD_MAC2]
    assert pair.b.delivered == []
    assert pair.lost and pair.lost[-1][1] == ROAMED_ADDR


def test_transport_data_is_not_subject_to_cookie_mode():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.b.device.force_under_load = True
    packet = pair.send_ping(pair.a, 1.0)
    assert pair.b.delivered == [packet]


def test_shrinking_cookie_refresh_time_expires_cookies():
    pair = TunnelPair()
    pair.a.device.timing.cookie_refresh_time = 10.0
    pair.b.device.timing.cookie_refresh_time = 10.0
    pair.b.device.force_under_load = True
    pair.send_ping(pair.a, 0.0)
    assert pair.a.peer.cookies.cookie is not None
    pair.clear()
    pair.tick(20.0)                         # the retry, with a cookie 20 s old
    pair.flush(20.0)
    assert pair.b.drops == [drops.BAD_MAC2]
    assert HANDSHAKE_COMPLETE not in pair.a.events
