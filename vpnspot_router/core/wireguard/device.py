"""A WireGuard device, sans-IO: the three entry points of the protocol.

  send_packet(packet, now)          IP packet from the TUN side -> encrypt for the peer
                                    its destination routes to (allowed IPs), or stage it
                                    and start a handshake
  receive_datagram(data, addr, now) UDP datagram from the network -> parse once, then
                                    handshake / cookie / transport handling
  tick(now)                         fire the timers whose deadline passed

Each returns a list of actions (actions.py). Nothing here raises on peer
input; bad input becomes Drop(reason) and is counted in `self.drops`.

Receive pipeline for transport data:
  index -> keypair -> age check -> replay check -> decrypt -> mark counter ->
  session rotation (next -> current) -> roaming -> timers -> IP checks
  (version, length, source in the peer's allowed IPs) -> DeliverPacket
Send pipeline:
  destination -> peer (longest prefix) -> endpoint known? -> valid keypair?
  (else stage + handshake) -> pad to 16 -> seal with counter -> SendDatagram
  -> timers -> rekey if the session is old or has carried too many messages

Session rules follow wireguard-go (device/noise-protocol.go, timers.go) so
both ends behave alike; the differences are that time comes in as `now` and
that randomness and crypto come from the provider.
"""

import struct

from . import drops, noise
from .actions import SendDatagram, DeliverPacket, Drop, PeerEvent, SendDatagrams, DeliverPackets
from .actions import (HANDSHAKE_INITIATED, HANDSHAKE_COMPLETE, HANDSHAKE_GAVE_UP,
                      ENDPOINT_CHANGED, SESSIONS_EXPIRED, COOKIE_RECEIVED)
from .allowedips import AllowedIPs
from .constants import (MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, HANDSHAKE_INITIATION_RATE,
                        STAGED_PACKETS_MAX, UNDER_LOAD_THRESHOLD, UNDER_LOAD_HOLD, DEFAULT_MTU,
                        PADDING_MULTIPLE, TRANSPORT_HEADER_SIZE, MSG_TRANSPORT,
                        TRANSPORT_MIN_SIZE, MAX_DATAGRAM_SIZE)
from .cookie import CookieChecker
from .keypair import Keypair
from .messages import parse, transport_header
from .peer import Peer
from .timers import (Timing, RETRANSMIT_HANDSHAKE, SEND_KEEPALIVE, NEW_HANDSHAKE,
                     ZERO_KEY_MATERIAL, PERSISTENT_KEEPALIVE)
from ..cryptoapi import ZERO32, KEY_LEN
from ..ipaddr import V4, V6


def _transport_fields(data, offset):
    # Plain functions, not struct.Struct: MicroPython's struct lacks it.
    return struct.unpack_from("<IQ", data, offset)


def _pack_header(kind, receiver, counter):
    return struct.pack("<IIQ", kind, receiver, counter)


