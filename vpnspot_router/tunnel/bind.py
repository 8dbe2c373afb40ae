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
  port                  the local UDP port actually bound
  close()

One AF_INET6 socket with IPV6_V6ONLY=0 serves both families when the kernel
allows it; on a router with IPv6 disabled it falls back to a plain AF_INET
socket, and IPv6 peers then fail at sendto (counted, not fatal).
"""

import errno
import socket

MAX_DATAGRAM = 65536
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


class UdpBind:
    def __init__(self, port=0, host=None):
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
        self.sock = sock
        self.family = sock.family
        self.port = sock.getsockname()[1]

    def fileno(self):
        return self.sock.fileno()

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

    def close(self):
        if not self.closed:
            self.closed = True
            self._r.close()
            self._w.close()
