"""Fuzz targets for what the WireGuard core takes from outside: UDP datagrams
from anyone on the WAN (each message type, before and after a handshake)
and IP packets from any LAN device (the TUN side).

Every target runs against a World: a TunnelPair (tests/core/pair.py) whose
side `a` is the router and side `b` the gateway, both real Devices. Inputs
go through the devices' public entry points and whatever they send is
carried to the other side (pair.flush), so a fuzzed datagram that provokes
a reply exercises the peer too.

Blind bytes almost never pass WireGuard's first gates (exact sizes, MAC1,
authenticated encryption), so most targets read the first input byte as a
mode and build the message in one of four ways:
  raw        the input as it is
  typed      the message type byte and zero reserved bytes, then the input
  template   a real message captured from this World, with input-chosen
             bytes flipped, and MAC1 recomputed or not
  forged     input bytes at the message's exact size with a valid MAC1
             (and, for replies, our pending handshake's index), or for
             transport data: the input as plaintext sealed with the peer's
             real session key, which reaches the inner IP checks
Failures: any exception at all (peer input must never raise out of the
core), and a tunnel that no longer works after a burst of inputs: every
BURST inputs the World is healed (held datagrams released, links clear),
then it must complete a handshake if needed and carry a ping from a to b
within 40 simulated seconds. The World is rebuilt after each check.
"""

import struct

from tests.core import pair as P
from tests.fuzz.registry import Bytes, register
from vpnspot_router.core.wireguard import actions as wg_actions
from vpnspot_router.core.wireguard.constants import (INITIATION_SIZE, RESPONSE_SIZE,
                                                     COOKIE_REPLY_SIZE)

BURST = 256
T0 = 1000.0
ADDRS = (P.A_ADDR, P.ROAMED_ADDR, ("fd77::99", 40001), ("203.0.113.66", 6666))


class LivenessError(AssertionError):
    """The tunnel stopped working after a burst of fuzzed inputs."""


