"""Malformed datagrams (messages.py, device.py): every kind of bad input is a
Drop with the right reason, counted, and never an exception."""

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard import messages
from vpnspot_router.core.wireguard.constants import (INITIATION_SIZE, RESPONSE_SIZE,
                                                     COOKIE_REPLY_SIZE, TRANSPORT_MIN_SIZE,
                                                     MAX_DATAGRAM_SIZE)

from .pair import TunnelPair, MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, MSG_TRANSPORT


def _msg(kind, size, fill=0):
    return bytes([kind, 0, 0, 0]) + bytes([fill]) * (size - 4)


CASES = [
    # (name, datagram, reason)
    ("empty", b"", drops.TOO_SHORT),
    ("one byte", b"\x01", drops.TOO_SHORT),
    ("three bytes", b"\x04\x00\x00", drops.TOO_SHORT),
    ("initiation one short", _msg(MSG_INITIATION, INITIATION_SIZE - 1), drops.WRONG_SIZE),
    ("initiation one long", _msg(MSG_INITIATION, INITIATION_SIZE + 1), drops.WRONG_SIZE),
    ("initiation header only", _msg(MSG_INITIATION, 4), drops.WRONG_SIZE),
    ("response one short", _msg(MSG_RESPONSE, RESPONSE_SIZE - 1), drops.WRONG_SIZE),
    ("response one long", _msg(MSG_RESPONSE, RESPONSE_SIZE + 1), drops.WRONG_SIZE),
    ("response initiation-sized", _msg(MSG_RESPONSE, INITIATION_SIZE), drops.WRONG_SIZE),
    ("cookie reply one short", _msg(MSG_COOKIE_REPLY, COOKIE_REPLY_SIZE - 1), drops.WRONG_SIZE),
    ("cookie reply one long", _msg(MSG_COOKIE_REPLY, COOKIE_REPLY_SIZE + 1), drops.WRONG_SIZE),
    ("truncated transport", _msg(MSG_TRANSPORT, TRANSPORT_MIN_SIZE - 1), drops.TOO_SHORT),
    ("transport header only", _msg(MSG_TRANSPORT, 16), drops.TOO_SHORT),
    ("type zero", _msg(0, 148), drops.UNKNOWN_TYPE),
    ("type five", _msg(5, 64), drops.UNKNOWN_TYPE),
    ("type 255", _msg(255, 32), drops.UNKNOWN_TYPE),
    ("reserved byte 1 set", b"\x01\x01\x00\x00" + bytes(INITIATION_SIZE - 4), drops.UNKNOWN_TYPE),
    ("reserved byte 2 set", b"\x02\x00\x01\x00" + bytes(RESPONSE_SIZE - 4), drops.UNKNOWN_TYPE),
    ("reserved byte 3 set", b"\x04\x00\x00\x80" + bytes(60), drops.UNKNOWN_TYPE),
    ("oversized transport", _msg(MSG_TRANSPORT, MAX_DATAGRAM_SIZE + 1), drops.OVERSIZED),
    ("oversized garbage", b"\xff" * (MAX_DATAGRAM_SIZE + 1), drops.OVERSIZED),
    ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", drops.UNKNOWN_TYPE),
    ("dns-looking garbage", b"\x12\x34\x01\x00\x00\x01" + bytes(30), drops.UNKNOWN_TYPE),
    ("zero initiation", _msg(MSG_INITIATION, INITIATION_SIZE), drops.BAD_MAC1),
    ("zero response", _msg(MSG_RESPONSE, RESPONSE_SIZE), drops.BAD_MAC1),
    ("random-index cookie reply", _msg(MSG_COOKIE_REPLY, COOKIE_REPLY_SIZE, 0x5a), drops.UNKNOWN_INDEX),
    ("random-index transport", _msg(MSG_TRANSPORT, 100, 0x5a), drops.UNKNOWN_INDEX),
    ("keepalive-sized unknown", _msg(MSG_TRANSPORT, TRANSPORT_MIN_SIZE, 0x77), drops.UNKNOWN_INDEX),
]


