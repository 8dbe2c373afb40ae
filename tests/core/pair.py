"""TunnelPair: two WireGuard Devices wired together in memory, for tests.

Owns the test-side plumbing only; it never reaches into the core beyond its
public entry points (send_packet, receive_datagram, tick, next_deadline), except
`seal_raw`, which encrypts arbitrary bytes with a side's current keypair so
tests can put payloads on the wire that send_packet would refuse.

Data flow:
  pair.send(side, packet, now) / pair.tick(now) / pair.receive(...)
      -> the device's actions are collected on the side that produced them
         (delivered packets, drop reasons, events, every datagram sent) and
         each SendDatagram is queued on the wire
  pair.flush(now)
      -> queued datagrams cross the sender's Link (drop / hold / duplicate /
         reorder / rewrite the source address) and are handed to the device
         whose address they were sent to; replies queue up and are delivered
         too, until the wire is quiet. Datagrams sent to an address that is
         neither side (a peer followed a forged source) land in `pair.lost`.

No clock: every call takes `now`, so a test states the time of each step.
Plain classes and asserts only: this module also runs under MicroPython,
where the runner calls use_provider() with the pure provider first.
"""

import struct

from vpnspot_router.core.cryptoapi import x25519_clamp
from vpnspot_router.core.ipaddr import parse_ipv4, parse_ipv6, format_address, packet_addresses
from vpnspot_router.core.wireguard import actions as wg_actions
from vpnspot_router.core.wireguard.device import Device
from vpnspot_router.core.wireguard.messages import transport_header

MSG_INITIATION = 1
MSG_RESPONSE = 2
MSG_COOKIE_REPLY = 3
MSG_TRANSPORT = 4

# Lab addresses (tests/conftest.py lists the only ones tests may use).
A_ADDR = ("198.51.100.1", 51820)
B_ADDR = ("203.0.113.1", 51820)
ROAMED_ADDR = ("198.51.100.99", 40000)
A_V4, B_V4 = "10.77.0.1", "10.77.0.2"
A_V6, B_V6 = "fd77::1", "fd77::2"

_provider = [None]


def use_provider(provider):
    """Make `provider` the default for every TunnelPair and device built here."""
    _provider[0] = provider


def get_provider():
    if _provider[0] is None:
        from vpnspot_router.crypto import default_provider
        _provider[0] = default_provider()
    return _provider[0]


def private_key(n):
    """A fixed, valid private key per small integer: failures reproduce."""
    return x25519_clamp(bytes([n]) * 32)


def raises(exc_type, fn, *args):
    """True if fn(*args) raises exc_type; fails the test otherwise."""
    try:
        fn(*args)
    except exc_type:
        return True
    raise AssertionError("%r did not raise %s" % (fn, exc_type.__name__))


# Known core bugs: test name -> what is wrong. A test decorated with
# core_bug() documents the correct behaviour and is expected to fail until
# the core is fixed; under pytest it is a strict xfail (so a fix shows up as
# XPASS and fails the run until the marker goes), and other runners read
# CORE_BUGS (MicroPython functions take no attributes).
CORE_BUGS = {}


def core_bug(reason):
    def mark(fn):
        CORE_BUGS[fn.__name__] = reason
        try:
            import pytest
        except ImportError:
            return fn
        return pytest.mark.xfail(strict=True, reason="core bug: " + reason)(fn)
    return mark


# ----------------------------------------------------------------- packets

def checksum(data):
    """RFC 1071 internet checksum."""
    if len(data) & 1:
        data = data + b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _addr_bytes(text):
    if ":" in text:
        return parse_ipv6(text).to_bytes(16, "big")
    return parse_ipv4(text).to_bytes(4, "big")


def ipv4(src, dst, proto, payload, ttl=64, ident=0):
    """An IPv4 packet with a valid header checksum."""
    header = bytearray(struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(payload), ident, 0, ttl, proto, 0)
                       + _addr_bytes(src) + _addr_bytes(dst))
    struct.pack_into(">H", header, 10, checksum(bytes(header)))
    return bytes(header) + payload


def ipv6(src, dst, next_header, payload, hop_limit=64):
    return (struct.pack(">IHBB", 6 << 28, len(payload), next_header, hop_limit)
            + _addr_bytes(src) + _addr_bytes(dst) + payload)


def _pseudo_checksum(src, dst, proto, segment):
    s, d = _addr_bytes(src), _addr_bytes(dst)
    if len(s) == 4:
        pseudo = s + d + struct.pack(">BBH", 0, proto, len(segment))
    else:
        pseudo = s + d + struct.pack(">IBBBB", len(segment), 0, 0, 0, proto)
    return checksum(pseudo + segment)


