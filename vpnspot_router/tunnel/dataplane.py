"""The userspace WireGuard driver loop: the core's actions turned into IO.

Data flow, per wakeup of one poll over three sources:

  TUN fd   -> up to BATCH reads (each one packet, or the segments of a TCP
              super-packet with TSO) -> dev.send_packets(pkts, now)             -+
  UDP fd   -> up to BATCH datagrams (GRO: many per read), grouped by sender
              -> dev.receive_datagrams(datas, addr, now)                       -+-> actions
  timer    -> (every TICK_INTERVAL s, or at dev.next_deadline()) dev.tick(now) -+
                                                                               |
  actions -> SendDatagram(s) -> bind.sendto / bind.send_many (one GSO send)    |
             DeliverPacket(s) -> tun.write / tun.write_packets (coalesced)     |
             Drop -> counters.drops[reason]   PeerEvent -> log line (+ DNS     |
                                              re-resolution after unanswered <-+
                                              handshakes and on give-up)

The batch entry points (core/wireguard/device.py) are used when the device
has them; a device with only the per-packet API (tests' fakes) gets one call
per packet. Offloads are switched in offload.Switches and fall back by
themselves (tun.py, bind.py).

Rules it keeps:
  - nothing a peer sends can end the loop: each core call and its dispatch
    is wrapped, and a failure (a core bug) is logged, counted in
    `core_errors` and forgotten;
  - time is time.monotonic(); the core gets it as `now`, and
    dev.wall_offset = time.time() - time.monotonic() for its TAI64N stamps;
  - SIGTERM / SIGINT end the loop cleanly (the TUN interface is removed and
    run() returns 0), SIGUSR1 writes the status file at once (at the first
    wakeup without IO, like the writes events ask for); it is also
    written at start, every STATUS_INTERVAL seconds and at exit;
  - the status file holds counters, peer keys, the server endpoints and
    handshake times, never an inner (LAN or destination) address.

`open_tunnel` assembles a DataPlane from a parsed WgConfig; `DataPlane`
itself takes any device/tun/bind obeying core/wireguard/API.md and the
interfaces in tun.py and bind.py, so the tests drive it with fakes.
"""

import binascii
import json
import logging
import os
import selectors
import signal
import socket
import time

from vpnspot_router.core.wgconf import ConfigError
from vpnspot_router.core.wireguard import actions as A
from vpnspot_router.core.wireguard import drops

from . import bind as bind_mod
from . import offload
from . import tun as tun_mod

log = logging.getLogger("vpnspot.tunnel")

BATCH = 64                  # reads drained per source per wakeup
CORE_BATCH = 64             # packets handed to the core per batch call
TICK_INTERVAL = 0.25        # API.md: tick at least this often
STATUS_INTERVAL = 10.0
RESOLVE_RETRY = 10.0        # hostname endpoints that did not resolve are retried this often
# A status write an event asked for (handshake, endpoint change) waits for
# the loop to be quiet, at most this long: the write costs ~0.5 ms (json + a
# rename), and the first handshake's data packet and its answer (a ping
# reply) would otherwise wait behind it.
STATUS_DEFER_MAX = 0.05
# ... and it waits for this much quiet, not for the first wakeup without IO:
# in a request and its answer (the first ping after a handshake) the loop is
# idle for a moment between the two, and a write there delays the answer.
STATUS_QUIET = 0.005
# A peer configured by name is re-resolved after this many handshake
# initiations in a row without an answer (and again after as many more). The
# give-up alone would wait REKEY_ATTEMPT_TIME (90 s) before asking where a
# moved gateway went; three unanswered attempts (15 s with REKEY_TIMEOUT 5 s)
# already say the address no longer works, and one lookup per three
# attempts costs nothing next to the handshakes themselves.
RESOLVE_AFTER_ATTEMPTS = 3
ENDPOINT_MOVED = "endpoint-moved"   # counters.events: a re-resolved name gave a new address
CORE_ERROR_LOG_LIMIT = 10   # full tracebacks logged; after that only every 1000th


_STATUS_EVENTS = (A.HANDSHAKE_COMPLETE, A.HANDSHAKE_GAVE_UP, A.ENDPOINT_CHANGED, A.SESSIONS_EXPIRED)


def default_status_path(ifname):
    return "/run/vpnspot/tunnel-%s.json" % ifname


def key_text(key):
    return binascii.b2a_base64(key).decode().strip()