def test_parse_returns_the_reason_for_every_malformed_datagram():
    for name, data, reason in CASES:
        if reason in (drops.BAD_MAC1, drops.UNKNOWN_INDEX):
            continue                        # well-formed: refused later
        assert messages.parse(data) == reason, name


def test_parse_accepts_every_well_formed_size():
    assert messages.parse(_msg(MSG_INITIATION, INITIATION_SIZE)).type == MSG_INITIATION
    assert messages.parse(_msg(MSG_RESPONSE, RESPONSE_SIZE)).type == MSG_RESPONSE
    assert messages.parse(_msg(MSG_COOKIE_REPLY, COOKIE_REPLY_SIZE)).type == MSG_COOKIE_REPLY
    assert messages.parse(_msg(MSG_TRANSPORT, TRANSPORT_MIN_SIZE)).type == MSG_TRANSPORT
    assert messages.parse(_msg(MSG_TRANSPORT, MAX_DATAGRAM_SIZE)).type == MSG_TRANSPORT


def test_parsed_fields_sit_at_the_whitepaper_offsets():
    init = messages.parse(messages.pack_initiation(0x01020304, b"e" * 32, b"s" * 48, b"t" * 28))
    assert (init.sender, init.ephemeral, init.encrypted_static, init.encrypted_timestamp) == \
        (0x01020304, b"e" * 32, b"s" * 48, b"t" * 28)
    assert init.mac1 == bytes(16) and init.mac2 == bytes(16)
    resp = messages.parse(messages.pack_response(7, 0xfffffffe, b"E" * 32, b"n" * 16))
    assert (resp.sender, resp.receiver, resp.ephemeral, resp.encrypted_nothing) == \
        (7, 0xfffffffe, b"E" * 32, b"n" * 16)
    reply = messages.parse(messages.pack_cookie_reply(9, b"N" * 24, b"c" * 32))
    assert (reply.receiver, reply.nonce, reply.encrypted_cookie) == (9, b"N" * 24, b"c" * 32)
    data = messages.transport_header(0xabcdef01, (1 << 64) - 1) + bytes(16)
    transport = messages.parse(data)
    assert (transport.receiver, transport.counter) == (0xabcdef01, (1 << 64) - 1)
    assert data[:4] == b"\x04\x00\x00\x00"


def test_every_malformed_datagram_becomes_the_right_drop_on_a_fresh_device():
    pair = TunnelPair()
    for name, data, reason in CASES:
        out = pair.receive(pair.b, data, pair.a.addr, 1.0)
        assert [(a.kind, a.reason) for a in out] == [(3, reason)], name
    assert pair.b.sent == [] and pair.b.delivered == []
    total = 0
    for reason in pair.b.device.drops:
        total += pair.b.device.drops[reason]
    assert total == len(CASES)


def test_every_malformed_datagram_is_dropped_on_a_device_with_a_session():
    pair = TunnelPair()
    pair.establish(0.0)
    for name, data, reason in CASES:
        out = pair.receive(pair.a, data, pair.b.addr, 1.0)
        assert [a.reason for a in out] == [reason], name
    # The session is unharmed.
    packet = pair.send_ping(pair.b, 2.0)
    assert pair.a.delivered == [packet]
    assert pair.a.peer.endpoint == pair.b.addr


def test_a_transport_with_a_valid_index_and_a_garbage_body_fails_authentication():
    pair = TunnelPair()
    pair.establish(0.0)
    index = pair.b.peer.current.local_index.to_bytes(4, "little")
    for body in (bytes(16), b"\xff" * 16, bytes(100), b"\x01" * 1500):
        data = b"\x04\x00\x00\x00" + index + (5).to_bytes(8, "little") + body
        out = pair.receive(pair.b, data, pair.a.addr, 1.0)
        assert [a.reason for a in out] == [drops.DECRYPT_FAILED]


def test_drop_reasons_have_names():
    for reason in drops.all_reasons():
        assert drops.name(reason) and "reason-" not in drops.name(reason)
    assert drops.name(999) == "reason-999"