def icmp_echo(src, dst, ident=1, seq=1, payload=b"ping"):
    """ICMP (IPv4) or ICMPv6 echo request from src to dst, checksums valid."""
    if ":" in src:
        body = bytearray(struct.pack(">BBHHH", 128, 0, 0, ident, seq) + payload)
        struct.pack_into(">H", body, 2, _pseudo_checksum(src, dst, 58, bytes(body)))
        return ipv6(src, dst, 58, bytes(body))
    body = bytearray(struct.pack(">BBHHH", 8, 0, 0, ident, seq) + payload)
    struct.pack_into(">H", body, 2, checksum(bytes(body)))
    return ipv4(src, dst, 1, bytes(body))


def udp(src, dst, sport=5000, dport=53, payload=b"query"):
    """UDP over IPv4 or IPv6 from src to dst, checksums valid."""
    seg = bytearray(struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload)
    c = _pseudo_checksum(src, dst, 17, bytes(seg)) or 0xFFFF
    struct.pack_into(">H", seg, 6, c)
    if ":" in src:
        return ipv6(src, dst, 17, bytes(seg))
    return ipv4(src, dst, 17, bytes(seg))


def addresses(packet):
    """(source text, destination text) of an IP packet."""
    family, src, dst = packet_addresses(packet)
    return format_address(family, src), format_address(family, dst)


# ---------------------------------------------------------------- messages

def of_type(datagrams, kind):
    return [d for d in datagrams if d[0] == kind]


def counter_of(datagram):
    return struct.unpack_from("<Q", datagram, 8)[0]


def receiver_of(datagram):
    return struct.unpack_from("<I", datagram, 4 if datagram[0] != MSG_RESPONSE else 8)[0]


def sender_of(datagram):
    return struct.unpack_from("<I", datagram, 4)[0]


# -------------------------------------------------------------------- wire

class Link:
    """One direction of the network: what happens to a side's datagrams."""

    def __init__(self):
        self.drop_all = False
        self.drop_types = ()        # message types to lose, e.g. (MSG_RESPONSE,)
        self.drop_count = 0         # lose this many more datagrams
        self.duplicate = False      # deliver every datagram twice
        self.reorder = False        # deliver each flushed batch in reverse order
        self.source = None          # the address the receiver sees (NAT rebinding)
        self.hold = False           # keep datagrams in `held` instead of delivering
        self.held = []              # datagrams kept back by `hold`
        self.dropped = []           # datagrams lost

    def heal(self):
        self.drop_all = False
        self.drop_types = ()
        self.drop_count = 0
        self.duplicate = False
        self.reorder = False
        self.source = None
        self.hold = False


class Side:
    """One device plus what its entry points returned, collected by kind."""

    def __init__(self, name, device, addr, v4, v6):
        self.name = name
        self.device = device
        self.addr = addr
        self.v4 = v4
        self.v6 = v6
        self.peer = None            # this device's Peer for the other side
        self.link = Link()          # carries this side's datagrams
        self.clear()

    def clear(self):
        self.actions = []
        self.delivered = []         # packets written to "TUN"
        self.drops = []             # drop reasons
        self.events = []            # peer event names
        self.sent = []              # every datagram this side sent

    def __repr__(self):
        return "Side(%s)" % self.name


