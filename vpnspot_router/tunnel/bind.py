"""The UDP side of the userspace data plane: where WireGuard datagrams go in and out.

Owns: the listening socket(s) and the one address format the core sees.
The core treats an address as opaque and hashable, and compares addresses
to notice roaming, so the same peer must always appear as the same value:

    addr = (host_text, port)      host in canonical form: "203.0.113.10",
                                  "fd77::10" (lower case, compressed); an
                                  IPv4 peer is never "::ffff:203.0.113.10"

Interface (`UdpBind` and `FakeBind` beside it):
  fileno()              for the driver's poll loop
  recv_many(limit)      up to `limit` (data, addr) pairs waiting now, [] if none
  sendto(data, addr)    one datagram; False (not an exception) when the
                        kernel refuses it, e.g. no route or buffer full
  recv_batches(limit)   up to `limit` datagrams as [(datas, addr)], each
                        list from one sender (one UDP GRO read, or a run)
  send_many(datas, addr) a run of datagrams to one address (UDP_SEGMENT
                        when on); returns how many the kernel took
  port                  the local UDP port actually bound
  close()

One AF_INET6 socket with IPV6_V6ONLY=0 serves both families when the kernel
allows it; on a router with IPv6 disabled it falls back to a plain AF_INET
socket, and IPv6 peers then fail at sendto (counted, not fatal).
"""

import errno
import logging
import os
import socket

from . import offload

log = logging.getLogger("vpnspot.tunnel")

MAX_DATAGRAM = 65536
# Socket buffers as wireguard-go sizes them: a GRO/GSO burst is up to 64 KB
# per skb, and the default ~200 KB receive buffer overflows after a few of
# them, which TCP inside the tunnel sees as heavy loss.
SOCKET_BUFFER = 7 << 20
# Bytes; a router short of RAM may want less; 0 leaves the kernel's default
# (net.core.rmem_default/wmem_default): the switch for this optimization.
ENV_SOCKET_BUFFER = "VPNSPOT_UDP_BUFFER"
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_MAPPED_PREFIX = "::ffff:"


def normalise(host, port):
    """Canonical (host, port) for any textual IPv4/IPv6 address, including
    IPv4-mapped IPv6 ones as a dual-stack socket reports them."""
    if ":" in host:
        host = host.split("%", 1)[0]
        packed = socket.inet_pton(socket.AF_INET6, host)
        if packed[:12] == b"\0" * 10 + b"\xff\xff":
            return socket.inet_ntop(socket.AF_INET, packed[12:]), port
        return socket.inet_ntop(socket.AF_INET6, packed), port
    return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, host)), port


def _grow_buffers(sock):
    try:
        size = int(os.environ.get(ENV_SOCKET_BUFFER, SOCKET_BUFFER))
    except ValueError:
        size = SOCKET_BUFFER
    if size <= 0:
        return
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            # FORCE ignores net.core.[rw]mem_max (needs CAP_NET_ADMIN, which
            # the TUN needs anyway); without it the sysctl caps the size.
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, size)
            except OSError:
                pass