class World:
    """One TunnelPair in a chosen state, plus real messages captured from it.

    established False: a has sent its first initiation (held on a's link,
    b has not seen it). established True: a and b share a session, and a
    has started a rekey (its new initiation held the same way).
    For targets that feed side a (`feeds_a`), the held initiation was
    delivered to b and b's response is the one held instead, so a is
    waiting for exactly that response.
    """

    def __init__(self, established, feeds_a):
        self.established = established
        self.feeds_a = feeds_a
        self.burst = []
        self.reset()

    def reset(self):
        pair = P.TunnelPair()
        now = T0
        if self.established:
            pair.establish(now)
            now += 121.0                # past REKEY_AFTER_TIME: a starts a rekey
        pair.a.link.hold = True
        pair.send_ping(pair.a, now)
        initiation = [d for d in pair.a.link.held if d[0] == P.MSG_INITIATION][-1]
        self.templates = {P.MSG_INITIATION: initiation}
        if self.feeds_a:
            pair.a.link.held = []
            pair.b.link.hold = True
            pair.deliver(pair.a, initiation, now)
            pair.flush(now)
            self.templates[P.MSG_RESPONSE] = [d for d in pair.b.link.held
                                             if d[0] == P.MSG_RESPONSE][-1]
            # A cookie reply for a's pending handshake, from a twin of b
            # under load (same keys, so the reply is genuine for a).
            twin = P.TunnelPair()
            twin.b.device.force_under_load = True
            replies = twin.b.device.receive_datagram(initiation, P.A_ADDR, now)
            self.templates[P.MSG_COOKIE_REPLY] = [a.data for a in replies
                                                 if a.kind == wg_actions.SEND][0]
        if self.established:
            self.templates[P.MSG_TRANSPORT] = P.seal_raw(pair.a, pair.ping(pair.a))
        else:
            self.templates[P.MSG_TRANSPORT] = P.transport_header(7, 0) + bytes(16 + 84)
        # A genuine message that the fuzzer delivers first (a captured
        # template, or one whose only change is in MAC2) legitimately moves
        # the endpoint to the address it came from: WireGuard roams to the
        # latest authenticated packet. The fuzzer's source addresses
        # therefore lead to the peer it impersonates, as after a NAT
        # rebinding; otherwise every such replay would read as a dead tunnel.
        impersonated = pair.b if self.feeds_a else pair.a
        self.sources = (impersonated.addr,) + ADDRS[1:]
        for addr in ADDRS[1:]:
            pair.aliases[addr] = impersonated
        pair.clear()
        self.pair = pair
        self.now = now + 0.001
        self.burst = []

    # -- per input ----------------------------------------------------------
    def step(self, data, feed):
        """Run one input through `feed(world, reader, now)`; every BURST
        inputs check the tunnel still works, then start a fresh World."""
        self.burst.append(data)
        r = Bytes(data)
        self.now += 0.001 + (r.byte() & 0x0F) * 0.05
        feed(self, r, self.now)
        self.pair.flush(self.now)
        deadline = self.pair.next_deadline()
        if deadline is not None and deadline <= self.now:
            self.pair.tick(self.now)
            self.pair.flush(self.now)
        self.pair.clear()
        self.pair.queue = []
        if len(self.burst) >= BURST:
            self.check_alive()

    def check_alive(self):
        burst = self.burst
        pair = self.pair
        for side in (pair.a, pair.b):
            held = side.link.held
            side.link.heal()
            side.link.held = []
            for d in held:
                pair.deliver(side, d, self.now)
        pair.flush(self.now)
        pair.clear()
        t = self.now + 0.01
        packet = pair.send_ping(pair.a, t)
        if packet not in pair.b.delivered:
            pair.advance(t + 40.0)
            if packet not in pair.b.delivered:
                packet = pair.send_ping(pair.a, t + 40.0)
        ok = packet in pair.b.delivered
        self.reset()
        if not ok:
            err = LivenessError("the tunnel carried no ping after %d fuzzed inputs" % len(burst))
            err.burst = burst
            raise err

    # -- message builders ----------------------------------------------------
    def edited_template(self, kind, r):
        msg = bytearray(self.templates[kind])
        for _ in range(r.byte() % 8):
            pos = r.int(2) % len(msg)
            msg[pos] ^= r.byte() or 1
        msg = bytes(msg)
        if kind in (P.MSG_INITIATION, P.MSG_RESPONSE) and r.byte() & 1:
            msg = self.with_mac1(kind, msg)
        return msg

    def with_mac1(self, kind, msg):
        side = self.pair.b if kind == P.MSG_INITIATION else self.pair.a
        return P.with_mac1(self.pair.provider, msg, side.device.public_key)

    def pending_index(self):
        return self.pair.a.peer.handshake.local_index

    def forged(self, kind, r):
        size = {P.MSG_INITIATION: INITIATION_SIZE, P.MSG_RESPONSE: RESPONSE_SIZE,
                P.MSG_COOKIE_REPLY: COOKIE_REPLY_SIZE}[kind]
        body = bytearray(struct.pack("<I", kind) + r.take(size - 4))
        body += bytes(size - len(body))
        if r.byte() & 1 and kind != P.MSG_INITIATION:
            at = 8 if kind == P.MSG_RESPONSE else 4
            struct.pack_into("<I", body, at, self.pending_index())
        msg = bytes(body)
        if kind != P.MSG_COOKIE_REPLY:
            msg = self.with_mac1(kind, msg)
        return msg

    def sealed(self, r):
        """Transport data from a's real session carrying input bytes."""
        kp = self.pair.a.peer.current
        if kp is None or kp.send_counter >= (1 << 64) - 1:
            return None                 # no session, or its counters are used up
        how = r.byte()
        counter = None
        if how & 3 == 1:
            counter = max(0, kp.send_counter - 1 - r.byte())      # a replay, or near one
        elif how & 3 == 2:
            counter = kp.send_counter + r.int(3)                 # a gap
        elif how & 3 == 3:
            counter = r.int(8) % ((1 << 64) - 1)                 # anything
        if counter is not None:
            counter = min(counter, (1 << 64) - 2)              # a u64 on the wire
        data = P.seal_raw(self.pair.a, r.rest(), counter)
        if counter is not None and counter >= kp.send_counter:
            # Only a's own sender can write this packet, and its counter
            # never goes back: later packets of a come after this one.
            kp.send_counter = counter + 1
        return data


def _datagram(world, r, kind):
    mode = r.byte() % 4
    if mode == 0:
        return r.rest()
    if mode == 1:
        return struct.pack("<I", kind) + r.rest()
    if mode == 2:
        return world.edited_template(kind, r)
    if kind == P.MSG_TRANSPORT:
        msg = world.sealed(r)
        return msg if msg is not None else P.transport_header(r.int(4), r.int(8)) + r.rest()
    return world.forged(kind, r)


def _feed_to(receiver_name, kind):
    def feed(world, r, now):
        addr = r.choice(world.sources)
        data = _datagram(world, r, kind) if kind else r.rest()
        side = getattr(world.pair, receiver_name)
        world.pair.receive(side, data, addr, now)
    return feed


def _expand(actions):
    """Batch actions unfolded into the per-packet kinds pair.py collects."""
    out = []
    for a in actions:
        if a.kind == wg_actions.SEND_MANY:
            out.extend(wg_actions.SendDatagram(d, a.addr, a.peer) for d in a.datas)
        elif a.kind == wg_actions.DELIVER_MANY:
            out.extend(wg_actions.DeliverPacket(p, a.peer) for p in a.packets)
        else:
            out.append(a)
    return out