class TunnelPair:
    """Side `a` (a router) and side `b` (a server) with one peer each.

    By default a routes everything to b (0.0.0.0/0, ::/0) and b routes only
    a's tunnel addresses back; both know the other's endpoint.
    """

    def __init__(self, provider=None, a_psk=None, b_psk=None,
                 a_allowed=("0.0.0.0/0", "::/0"), b_allowed=(A_V4 + "/32", A_V6 + "/128"),
                 a_knows_endpoint=True, b_knows_endpoint=True,
                 a_keepalive=0, b_keepalive=0, a_key=1, b_key=2):
        if provider is None:
            provider = get_provider()
        self.provider = provider
        self.a = Side("a", Device(provider, private_key(a_key)), A_ADDR, A_V4, A_V6)
        self.b = Side("b", Device(provider, private_key(b_key)), B_ADDR, B_V4, B_V6)
        self.a.peer = self.a.device.add_peer(
            self.b.device.public_key, preshared_key=a_psk,
            endpoint=B_ADDR if a_knows_endpoint else None,
            allowed_ips=list(a_allowed), persistent_keepalive=a_keepalive)
        self.b.peer = self.b.device.add_peer(
            self.a.device.public_key, preshared_key=b_psk,
            endpoint=A_ADDR if b_knows_endpoint else None,
            allowed_ips=list(b_allowed), persistent_keepalive=b_keepalive)
        self.queue = []             # (from side, data, destination addr)
        self.lost = []              # (data, destination addr) nobody listens at
        self.aliases = {}           # extra addr -> side (a side that roamed there)

    def other(self, side):
        return self.b if side is self.a else self.a

    def side_at(self, addr):
        if addr == self.a.addr:
            return self.a
        if addr == self.b.addr:
            return self.b
        return self.aliases.get(addr)

    def clear(self):
        self.a.clear()
        self.b.clear()
        self.lost = []

    # --- entry points, collected ---
    def _collect(self, side, actions):
        for action in actions:
            side.actions.append(action)
            kind = action.kind
            if kind == wg_actions.SEND:
                side.sent.append(action.data)
                self.queue.append((side, action.data, action.addr))
            elif kind == wg_actions.DELIVER:
                side.delivered.append(action.packet)
            elif kind == wg_actions.DROP:
                side.drops.append(action.reason)
            elif kind == wg_actions.EVENT:
                side.events.append(action.event)
        return actions

    def send(self, side, packet, now):
        return self._collect(side, side.device.send_packet(packet, now))

    def receive(self, side, data, source, now):
        return self._collect(side, side.device.receive_datagram(data, source, now))

    def tick(self, now):
        out = self._collect(self.a, self.a.device.tick(now))
        return out + self._collect(self.b, self.b.device.tick(now))

    # --- the wire ---
    def flush(self, now, limit=10000):
        """Deliver queued datagrams (and the replies they cause) at `now`.
        Returns how many datagrams reached a device."""
        delivered = 0
        while self.queue:
            batch = self.queue
            self.queue = []
            for link in (self.a.link, self.b.link):
                if link.reorder:
                    mine = [e for e in batch if e[0].link is link]
                    mine.reverse()
                    rest = [e for e in batch if e[0].link is not link]
                    batch = mine + rest
            for src, data, dest in batch:
                delivered += self._transmit(src, data, dest, now)
            limit -= 1
            assert limit > 0, "datagrams kept causing datagrams: a loop between the devices"
        return delivered

    def _transmit(self, src, data, dest, now):
        link = src.link
        if link.drop_all or data[0] in link.drop_types:
            link.dropped.append(data)
            return 0
        if link.drop_count > 0:
            link.drop_count -= 1
            link.dropped.append(data)
            return 0
        if link.hold:
            link.held.append(data)
            return 0
        return self.deliver(src, data, now, dest)

    def deliver(self, src, data, now, dest=None):
        """Hand `data` from side `src` to the side at `dest` (default: the
        other side) through src's link's duplicate/source settings."""
        link = src.link
        if dest is None:
            dest = self.other(src).addr
        recipient = self.side_at(dest)
        if recipient is None:
            self.lost.append((data, dest))
            return 0
        source = link.source if link.source is not None else src.addr
        copies = 2 if link.duplicate else 1
        for _ in range(copies):
            self.receive(recipient, data, source, now)
        return copies

    def release(self, src, now):
        """Deliver the datagrams src's link held back, in order, then flush."""
        held = src.link.held
        src.link.held = []
        for data in held:
            self.deliver(src, data, now)
        self.flush(now)

    # --- time ---
    def next_deadline(self):
        best = None
        for side in (self.a, self.b):
            t = side.device.next_deadline()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def advance(self, until, limit=100000):
        """Fire every timer of both devices due up to `until`, in time order,
        flushing the wire after each; returns the times ticks happened."""
        times = []
        while True:
            t = self.next_deadline()
            if t is None or t > until:
                break
            self.tick(t)
            self.flush(t)
            times.append(t)
            limit -= 1
            assert limit > 0, "timers kept firing at the same time"
        return times

    # --- conveniences ---
    def ping(self, side, v6=False, payload=b"ping"):
        """An echo request from `side` to the other side's tunnel address."""
        dst_side = self.other(side)
        if v6:
            return icmp_echo(side.v6, dst_side.v6, payload=payload)
        return icmp_echo(side.v4, dst_side.v4, payload=payload)

    def send_ping(self, side, now, v6=False, payload=b"ping", flush=True):
        """Send a ping from `side` at `now` (and flush the wire); returns it."""
        packet = self.ping(side, v6, payload)
        self.send(side, packet, now)
        if flush:
            self.flush(now)
        return packet

    def establish(self, now, initiator=None):
        """Complete a handshake started by `initiator` (default a) with one
        ping, check both sides hold a current session, then clear the
        collected actions so the test starts from a quiet tunnel."""
        if initiator is None:
            initiator = self.a
        responder = self.other(initiator)
        packet = self.send_ping(initiator, now)
        assert responder.delivered == [packet], (responder.delivered, responder.drops)
        assert initiator.peer.current is not None and initiator.peer.current.initiator
        assert responder.peer.current is not None and not responder.peer.current.initiator
        self.clear()


def with_mac1(provider, raw, receiver_public):
    """`raw` (a handshake message) with MAC1 recomputed for `receiver_public`
    and MAC2 zeroed: lets a test alter a message and still pass the MAC1
    gate, to reach the checks behind it."""
    key = provider.blake2s(b"mac1----" + receiver_public)
    body = raw[:-32]
    return body + provider.blake2s(body, 16, key) + b"\x00" * 16


def seal_raw(side, payload, counter=None):
    """A transport datagram carrying `payload` (any bytes) under side's
    current keypair. With `counter` it uses that counter and leaves the
    keypair's own counter alone, so tests can write replays and gaps."""
    kp = side.peer.current
    if counter is None:
        counter = kp.send_counter
        kp.send_counter = counter + 1
    return transport_header(kp.remote_index, counter) + kp.send.seal(counter, payload, b"")

