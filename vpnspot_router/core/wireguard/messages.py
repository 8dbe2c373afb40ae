"""The four WireGuard messages (whitepaper 5.4): parse once, then dispatch.

`parse(data)` checks type, reserved bytes and exact sizes and returns a
tagged message object or an int drop reason; it never raises on peer input.
Builders return bytes with MAC fields zeroed; cookie.py fills them in, since
MAC1 covers everything before it and MAC2 everything before that.

Layouts (little-endian integers):
  initiation  148: type u8, 3 zero, sender u32, ephemeral 32, static 48, timestamp 28, mac1 16, mac2 16
  response     92: type u8, 3 zero, sender u32, receiver u32, ephemeral 32, empty 16, mac1 16, mac2 16
  cookie reply 64: type u8, 3 zero, receiver u32, nonce 24, cookie 32
  transport  >=32: type u8, 3 zero, receiver u32, counter u64, packet+tag
"""

import struct

from . import drops
from .constants import (MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, MSG_TRANSPORT,
                        INITIATION_SIZE, RESPONSE_SIZE, COOKIE_REPLY_SIZE,
                        TRANSPORT_MIN_SIZE, MAX_DATAGRAM_SIZE)


class Initiation:
    type = MSG_INITIATION

    def __init__(self, data):
        self.raw = data
        self.sender = struct.unpack_from("<I", data, 4)[0]
        self.ephemeral = data[8:40]
        self.encrypted_static = data[40:88]
        self.encrypted_timestamp = data[88:116]
        self.mac1 = data[116:132]
        self.mac2 = data[132:148]


class Response:
    type = MSG_RESPONSE

    def __init__(self, data):
        self.raw = data
        self.sender, self.receiver = struct.unpack_from("<II", data, 4)
        self.ephemeral = data[12:44]
        self.encrypted_nothing = data[44:60]
        self.mac1 = data[60:76]
        self.mac2 = data[76:92]


class CookieReply:
    type = MSG_COOKIE_REPLY

    def __init__(self, data):
        self.raw = data
        self.receiver = struct.unpack_from("<I", data, 4)[0]
        self.nonce = data[8:32]
        self.encrypted_cookie = data[32:64]


class Transport:
    type = MSG_TRANSPORT

    def __init__(self, data):
        self.raw = data
        self.receiver, self.counter = struct.unpack_from("<IQ", data, 4)


_EXACT = {MSG_INITIATION: (INITIATION_SIZE, Initiation),
          MSG_RESPONSE: (RESPONSE_SIZE, Response),
          MSG_COOKIE_REPLY: (COOKIE_REPLY_SIZE, CookieReply)}


def parse(data):
    """bytes -> message object, or an int reason from drops.py."""
    n = len(data)
    if n < 4:
        return drops.TOO_SHORT
    if n > MAX_DATAGRAM_SIZE:
        return drops.OVERSIZED
    kind = data[0]
    if data[1] or data[2] or data[3]:
        return drops.UNKNOWN_TYPE
    if kind == MSG_TRANSPORT:
        if n < TRANSPORT_MIN_SIZE:
            return drops.TOO_SHORT
        return Transport(data)
    entry = _EXACT.get(kind)
    if entry is None:
        return drops.UNKNOWN_TYPE
    if n != entry[0]:
        return drops.WRONG_SIZE
    return entry[1](data)


def pack_initiation(sender, ephemeral, encrypted_static, encrypted_timestamp):
    return (struct.pack("<II", MSG_INITIATION, sender) + ephemeral + encrypted_static
            + encrypted_timestamp + b"\x00" * 32)


def pack_response(sender, receiver, ephemeral, encrypted_nothing):
    return struct.pack("<III", MSG_RESPONSE, sender, receiver) + ephemeral + encrypted_nothing + b"\x00" * 32


def pack_cookie_reply(receiver, nonce, encrypted_cookie):
    return struct.pack("<II", MSG_COOKIE_REPLY, receiver) + nonce + encrypted_cookie


def transport_header(receiver, counter):
    return struct.pack("<IIQ", MSG_TRANSPORT, receiver, counter)