def resolve(host, port, want_ipv6=True):
    """A hostname endpoint -> the bind's (host, port) form, or None. Blocking:
    called at start, on handshake give-up and on retry, never per packet."""
    family = socket.AF_UNSPEC if want_ipv6 else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return None
    for fam, _type, _proto, _name, sockaddr in infos:
        if fam in (socket.AF_INET, socket.AF_INET6):
            return bind_mod.normalise(sockaddr[0], sockaddr[1])
    return None


class Counters:
    """What the data plane saw, for status, accounting and tests."""

    def __init__(self):
        self.rx_packets = 0         # UDP datagrams received
        self.rx_bytes = 0
        self.tx_packets = 0         # UDP datagrams sent
        self.tx_bytes = 0
        self.tun_rx_packets = 0     # IP packets read from TUN (to encrypt)
        self.tun_rx_bytes = 0
        self.tun_tx_packets = 0     # IP packets written to TUN (decrypted)
        self.tun_tx_bytes = 0
        self.send_errors = 0        # datagrams the kernel refused
        self.tun_write_errors = 0
        self.core_errors = 0        # exceptions out of the core or dispatch
        self.drops = {}             # drop reason name -> count
        self.events = {}            # peer event -> count

    def as_dict(self):
        d = dict(self.__dict__)
        d["drops"] = dict(self.drops)
        d["events"] = dict(self.events)
        return d