class UdpBind:
    def __init__(self, port=0, host=None, switches=None):
        self.dual_stack = False
        sock = None
        if (host is None and socket.has_ipv6) or (host is not None and ":" in host):
            try:
                sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                if host is None:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    self.dual_stack = True
                sock.bind((host or "::", port))
            except OSError as e:
                if sock is not None:
                    sock.close()
                sock = None
                if host is not None or e.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL,
                                                       errno.EPROTONOSUPPORT):
                    raise
                self.dual_stack = False
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host or "0.0.0.0", port))
        sock.setblocking(False)
        _grow_buffers(sock)
        self.sock = sock
        self.family = sock.family
        self.port = sock.getsockname()[1]
        self.gso = bool(switches is not None and switches.gso and offload.gso_probe(sock))
        self.gro = bool(switches is not None and switches.gro and offload.enable_gro(sock))
        if switches is not None and (switches.gso != self.gso or switches.gro != self.gro):
            log.info("UDP: kernel offers GSO=%s GRO=%s", self.gso, self.gro)
        self._addr_cache = {}

    def fileno(self):
        return self.sock.fileno()

    def _normalise(self, sockaddr):
        key = sockaddr[:2]
        addr = self._addr_cache.get(key)
        if addr is None:
            addr = normalise(sockaddr[0], sockaddr[1])
            if len(self._addr_cache) > 1024:
                self._addr_cache.clear()
            self._addr_cache[key] = addr
        return addr

    def recv_batches(self, limit=64):
        out = []
        got = 0
        if self.gro:
            recvmsg = self.sock.recvmsg
            space = offload.GRO_CMSG_SPACE
            while got < limit:
                try:
                    data, anc, _flags, sockaddr = recvmsg(MAX_DATAGRAM, space)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue
                addr = self._normalise(sockaddr)
                size = offload.gro_size(anc) if anc else 0
                n = len(data)
                if size and n > size:
                    view = memoryview(data)
                    datas = [view[i:i + size] for i in range(0, n, size)]
                else:
                    datas = [data]
                got += len(datas)
                if out and out[-1][1] == addr:
                    out[-1][0].extend(datas)
                else:
                    out.append((datas, addr))
            return out
        recvfrom = self.sock.recvfrom
        while got < limit:
            try:
                data, sockaddr = recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            addr = self._normalise(sockaddr)
            got += 1
            if out and out[-1][1] == addr:
                out[-1][0].append(data)
            else:
                out.append(([data], addr))
        return out

    def send_many(self, datas, addr):
        if not self.gso or len(datas) == 1:
            ok = 0
            for d in datas:
                if self.sendto(d, addr):
                    ok += 1
            return ok
        sockaddr = self._sockaddr(addr)
        sendmsg = self.sock.sendmsg
        ok = 0
        for size, run in offload.gso_runs(datas):
            if len(run) == 1:
                if self.sendto(run[0], addr):
                    ok += 1
                continue
            try:
                sendmsg(run, offload.gso_cmsg(size), 0, sockaddr)
                ok += len(run)
            except OSError as e:
                if e.errno in (errno.EIO, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOPROTOOPT):
                    # The route's device cannot segment (e.g. no checksum
                    # offload): stop asking, send this run one by one.
                    log.info("UDP GSO refused (%s); sending datagrams one by one", e.strerror)
                    self.gso = False
                    for d in run:
                        if self.sendto(d, addr):
                            ok += 1
        return ok

    def recv_many(self, limit=64):
        out = []
        recvfrom = self.sock.recvfrom
        while len(out) < limit:
            try:
                data, sockaddr = recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # ICMP errors surface here as ECONNREFUSED and friends on
                # some kernels; they concern one earlier send, not this socket.
                continue
            out.append((data, normalise(sockaddr[0], sockaddr[1])))
        return out

    def _sockaddr(self, addr):
        host, port = addr
        if self.family == socket.AF_INET6:
            if ":" not in host:
                host = _MAPPED_PREFIX + host
            return (host, port, 0, 0)
        return (host, port)

    def sendto(self, data, addr):
        try:
            self.sock.sendto(data, self._sockaddr(addr))
        except OSError:
            # Buffer full, no route, wrong family: the datagram is lost like
            # on any lossy link, and WireGuard's timers retransmit what matters.
            return False
        return True

    def close(self):
        self.sock.close()


class FakeBind:
    """An in-memory bind for tests: `inject(data, addr)` plays a datagram
    arriving, `sent` collects (data, addr) the data plane sent. Pollable via
    a socketpair, like the real one."""

    def __init__(self, port=51820):
        self.port = port
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._queue = []
        self.sent = []
        self.fail_sends = False
        self.closed = False

    def fileno(self):
        return self._r.fileno()

    def inject(self, data, addr):
        self._queue.append((bytes(data), addr))
        self._w.send(b"x")

    def recv_many(self, limit=64):
        out = self._queue[:limit]
        del self._queue[:limit]
        if not self._queue:
            try:
                while self._r.recv(4096):
                    pass
            except BlockingIOError:
                pass
        return out

    def sendto(self, data, addr):
        if self.fail_sends:
            return False
        self.sent.append((bytes(data), addr))
        return True

    def recv_batches(self, limit=64):
        return [([d], a) for d, a in self.recv_many(limit)]

    def send_many(self, datas, addr):
        return sum(1 for d in datas if self.sendto(d, addr))

    def close(self):
        if not self.closed:
            self.closed = True
            self._r.close()
            self._w.close()