class Device:
    def __init__(self, provider, private_key, mtu=DEFAULT_MTU):
        if len(private_key) != KEY_LEN:
            raise ValueError("private key must be 32 bytes")
        self.provider = provider
        self.timing = Timing()
        self.mtu = mtu
        self.wall_offset = 0.0              # wall clock = now + wall_offset (for TAI64N)
        self.private_key = private_key
        self.public_key = provider.x25519_public(private_key)
        self.initial_hash = noise.initial_hash_for(provider, self.public_key)
        self.cookie_checker = CookieChecker(provider, self.public_key, self.timing)
        self.peers = {}
        self.allowed_ips = AllowedIPs()
        self.index_table = {}               # local index -> (peer, keypair or None for a handshake)
        self.drops = {}
        self.under_load_threshold = UNDER_LOAD_THRESHOLD
        self.force_under_load = False       # test hook and an administrator's switch
        self._load_window_start = 0.0
        self._load_count = 0
        self._under_load_until = -1.0

    # ------------------------------------------------------------------ peers
    def add_peer(self, public_key, preshared_key=None, endpoint=None, allowed_ips=(),
                 persistent_keepalive=0):
        """Configure a peer. Raises ValueError for a bad key or prefix (this
        is configuration, not peer input)."""
        if len(public_key) != KEY_LEN:
            raise ValueError("public key must be 32 bytes")
        if preshared_key is not None and len(preshared_key) != KEY_LEN:
            raise ValueError("preshared key must be 32 bytes")
        if public_key in self.peers:
            raise ValueError("peer already configured")
        static_static = self.provider.x25519(self.private_key, public_key)
        if static_static == ZERO32:
            raise ValueError("public key is a low-order point: not a usable peer")
        peer = Peer(self, public_key, preshared_key, endpoint, persistent_keepalive, static_static)
        for prefix in allowed_ips:
            self.allowed_ips.insert(prefix, peer)
        self.peers[public_key] = peer
        if persistent_keepalive and endpoint is not None:
            # wireguard-go sends a keepalive as soon as such a peer is up, so
            # a peer behind NAT is reachable without waiting for traffic.
            peer.timers.persistent_keepalive = 0.0
        return peer

    def remove_peer(self, public_key):
        peer = self.peers.pop(public_key, None)
        if peer is None:
            return
        self._zero_keys(peer)
        self.allowed_ips.remove_peer(peer)
        peer.timers.stop_all()
        peer.staged = []

    # ------------------------------------------------------------ entry points
    def send_packet(self, packet, now):
        out = []
        addrs = _destination(packet)
        if addrs is None:
            self._drop(out, drops.NOT_IP, None)
            return out
        peer = self.allowed_ips.lookup(addrs[0], addrs[1])
        if peer is None:
            self._drop(out, drops.NO_ROUTE, None)
            return out
        if peer.endpoint is None:
            self._drop(out, drops.NO_ENDPOINT, peer)
            return out
        kp = peer.current
        if not peer.staged and kp is not None and self._can_send(kp, now):
            self._encrypt_and_send(peer, kp, packet, now, out)
            self._keep_key_fresh_sending(peer, kp, now, out)
            return out
        if len(peer.staged) >= STAGED_PACKETS_MAX:
            peer.staged.pop(0)
            self._drop(out, drops.QUEUE_FULL, peer)
        peer.staged.append(packet)
        self._send_staged(peer, now, out)
        return out

    def receive_datagram(self, data, addr, now):
        out = []
        msg = parse(data)
        if type(msg) is int:
            self._drop(out, msg, None)
            return out
        kind = msg.type
        if kind == MSG_INITIATION or kind == MSG_RESPONSE:
            if not self._admit_handshake(msg, addr, now, out):
                return out
            if kind == MSG_INITIATION:
                self._receive_initiation(msg, addr, now, out)
            else:
                self._receive_response(msg, addr, now, out)
        elif kind == MSG_COOKIE_REPLY:
            self._receive_cookie_reply(msg, now, out)
        else:
            self._receive_transport(msg, data, addr, now, out)
        return out

    # ------------------------------------------------------ batch entry points
    # The driver reads packets and datagrams in bulk (TUN offload segments,
    # UDP GRO); one core call per bulk read keeps Python's per-call cost off
    # each packet. Each batch method gives the same result as the per-packet
    # method called for each input in order; the only difference is that
    # runs of sends (deliveries) for one peer come back folded into one
    # SendDatagrams (DeliverPackets) action. Inputs the fast path does not
    # cover go through the per-packet method itself, so the rules live in
    # one place.

    def send_packets(self, packets, now):
        out = []
        t = self.timing
        run = None                  # datagrams of the current run
        run_peer = None
        last_dst = None
        peer = None
        for packet in packets:
            n = len(packet)
            if n >= 20 and packet[0] >> 4 == 4:
                dst = packet[16:20]
            elif n >= 40 and packet[0] >> 4 == 6:
                dst = packet[24:40]
            else:
                dst = None
            if dst is None or dst != last_dst:
                peer = None
                if dst is not None:
                    addrs = _destination(packet)
                    peer = self.allowed_ips.lookup(addrs[0], addrs[1])
                last_dst = dst
            kp = None
            if peer is not None and peer.endpoint is not None and not peer.staged:
                kp = peer.current
            # The fast path: a usable session that this packet neither
            # exhausts nor ages into a rekey (_keep_key_fresh_sending stays quiet).
            if kp is None or kp.send_counter >= t.rekey_after_messages \
                    or kp.send_counter >= t.reject_after_messages - 1 \
                    or now - kp.created >= t.reject_after_time \
                    or (kp.initiator and now - kp.created > t.rekey_after_time):
                if run:
                    self._end_send_run(run_peer, run, now, out)
                    run = None
                out.extend(self.send_packet(bytes(packet), now))
                continue
            if peer is not run_peer or run is None:
                if run:
                    self._end_send_run(run_peer, run, now, out)
                run = []
                run_peer = peer
            padded = (n + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1)
            if padded > self.mtu:
                padded = n if n > self.mtu else self.mtu
            if padded != n:
                packet = bytes(packet) + b"\x00" * (padded - n)
            counter = kp.send_counter
            kp.send_counter = counter + 1
            data = _pack_header(MSG_TRANSPORT, kp.remote_index, counter) + kp.send.seal(counter, packet, b"")
            peer.tx_bytes += len(data)
            run.append(data)
        if run:
            self._end_send_run(run_peer, run, now, out)
        return out

    def _end_send_run(self, peer, run, now, out):
        # The timer hooks of _encrypt_and_send/_send_authenticated, once per
        # run: with one `now` each is idempotent (data_sent only arms an
        # unarmed timer). A run only holds packets with data or keepalives
        # read from TUN, which are never empty, so data_sent applies.
        timers = peer.timers
        timers.data_sent(now)
        timers.any_authenticated_packet_traversal(now, peer.persistent_keepalive)
        timers.any_authenticated_packet_sent()
        out.append(SendDatagrams(run, peer.endpoint, peer))

    def receive_datagrams(self, datagrams, addr, now):
        """Batch twin of receive_datagram for datagrams that all came from
        `addr` (one UDP GRO read, or a burst from one sender)."""
        out = []
        t = self.timing
        index_table = self.index_table
        run = None
        run_peer = None
        last_src = None
        src_peer = None
        src_ok = False
        for data in datagrams:
            n = len(data)
            kp = None
            if TRANSPORT_MIN_SIZE < n <= MAX_DATAGRAM_SIZE and data[0] == MSG_TRANSPORT \
                    and not (data[1] or data[2] or data[3]):
                receiver, counter = _transport_fields(data, 4)
                entry = index_table.get(receiver)
                if entry is not None:
                    peer, kp = entry
                    # The fast path: current session, known endpoint, nothing
                    # that would promote, roam, rekey or expire.
                    if kp is None or kp is not peer.current or peer.endpoint != addr \
                            or now - kp.created >= t.reject_after_time \
                            or counter >= t.reject_after_messages \
                            or (kp.initiator and not peer.sent_last_minute_handshake and
                                now - kp.created > t.reject_after_time - t.keepalive_timeout - t.rekey_timeout):
                        kp = None
            if kp is None:
                if run:
                    out.append(DeliverPackets(run, run_peer))
                    run = None
                out.extend(self.receive_datagram(bytes(data), addr, now))
                continue
            replay = kp.replay
            if not replay.check(counter):
                self._drop(out, drops.REPLAYED, peer)
                continue
            plain = kp.receive.open(counter, data[TRANSPORT_HEADER_SIZE:], b"")
            if plain is None:
                self._drop(out, drops.DECRYPT_FAILED, peer)
                continue
            replay.mark(counter)
            peer.rx_bytes += n
            timers = peer.timers
            timers.any_authenticated_packet_traversal(now, peer.persistent_keepalive)
            timers.any_authenticated_packet_received()
            if not plain:
                continue
            packet = _validate_inner(plain)
            if packet is None:
                self._drop(out, drops.NOT_IP, peer)
                continue
            src = packet[12:16] if packet[0] >> 4 == 4 else packet[8:24]
            if src != last_src or peer is not src_peer:
                family, source = _source(packet)
                src_ok = self.allowed_ips.lookup(family, source) is peer
                last_src = src
                src_peer = peer
            if not src_ok:
                self._drop(out, drops.DISALLOWED_SOURCE, peer)
                continue
            timers.data_received(now)
            if peer is not run_peer or run is None:
                if run:
                    out.append(DeliverPackets(run, run_peer))
                run = []
                run_peer = peer
            run.append(packet)
        if run:
            out.append(DeliverPackets(run, run_peer))
        return out

    def tick(self, now):
        out = []
        for peer in list(self.peers.values()):
            for timer in peer.timers.due(now):
                self._timer_fired(peer, timer, now, out)
        return out

    def next_deadline(self):
        best = None
        for peer in self.peers.values():
            t = peer.timers.next_deadline()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def under_load(self, now):
        return self.force_under_load or now < self._under_load_until

    # -------------------------------------------------------------- handshakes
    def _admit_handshake(self, msg, addr, now, out):
        """MAC1 always; MAC2 when under load (else answer with a cookie)."""
        if not self.cookie_checker.check_mac1(msg.raw):
            self._drop(out, drops.BAD_MAC1, None)
            return False
        self._count_handshake_load(now)
        if self.under_load(now) and not self.cookie_checker.check_mac2(msg.raw, addr, now):
            reply = self.cookie_checker.create_reply(msg.raw, msg.sender, addr, now)
            out.append(SendDatagram(reply, addr))
            self._drop(out, drops.BAD_MAC2, None)
            return False
        return True

    def _count_handshake_load(self, now):
        if now - self._load_window_start >= 1.0:
            self._load_window_start = now
            self._load_count = 0
        self._load_count += 1
        if self._load_count > self.under_load_threshold:
            self._under_load_until = now + UNDER_LOAD_HOLD

    def _new_index(self, peer, keypair):
        # Never 0: a cleared handshake holds index 0, and removing "its"
        # entry must not hit a live session.
        while True:
            index = struct.unpack("<I", self.provider.random_bytes(4))[0]
            if index and index not in self.index_table:
                self.index_table[index] = (peer, keypair)
                return index

    def _jitter(self):
        r = struct.unpack("<H", self.provider.random_bytes(2))[0]
        return self.timing.jitter_max * r / 65536.0

    def _initiate(self, peer, now, is_retry, out):
        if not is_retry and peer.last_sent_handshake is not None \
                and now - peer.last_sent_handshake < self.timing.rekey_timeout:
            return
        if peer.endpoint is None:
            self._drop(out, drops.NO_ENDPOINT, peer)
            return
        peer.last_sent_handshake = now
        if not is_retry:
            peer.timers.handshake_attempts = 0
        hs = peer.handshake
        self.index_table.pop(hs.local_index, None)
        hs.clear()
        index = self._new_index(peer, None)
        timestamp = noise.tai64n(now + self.wall_offset)
        raw = noise.create_initiation(self.provider, hs, self.private_key, self.public_key,
                                      peer.public_key, peer.static_static, timestamp, index)
        raw = peer.cookies.add_macs(raw, now)
        peer.timers.handshake_initiated(now)
        self._send_authenticated(peer, raw, now, out)
        out.append(PeerEvent(HANDSHAKE_INITIATED, peer))

    def _receive_initiation(self, msg, addr, now, out):
        peers = self.peers

        def static_static_for(key):
            p = peers.get(key)
            return None if p is None else p.static_static

        consumed = noise.consume_initiation(self.provider, self.private_key, self.initial_hash,
                                            msg, static_static_for)
        if type(consumed) is int:
            self._drop(out, consumed, None)
            return
        peer = peers[consumed.remote_static]
        # TAI64N compares as big-endian bytes; equal or older is a replay.
        if consumed.timestamp <= peer.last_timestamp:
            self._drop(out, drops.REPLAYED_HANDSHAKE, peer)
            return
        if peer.last_initiation_consumed is not None \
                and now - peer.last_initiation_consumed <= HANDSHAKE_INITIATION_RATE:
            self._drop(out, drops.HANDSHAKE_FLOOD, peer)
            return
        peer.last_timestamp = consumed.timestamp
        peer.last_initiation_consumed = now
        peer.rx_bytes += len(msg.raw)
        self._roam(peer, addr, out)
        peer.timers.any_authenticated_packet_traversal(now, peer.persistent_keepalive)
        peer.timers.any_authenticated_packet_received()

        hs = peer.handshake
        self.index_table.pop(hs.local_index, None)
        hs.clear()
        index = self._new_index(peer, None)
        raw = noise.create_response(self.provider, hs, consumed, peer.public_key,
                                    peer.preshared_key, index)
        raw = peer.cookies.add_macs(raw, now)
        self._begin_session(peer, initiator=False, now=now)
        self._send_authenticated(peer, raw, now, out)

    def _receive_response(self, msg, addr, now, out):
        entry = self.index_table.get(msg.receiver)
        if entry is None or entry[1] is not None:
            self._drop(out, drops.UNKNOWN_INDEX, None)
            return
        peer = entry[0]
        reason = noise.consume_response(self.provider, peer.handshake, self.private_key,
                                        peer.preshared_key, msg)
        if reason is not None:
            self._drop(out, reason, peer)
            return
        peer.rx_bytes += len(msg.raw)
        self._roam(peer, addr, out)
        peer.timers.any_authenticated_packet_traversal(now, peer.persistent_keepalive)
        peer.timers.any_authenticated_packet_received()
        self._begin_session(peer, initiator=True, now=now)
        peer.timers.handshake_complete()
        self._handshake_complete(peer, now, out)
        # Confirm the session to the responder at once: it may not send
        # until it has seen data on the new keys.
        if not peer.staged:
            self._send_keepalive(peer, now, out)
        self._send_staged(peer, now, out)

    def _receive_cookie_reply(self, msg, now, out):
        entry = self.index_table.get(msg.receiver)
        if entry is None:
            self._drop(out, drops.UNKNOWN_INDEX, None)
            return
        peer = entry[0]
        if not peer.cookies.consume_reply(msg, now):
            self._drop(out, drops.BAD_COOKIE, peer)
            return
        out.append(PeerEvent(COOKIE_RECEIVED, peer))

    def _begin_session(self, peer, initiator, now):
        """Turn the finished handshake into a keypair and rotate sessions."""
        hs = peer.handshake
        send_key, receive_key = noise.split(self.provider, hs.chaining_key, initiator)
        # The handshake's index becomes the keypair's: the peer already
        # addresses its transport packets to it.
        index = hs.local_index
        kp = Keypair(self.provider, send_key, receive_key, initiator, now, index, hs.remote_index)
        self.index_table[index] = (peer, kp)
        hs.clear()
        if initiator:
            if peer.next is not None:
                self._forget(peer.previous)
                peer.previous = peer.next
                peer.next = None
                self._forget(peer.current)
            else:
                self._forget(peer.previous)
                peer.previous = peer.current
            peer.current = kp
            peer.sent_last_minute_handshake = False
        else:
            self._forget(peer.next)
            peer.next = kp
            self._forget(peer.previous)
            peer.previous = None
        peer.timers.session_derived(now)

    def _handshake_complete(self, peer, now, out):
        peer.last_handshake = now
        peer.handshakes_completed += 1
        out.append(PeerEvent(HANDSHAKE_COMPLETE, peer))

    def _forget(self, kp):
        if kp is not None:
            entry = self.index_table.get(kp.local_index)
            if entry is not None and entry[1] is kp:
                del self.index_table[kp.local_index]

    def _zero_keys(self, peer):
        for kp in (peer.previous, peer.current, peer.next):
            self._forget(kp)
        peer.previous = peer.current = peer.next = None
        self.index_table.pop(peer.handshake.local_index, None)
        peer.handshake.clear()

    # --------------------------------------------------------------- transport
    def _can_send(self, kp, now):
        return kp.send_counter < self.timing.reject_after_messages \
            and now - kp.created < self.timing.reject_after_time

    def _encrypt_and_send(self, peer, kp, packet, now, out):
        n = len(packet)
        padded = (n + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1)
        if padded > self.mtu:
            padded = n if n > self.mtu else self.mtu
        if padded != n:
            packet = packet + b"\x00" * (padded - n)
        counter = kp.send_counter
        kp.send_counter = counter + 1
        data = transport_header(kp.remote_index, counter) + kp.send.seal(counter, packet, b"")
        timers = peer.timers
        if n:
            timers.data_sent(now)
        self._send_authenticated(peer, data, now, out)

    def _send_authenticated(self, peer, data, now, out):
        peer.tx_bytes += len(data)
        peer.timers.any_authenticated_packet_traversal(now, peer.persistent_keepalive)
        peer.timers.any_authenticated_packet_sent()
        out.append(SendDatagram(data, peer.endpoint, peer))

    def _send_keepalive(self, peer, now, out):
        kp = peer.current
        if kp is not None and self._can_send(kp, now) and peer.endpoint is not None:
            self._encrypt_and_send(peer, kp, b"", now, out)
        else:
            self._initiate(peer, now, False, out)

    def _send_staged(self, peer, now, out):
        kp = peer.current
        if kp is None or not self._can_send(kp, now):
            self._initiate(peer, now, False, out)
            return
        if peer.endpoint is None:
            return
        staged = peer.staged
        peer.staged = []
        for packet in staged:
            self._encrypt_and_send(peer, kp, packet, now, out)
        self._keep_key_fresh_sending(peer, kp, now, out)

    def _keep_key_fresh_sending(self, peer, kp, now, out):
        t = self.timing
        if kp.send_counter > t.rekey_after_messages or \
                (kp.initiator and now - kp.created > t.rekey_after_time):
            self._initiate(peer, now, False, out)

    def _keep_key_fresh_receiving(self, peer, now, out):
        if peer.sent_last_minute_handshake:
            return
        kp = peer.current
        t = self.timing
        if kp is not None and kp.initiator and \
                now - kp.created > t.reject_after_time - t.keepalive_timeout - t.rekey_timeout:
            peer.sent_last_minute_handshake = True
            self._initiate(peer, now, False, out)

    def _receive_transport(self, msg, data, addr, now, out):
        entry = self.index_table.get(msg.receiver)
        if entry is None or entry[1] is None:
            self._drop(out, drops.UNKNOWN_INDEX, None)
            return
        peer, kp = entry
        if now - kp.created >= self.timing.reject_after_time:
            self._drop(out, drops.SESSION_EXPIRED, peer)
            return
        counter = msg.counter
        if counter >= self.timing.reject_after_messages:
            self._drop(out, drops.SESSION_EXPIRED, peer)
            return
        if not kp.replay.check(counter):
            self._drop(out, drops.REPLAYED, peer)
            return
        plain = kp.receive.open(counter, data[TRANSPORT_HEADER_SIZE:], b"")
        if plain is None:
            self._drop(out, drops.DECRYPT_FAILED, peer)
            return
        kp.replay.mark(counter)
        peer.rx_bytes += len(data)
        if kp is peer.next:
            # The initiator proved it holds the new keys: promote them.
            self._forget(peer.previous)
            peer.previous = peer.current
            peer.current = kp
            peer.next = None
            peer.sent_last_minute_handshake = False
            peer.timers.handshake_complete()
            self._handshake_complete(peer, now, out)
            self._send_staged_if_any(peer, now, out)
        self._roam(peer, addr, out)
        self._keep_key_fresh_receiving(peer, now, out)
        timers = peer.timers
        timers.any_authenticated_packet_traversal(now, peer.persistent_keepalive)
        timers.any_authenticated_packet_received()
        if not plain:
            return                              # keepalive: nothing to deliver
        packet = _validate_inner(plain)
        if packet is None:
            self._drop(out, drops.NOT_IP, peer)
            return
        family, source = _source(packet)
        if self.allowed_ips.lookup(family, source) is not peer:
            self._drop(out, drops.DISALLOWED_SOURCE, peer)
            return
        timers.data_received(now)
        out.append(DeliverPacket(packet, peer))

    def _send_staged_if_any(self, peer, now, out):
        if peer.staged:
            self._send_staged(peer, now, out)

    def _roam(self, peer, addr, out):
        if addr is not None and peer.endpoint != addr:
            peer.endpoint = addr
            out.append(PeerEvent(ENDPOINT_CHANGED, peer))

    # ------------------------------------------------------------------ timers
    def _timer_fired(self, peer, timer, now, out):
        timers = peer.timers
        if timer == RETRANSMIT_HANDSHAKE:
            if timers.handshake_attempts >= self.timing.max_handshake_attempts():
                # Give up: drop what waited, keep keys only until they expire.
                timers.send_keepalive = None
                peer.staged = []
                if timers.zero_key_material is None:
                    timers.zero_key_material = now + self.timing.reject_after_time * 3
                out.append(PeerEvent(HANDSHAKE_GAVE_UP, peer))
            else:
                timers.handshake_attempts += 1
                self._initiate(peer, now, True, out)
        elif timer == SEND_KEEPALIVE:
            self._send_keepalive(peer, now, out)
            if timers.need_another_keepalive:
                timers.need_another_keepalive = False
                timers.send_keepalive = now + self.timing.keepalive_timeout
        elif timer == NEW_HANDSHAKE:
            self._initiate(peer, now, False, out)
        elif timer == ZERO_KEY_MATERIAL:
            self._zero_keys(peer)
            out.append(PeerEvent(SESSIONS_EXPIRED, peer))
        elif timer == PERSISTENT_KEEPALIVE:
            if peer.persistent_keepalive:
                self._send_keepalive(peer, now, out)

    # ------------------------------------------------------------------ misc
    def _drop(self, out, reason, peer):
        self.drops[reason] = self.drops.get(reason, 0) + 1
        out.append(Drop(reason, peer))


def _destination(packet):
    """(family, destination int) of an outgoing packet, or None."""
    n = len(packet)
    if n < 20:
        return None
    version = packet[0] >> 4
    if version == 4:
        return V4, int.from_bytes(packet[16:20], "big")
    if version == 6 and n >= 40:
        return V6, int.from_bytes(packet[24:40], "big")
    return None


def _source(packet):
    if packet[0] >> 4 == 4:
        return V4, int.from_bytes(packet[12:16], "big")
    return V6, int.from_bytes(packet[8:24], "big")


def _validate_inner(plain):
    """Trim padding using the IP header's own length; None if not IP."""
    n = len(plain)
    version = plain[0] >> 4
    if version == 4:
        if n < 20:
            return None
        total = (plain[2] << 8) | plain[3]
        if total < 20 or total > n:
            return None
        return plain[:total] if total != n else plain
    if version == 6:
        if n < 40:
            return None
        total = 40 + ((plain[4] << 8) | plain[5])
        if total > n:
            return None
        return plain[:total] if total != n else plain
    return None