class DataPlane:
    def __init__(self, device, tun, bind, clock=time.monotonic, status_path=None,
                 status_interval=STATUS_INTERVAL, endpoint_names=None, resolver=resolve,
                 ifname=None):
        self.dev = device
        self.tun = tun
        self.bind = bind
        self.clock = clock
        self.status_path = status_path
        self.status_interval = status_interval
        self.ifname = ifname or getattr(tun, "name", None)
        # public key -> (hostname, port) for peers configured by name.
        self.endpoint_names = dict(endpoint_names or {})
        self.resolver = resolver
        # public key -> handshake initiations since the last completed one.
        self._unanswered = {}
        self.counters = Counters()
        self.running = False
        self.started_at = None
        self._status_requested = False
        self._status_due = None     # latest time for a requested status write
        self._next_status = 0.0
        self._next_tick = 0.0
        self._next_resolve = 0.0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._send_packets = getattr(device, "send_packets", None)
        self._receive_datagrams = getattr(device, "receive_datagrams", None)
        self._send_many = getattr(bind, "send_many", None) or self._send_each
        self._write_packets = getattr(tun, "write_packets", None) or self._write_each
        self._selector = selectors.DefaultSelector()
        self._selector.register(tun.fileno(), selectors.EVENT_READ, self._on_tun)
        self._selector.register(bind.fileno(), selectors.EVENT_READ, self._on_udp)
        self._selector.register(self._wake_r.fileno(), selectors.EVENT_READ, self._on_wake)
        device.wall_offset = time.time() - time.monotonic()

    # ----------------------------------------------------------- dispatching
    def _core(self, entry, args):
        """Call one core entry point and dispatch its actions; never raises."""
        try:
            self.dispatch(entry(*args))
        except Exception:
            self.counters.core_errors += 1
            n = self.counters.core_errors
            if n <= CORE_ERROR_LOG_LIMIT or n % 1000 == 0:
                log.exception("core error #%d in %s (input dropped, loop continues)",
                              n, getattr(entry, "__name__", entry))

    def dispatch(self, actions):
        c = self.counters
        for action in actions:
            kind = action.kind
            if kind == A.SEND:
                if self.bind.sendto(action.data, action.addr):
                    c.tx_packets += 1
                    c.tx_bytes += len(action.data)
                else:
                    c.send_errors += 1
            elif kind == A.DELIVER:
                if self.tun.write(action.packet):
                    c.tun_tx_packets += 1
                    c.tun_tx_bytes += len(action.packet)
                else:
                    c.tun_write_errors += 1
            elif kind == A.SEND_MANY:
                datas = action.datas
                ok = self._send_many(datas, action.addr)
                c.tx_packets += ok
                c.send_errors += len(datas) - ok
                for d in datas:
                    c.tx_bytes += len(d)
            elif kind == A.DELIVER_MANY:
                packets = action.packets
                ok, bad = self._write_packets(packets)
                c.tun_tx_packets += ok
                c.tun_write_errors += bad
                for p in packets:
                    c.tun_tx_bytes += len(p)
            elif kind == A.DROP:
                name = drops.name(action.reason)
                c.drops[name] = c.drops.get(name, 0) + 1
            elif kind == A.EVENT:
                self._on_event(action.event, action.peer)

    def _on_event(self, event, peer):
        c = self.counters
        c.events[event] = c.events.get(event, 0) + 1
        pub = getattr(peer, "public_key", None)
        ident = key_text(pub)[:8] if pub else "?"
        endpoint = getattr(peer, "endpoint", None)
        if event == A.HANDSHAKE_INITIATED:
            log.debug("peer %s: %s", ident, event)
        else:
            log.info("peer %s: %s (endpoint %s)", ident, event, _endpoint_text(endpoint))
        if event in _STATUS_EVENTS:
            # Readers (the supervisor, tests) want these at once, not at the
            # next periodic write; written once, after STATUS_QUIET without
            # IO (at most STATUS_DEFER_MAX later).
            self._status_requested = True
        if pub in self.endpoint_names:
            # The server may have moved; its name is the stable thing.
            if event == A.HANDSHAKE_COMPLETE:
                self._unanswered.pop(pub, None)
            elif event == A.HANDSHAKE_INITIATED:
                n = self._unanswered.get(pub, 0) + 1
                self._unanswered[pub] = n
                if n % RESOLVE_AFTER_ATTEMPTS == 0:
                    self._resolve_peer(pub, peer)
            elif event == A.HANDSHAKE_GAVE_UP:
                self._resolve_peer(pub, peer)

    def _resolve_peer(self, pub, peer):
        host, port = self.endpoint_names[pub]
        addr = self.resolver(host, port, getattr(self.bind, "family", socket.AF_INET6) == socket.AF_INET6)
        if addr is None:
            log.warning("peer %s: cannot resolve endpoint %s; retrying every %ds",
                        key_text(pub)[:8], host, RESOLVE_RETRY)
            return False
        if addr != peer.endpoint:
            if peer.endpoint is None:
                log.info("peer %s: endpoint %s is %s", key_text(pub)[:8], host, _endpoint_text(addr))
            else:
                # Said plainly: the household's tunnel is coming back because
                # the server moved, not because anything here changed.
                log.info("peer %s: endpoint %s moved from %s to %s; handshaking there",
                         key_text(pub)[:8], host, _endpoint_text(peer.endpoint), _endpoint_text(addr))
                c = self.counters
                c.events[ENDPOINT_MOVED] = c.events.get(ENDPOINT_MOVED, 0) + 1
                self._status_requested = True
            peer.endpoint = addr
        return True

    def resolve_endpoints(self, only_missing=False):
        for pub, (host, port) in self.endpoint_names.items():
            peer = self.dev.peers.get(pub)
            if peer is None or (only_missing and peer.endpoint is not None):
                continue
            self._resolve_peer(pub, peer)

    # ---------------------------------------------------------------- sources
    def _send_each(self, datas, addr):
        return sum(1 for d in datas if self.bind.sendto(d, addr))

    def _write_each(self, packets):
        ok = sum(1 for p in packets if self.tun.write(p))
        return ok, len(packets) - ok

    def _on_tun(self, now):
        c = self.counters
        read_packets = getattr(self.tun, "read_packets", None)
        batch = self._send_packets
        pending = []
        for _ in range(BATCH):
            if read_packets is not None:
                got = read_packets()
            else:
                p = self.tun.read()
                got = [] if p is None else [p]
            if not got:
                break
            for p in got:
                c.tun_rx_bytes += len(p)
            c.tun_rx_packets += len(got)
            if batch is None:
                for p in got:
                    self._core(self.dev.send_packet, (p, now))
                continue
            pending.extend(got)
            if len(pending) >= CORE_BATCH:
                self._core(batch, (pending, now))
                pending = []
        if pending:
            self._core(batch, (pending, now))

    def _on_udp(self, now):
        c = self.counters
        try:
            batches = self.bind.recv_batches(BATCH)
        except Exception:
            log.exception("UDP receive failed")
            return
        batch = self._receive_datagrams
        for datas, addr in batches:
            c.rx_packets += len(datas)
            for d in datas:
                c.rx_bytes += len(d)
            if batch is None:
                for d in datas:
                    self._core(self.dev.receive_datagram, (bytes(d), addr, now))
            else:
                self._core(batch, (datas, addr, now))

    def _on_wake(self, now):
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # ------------------------------------------------------------------ loop
    def step(self, max_wait=TICK_INTERVAL):
        """One wakeup: wait for IO or the next deadline, handle what is ready,
        run due timers. The loop is `while running: step()`."""
        now = self.clock()
        deadline = self._next_tick
        nd = None
        try:
            nd = self.dev.next_deadline()
        except Exception:
            self.counters.core_errors += 1
            log.exception("core error in next_deadline")
        if nd is not None and nd < deadline:
            deadline = nd
        if self.status_path and self._next_status < deadline:
            deadline = self._next_status
        timeout = min(max(0.0, deadline - now), max_wait)
        if self._status_requested and self.status_path:
            timeout = min(timeout, STATUS_QUIET)    # the write waits for a quiet moment
        events = self._selector.select(timeout)
        now = self.clock()
        for key, _mask in events:
            key.data(now)
        if now >= self._next_tick or (nd is not None and now >= nd):
            self._next_tick = now + TICK_INTERVAL
            self._core(self.dev.tick, (now,))
        if self.endpoint_names and now >= self._next_resolve:
            self._next_resolve = now + RESOLVE_RETRY
            self.resolve_endpoints(only_missing=True)
        if self.status_path:
            due = False
            if self._status_requested:
                if self._status_due is None:
                    self._status_due = now + STATUS_DEFER_MAX
                due = not events or now >= self._status_due
            if due or now >= self._next_status:
                self._status_requested = False
                self._status_due = None
                self._next_status = now + self.status_interval
                self.write_status()

    def stop(self):
        """Ask the loop to end; safe from a signal handler or another thread."""
        self.running = False
        try:
            self._wake_w.send(b"s")
        except OSError:
            pass

    def request_status(self):
        self._status_requested = True
        try:
            self._wake_w.send(b"u")
        except OSError:
            pass

    def run(self):
        """Run until stop() or SIGTERM/SIGINT; then close everything. Returns 0."""
        restore = self._install_signals()
        self.running = True
        self.started_at = time.time()
        self._next_resolve = self.clock() + RESOLVE_RETRY
        try:
            if self.status_path:
                self.write_status()
                self._next_status = self.clock() + self.status_interval
            while self.running:
                self.step()
        finally:
            self.close()
            restore()
        return 0

    def _install_signals(self):
        try:
            old = {
                signal.SIGTERM: signal.signal(signal.SIGTERM, lambda s, f: self.stop()),
                signal.SIGINT: signal.signal(signal.SIGINT, lambda s, f: self.stop()),
                signal.SIGUSR1: signal.signal(signal.SIGUSR1, lambda s, f: self.request_status()),
            }
            # Without a wakeup fd the handler would only run when select()
            # times out; with it, the signal wakes the poll at once.
            old_fd = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        except ValueError:
            # Not the main thread (a test driving the loop): stop() still works.
            return lambda: None

        def restore():
            signal.set_wakeup_fd(old_fd)
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return restore

    def close(self):
        """Remove the interface, close the sockets, leave a final status."""
        self.running = False
        if self.status_path:
            self.write_status(running=False)
        for obj in (self.tun, self.bind):
            try:
                self._selector.unregister(obj.fileno())
            except (KeyError, ValueError, OSError):
                pass
            try:
                obj.close()
            except OSError:
                log.exception("closing %r", obj)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # ---------------------------------------------------------------- status
    def status(self, running=None):
        peers = []
        offset = getattr(self.dev, "wall_offset", 0.0)
        for pub, peer in list(self.dev.peers.items()):
            last = getattr(peer, "last_handshake", None)
            name = self.endpoint_names.get(pub)
            peers.append({
                "public_key": key_text(pub),
                "endpoint": _endpoint_text(peer.endpoint) if peer.endpoint else None,
                "endpoint_name": "%s:%d" % name if name else None,
                "allowed_ips": [_prefix_text(p) for p in peer.allowed_ips],
                "persistent_keepalive": peer.persistent_keepalive,
                "last_handshake": None if last is None else last + offset,
                "rx_bytes": peer.rx_bytes,
                "tx_bytes": peer.tx_bytes,
            })
        return {
            "ifname": self.ifname,
            "pid": os.getpid(),
            "running": self.running if running is None else running,
            "listen_port": getattr(self.bind, "port", None),
            "started_at": self.started_at,
            "time": time.time(),
            "counters": self.counters.as_dict(),
            "core_drops": dict((drops.name(r), n) for r, n in getattr(self.dev, "drops", {}).items()),
            "peers": peers,
        }

    def write_status(self, running=None):
        """Write the status JSON atomically (readers never see half a file)."""
        if not self.status_path:
            return
        try:
            directory = os.path.dirname(self.status_path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            tmp = "%s.%d.tmp" % (self.status_path, os.getpid())
            with open(tmp, "w") as f:
                json.dump(self.status(running), f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.status_path)
        except Exception:
            # A full /run must not take the tunnel down.
            log.exception("cannot write status file %s", self.status_path)


def _endpoint_text(addr):
    if not addr:
        return "none"
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in str(host) else "%s:%d" % (host, port)


def _prefix_text(prefix):
    if isinstance(prefix, (tuple, list)):
        return "%s/%d" % (prefix[0], prefix[1])
    return str(prefix)


# ------------------------------------------------------------------ assembly

def warm_up(provider):
    """Pay the crypto library's first-use costs at start, not in the first
    handshake a waiting connection feels: OpenSSL sets ChaCha20-Poly1305 up
    on its first use (~0.5 ms here), and each handshake message runs every
    primitive below once. Uses only the provider contract (core/cryptoapi.py)."""
    key = provider.random_bytes(32)
    box = provider.aead(key)
    box.open(0, box.seal(0, b"", b""), b"")
    provider.x25519(key, provider.x25519_public(key))
    provider.hmac_blake2s(key, b"")
    provider.blake2s(b"", 16, key)


def open_tunnel(conf, ifname, provider, status_path=None, status_interval=STATUS_INTERVAL,
                device_factory=None, resolver=resolve, timing=None, switches=None):
    """Build the whole userspace tunnel for a parsed WgConfig: device and
    peers, TUN interface with addresses and routes, UDP bind. Returns a
    DataPlane ready to run(). On failure nothing it created is left behind."""
    if device_factory is None:
        from vpnspot_router.core.wireguard.device import Device as device_factory
    iface = conf.interface
    mtu = iface.mtu or 1420
    dev = device_factory(provider, iface.private_key, mtu=mtu)
    for name, value in (timing or {}).items():
        if not hasattr(dev.timing, name):
            raise ValueError("VPNSPOT_WG_TIMING: the core has no timer %r" % name)
        setattr(dev.timing, name, value)
    if switches is None:
        switches = offload.Switches.from_env()
    warm_up(provider)
    tun = bind = None
    try:
        bind = bind_mod.UdpBind(iface.listen_port or 0, switches=switches)
        want_v6 = bind.family == socket.AF_INET6
        names = {}
        routes = []
        for p in conf.peers:
            endpoint = None
            if p.endpoint is not None:
                host, port = p.endpoint
                if p.endpoint_family is None:
                    names[p.public_key] = (host, port)
                    endpoint = resolver(host, port, want_v6)
                    if endpoint is None:
                        log.warning("cannot resolve endpoint %s yet; will retry", host)
                else:
                    endpoint = bind_mod.normalise(host, port)
            try:
                dev.add_peer(p.public_key, preshared_key=p.preshared_key, endpoint=endpoint,
                             allowed_ips=list(p.allowed_ips),
                             persistent_keepalive=p.persistent_keepalive)
            except ValueError as e:
                # e.g. a low-order public key: a config problem, shown as one.
                raise ConfigError(conf.filename, p.line, "[Peer]", "%s; check this peer's keys" % e)
            routes.extend(p.allowed_ips)
        tun = tun_mod.TunDevice(ifname, switches=switches)
        if switches.writer:
            tun.start_writer()
        log.info("offloads: TUN vnet header=%s TSO=%s coalesce=%s writer thread=%s, UDP GSO=%s GRO=%s "
                 "receive buffer=%d KB", tun.vnet_hdr, tun.tso, tun.coalesce, switches.writer, bind.gso,
                 bind.gro, bind.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 1024)
        installed = tun_mod.configure_link(tun.name, iface.addresses, mtu, routes)
        skipped = [r for r in routes if r not in installed]
        if skipped:
            log.info("not routing %s here: default routes are net/'s policy routing",
                     ", ".join(_prefix_text(r) for r in skipped))
        plane = DataPlane(dev, tun, bind, status_path=status_path, status_interval=status_interval,
                          endpoint_names=names, resolver=resolver, ifname=tun.name)
    except BaseException:
        if tun is not None:
            tun.close()
        if bind is not None:
            bind.close()
        raise
    for warning in conf.warnings:
        log.warning("%s", warning)
    return plane