def _chunks(r, limit=16):
    """Input cut into up to `limit` pieces, each preceded by a length byte."""
    pieces = []
    while r.pos < len(r.data) and len(pieces) < limit:
        n = r.byte()
        pieces.append(r.take(n * 8 if n & 0x80 else n))
    return pieces


def _feed_datagram_batch(world, r, now):
    datagrams = []
    for piece in _chunks(Bytes(r.rest())):
        pr = Bytes(piece)
        kind = pr.choice((P.MSG_TRANSPORT, P.MSG_TRANSPORT, P.MSG_INITIATION, 0))
        datagrams.append(_datagram(world, pr, kind) if kind else pr.rest())
    pair = world.pair
    pair._collect(pair.b, _expand(pair.b.device.receive_datagrams(datagrams, P.A_ADDR, now)))


# ------------------------------------------------------------- IP from TUN

def _ip_packet(world, r):
    """An IP packet as a LAN device might write it: raw bytes, or a well-formed
    IPv4/IPv6 header with input-chosen fields and addresses."""
    mode = r.byte() % 4
    if mode == 0:
        return r.rest()
    dst = r.choice((P.B_V4, "192.168.77.10", "203.0.113.10", "10.77.0.1", P.B_V6, "fd77::1",
                    "ff02::1"))
    src = r.choice((P.A_V4, "192.168.77.10", P.A_V6, "fd77:77::5"))
    proto = r.choice((1, 6, 17, 58, 0, 255, 47))
    payload = r.rest()
    if (":" in dst) != (":" in src):
        src = P.A_V6 if ":" in dst else P.A_V4
    packet = bytearray(P.ipv6(src, dst, proto, payload) if ":" in dst
                       else P.ipv4(src, dst, proto, payload))
    if mode == 2 and len(packet) > 4:
        # Lie about the length or the version: the header is the attacker's.
        struct.pack_into(">H", packet, 2 if packet[0] >> 4 == 4 else 4, len(payload) ^ 0x5A5)
    elif mode == 3 and packet:
        packet[0] = (packet[0] & 0x0F) | ((len(payload) & 0x0F) << 4)
    return bytes(packet)


def _feed_ip(world, r, now):
    world.pair.send(world.pair.a, _ip_packet(world, r), now)


def _feed_ip_batch(world, r, now):
    packets = [_ip_packet(world, Bytes(piece)) for piece in _chunks(r)]
    pair = world.pair
    pair._collect(pair.a, _expand(pair.a.device.send_packets(packets, now)))


# ---------------------------------------------------------------- registry

_worlds = {}


def _target(name, established, feeds_a, feed, seeds, doc):
    def setup():
        _worlds[name] = World(established, feeds_a)

    def check(data):
        world = _worlds.get(name)
        if world is None:
            setup()
            world = _worlds[name]
        world.step(data, feed)

    register(name, check, expected=(), seeds=seeds, max_len=1600, setup=setup, doc=doc)


_MODE_SEEDS = [bytes([0, m]) + bytes(range(40)) for m in range(4)] + [bytes([0, 2, 3, 0, 5, 1, 9, 2, 0, 40, 1])]

for _when, _est in (("before", False), ("after", True)):
    _target("wg.initiation.%s" % _when, _est, False, _feed_to("b", P.MSG_INITIATION), _MODE_SEEDS,
            "handshake initiations arriving at the gateway side")
    _target("wg.response.%s" % _when, _est, True, _feed_to("a", P.MSG_RESPONSE), _MODE_SEEDS,
            "handshake responses arriving at a router waiting for one")
    _target("wg.cookie_reply.%s" % _when, _est, True, _feed_to("a", P.MSG_COOKIE_REPLY), _MODE_SEEDS,
            "cookie replies arriving at a router waiting for a response")
    _target("wg.transport.%s" % _when, _est, False, _feed_to("b", P.MSG_TRANSPORT), _MODE_SEEDS,
            "transport data (forged, replayed, and sealed with real keys)")
    _target("wg.datagram.%s" % _when, _est, False, _feed_to("b", 0),
            [b"\x00" + bytes([t, 0, 0, 0]) + bytes(60) for t in range(1, 5)],
            "any bytes at the UDP port")
    _target("ip.send_packet.%s" % _when, _est, False, _feed_ip, _MODE_SEEDS,
            "IP packets from LAN devices via TUN (after: also decrypted by the gateway)")

_target("wg.receive_datagrams.after", True, False, _feed_datagram_batch,
        [b"\x00\x00" + bytes([20, 3]) + bytes(19) + bytes([40, 2]) + bytes(39)],
        "batches of datagrams through the GRO fast path")
_target("ip.send_packets.after", True, False, _feed_ip_batch,
        [b"\x00" + bytes([30, 1]) + bytes(29) + bytes([30, 1]) + bytes(29)],
        "batches of TUN packets through the offload fast path")
