"""The TUN side of the userspace data plane: a layer-3 device and its setup.

Owns: opening /dev/net/tun as a non-blocking IFF_TUN | IFF_NO_PI device (one
IP packet per read/write, no packet-info header), and the link state the
tunnel needs: MTU, addresses, up, and routes for the peers' allowed IPs.

Interface (`TunDevice` and the `FakeTun` beside it):
  fileno()        for the driver's poll loop
  read()          one IP packet, or None when nothing is waiting
  write(packet)   one IP packet to the kernel
  read_packets()  the IP packets of one read (one, or the segments of a
                  TCP super-packet when TSO is on); [] when nothing waits
  write_packets(packets)  a run of IP packets (coalesced when allowed);
                  returns how many the kernel took
  close()         for a non-persistent TUN this removes the interface too

Offloads (offload.py): with `switches.tso` or `switches.coalesce` the device
is opened with IFF_VNET_HDR, so every read and write carries a 10-byte
virtio_net_hdr; with `tso` it also asks TUNSETOFFLOAD for CSUM+TSO4+TSO6.
A kernel that refuses either gets a plain device (logged, not fatal).

Link setup goes through pyroute2's IPRoute (plain netlink, no NDB: NDB runs
threads and sqlite, too heavy for a router); only when pyroute2 is missing
does it fall back to the `ip` command. Routes whose prefix is /0 are not
installed here: a default route through the tunnel would also swallow the
tunnel's own UDP packets, so sending all LAN traffic through the tunnel is
net/'s policy routing, not the data plane's.
"""

import errno
import fcntl
import json
import logging
import os
import socket
import struct
import collections
import subprocess
import sys
import threading

from . import offload

log = logging.getLogger("vpnspot.tunnel")

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUNSETOFFLOAD = 0x400454D0
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
IFNAMSIZ = 16
# One read returns one packet; 64 KiB holds the largest IP packet.
READ_SIZE = 65536
# With a vnet header a read holds the header plus a super-packet of up to 64 KB.
VNET_READ_SIZE = 65536 + 16


class TunError(Exception):
    """The TUN device or its link state could not be set up."""


class TunDevice:
    def __init__(self, name, path="/dev/net/tun", switches=None):
        if not name or len(name) >= IFNAMSIZ or "/" in name or " " in name:
            raise TunError("interface name %r must be 1-15 characters without '/' or spaces" % name)
        want_vnet = switches is not None and (switches.tso or switches.coalesce)
        self.vnet_hdr = False
        self.tso = False
        self.coalesce = False
        self._writer = None
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise TunError("cannot open %s: %s (needs root or CAP_NET_ADMIN and the tun module)"
                           % (path, e.strerror)) from e
        try:
            ifr = None
            if want_vnet:
                try:
                    ifr = fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(),
                                                                 IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
                    self.vnet_hdr = True
                except OSError as e:
                    log.info("TUN: kernel refused vnet headers (%s); offloads off", e.strerror)
            if ifr is None:
                ifr = fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError as e:
            os.close(fd)
            raise TunError("cannot create TUN interface %s: %s" % (name, e.strerror)) from e
        self.fd = fd
        self.name = ifr[:16].rstrip(b"\0").decode()
        if self.vnet_hdr:
            self.coalesce = bool(switches.coalesce)
            if switches.tso:
                try:
                    fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
                    self.tso = True
                except OSError as e:
                    log.info("TUN: kernel refused TSO offload (%s); reading single packets", e.strerror)

    def fileno(self):
        return self.fd

    def read(self):
        """One raw read (with the vnet header when vnet_hdr is on), or None."""
        try:
            return os.read(self.fd, VNET_READ_SIZE if self.vnet_hdr else READ_SIZE)
        except BlockingIOError:
            return None

    def read_packets(self):
        raw = self.read()
        if raw is None:
            return []
        if self.vnet_hdr:
            return offload.split_tun_read(raw)
        return [raw]

    def write(self, packet):
        try:
            if self.vnet_hdr:
                os.writev(self.fd, (offload.ZERO_VNET_HDR, packet))
            else:
                os.write(self.fd, packet)
        except BlockingIOError:
            # The kernel's TUN queue is full; dropping is what a NIC does.
            return False
        return True

    def write_packets(self, packets):
        """Returns (packets written, packets dropped). With the writer thread
        on, "written" means handed to the thread; its failures come back as
        dropped in a later call."""
        if self.coalesce:
            writes = offload.coalesce(packets)
        elif self.vnet_hdr:
            writes = [[offload.ZERO_VNET_HDR, p] for p in packets]
        else:
            writes = [[p] for p in packets]
        if self._writer is not None:
            return self._writer.submit(writes, len(packets))
        ok = bad = 0
        writev = os.writev
        fd = self.fd
        for pieces in writes:
            count = len(pieces) - 2 if len(pieces) > 2 else 1
            try:
                writev(fd, pieces)
                ok += count
            except OSError:
                # BlockingIOError: the kernel's TUN queue is full; dropping
                # is what a NIC does.
                bad += count
        return ok, bad

    def start_writer(self):
        """Move TUN writes to a thread: os.writev releases the GIL, and the
        kernel's receive path (TCP, forwarding) runs inside that system call,
        so it overlaps with decrypting the next batch on the main thread."""
        if self._writer is None:
            self._writer = _Writer(self.fd)

    def close(self):
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Writer:
    MAX_QUEUED = 256            # batches; beyond this new ones are dropped, like a full queue

    def __init__(self, fd):
        self.fd = fd
        self.queue = collections.deque()
        self.cond = threading.Condition()
        self.errors = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="tun-writer", daemon=True)
        self.thread.start()

    def submit(self, writes, count):
        with self.cond:
            errors, self.errors = self.errors, 0
            if len(self.queue) >= self.MAX_QUEUED:
                return 0, count + errors
            self.queue.append(writes)
            self.cond.notify()
        return count, errors

    def _run(self):
        writev = os.writev
        fd = self.fd
        while True:
            with self.cond:
                while not self.queue and not self.stopping:
                    self.cond.wait()
                if not self.queue:
                    return
                writes = self.queue.popleft()
            bad = 0
            for pieces in writes:
                try:
                    writev(fd, pieces)
                except OSError:
                    bad += len(pieces) - 2 if len(pieces) > 2 else 1
            if bad:
                with self.cond:
                    self.errors += bad

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.thread.join(timeout=5)


class FakeTun:
    """An in-memory TUN: `inject` plays the kernel sending a packet into the
    tunnel, `written` collects what the data plane delivered. A socketpair
    makes it pollable like the real device."""

    def __init__(self, name="fake0"):
        self.name = name
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._queue = []
        self.written = []
        self.closed = False

    def fileno(self):
        return self._r.fileno()

    def inject(self, packet):
        self._queue.append(bytes(packet))
        self._w.send(b"x")

    def read(self):
        if not self._queue:
            try:
                self._r.recv(4096)
            except BlockingIOError:
                pass
            return None
        return self._queue.pop(0)

    def write(self, packet):
        self.written.append(bytes(packet))
        return True

    def read_packets(self):
        p = self.read()
        return [] if p is None else [p]

    def write_packets(self, packets):
        for p in packets:
            self.write(p)
        return len(packets), 0

    def close(self):
        if not self.closed:
            self.closed = True
            self._r.close()
            self._w.close()


# ---------------------------------------------------------------- link setup

def configure_link(ifname, addresses, mtu, routes):
    """Give `ifname` its MTU and addresses, bring it up and route `routes`
    (lists of (address_text, prefix_length)) to it. Returns the routes
    actually installed. Raises TunError.

    The work happens in a forked child when pyroute2 is not loaded yet:
    importing pyroute2 costs the tunnel process about 15 MB of RSS for the
    rest of its life, for a few netlink messages at start."""
    if "pyroute2" in sys.modules or not hasattr(os, "fork"):
        return _configure_link(ifname, addresses, mtu, routes)
    try:
        r, w = os.pipe()
        pid = os.fork()
    except OSError:
        return _configure_link(ifname, addresses, mtu, routes)
    if pid == 0:
        code = 1
        try:
            os.close(r)
            try:
                result = {"routes": _configure_link(ifname, addresses, mtu, routes)}
            except TunError as e:
                result = {"error": str(e)}
            os.write(w, json.dumps(result).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    with os.fdopen(r, "rb") as f:
        chunks.append(f.read())
    _pid, status = os.waitpid(pid, 0)
    try:
        result = json.loads(b"".join(chunks).decode())
    except ValueError:
        raise TunError("cannot configure %s: link setup process failed (status %d)" % (ifname, status))
    if "error" in result:
        raise TunError(result["error"])
    return [tuple(x) for x in result["routes"]]


def _configure_link(ifname, addresses, mtu, routes):
    routes = [r for r in routes if r[1] != 0]
    try:
        from pyroute2 import IPRoute
    except ImportError:
        _configure_with_ip_command(ifname, addresses, mtu, routes)
        return routes
    try:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=ifname)
            if not found:
                raise TunError("interface %s vanished during setup" % ifname)
            index = found[0]
            ipr.link("set", index=index, mtu=mtu)
            for addr, length in addresses:
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                kwargs = {}
                if family == socket.AF_INET6:
                    # Skip duplicate address detection: the address is ours
                    # on a point-to-point tunnel and must be usable at once.
                    kwargs["flags"] = 0x02  # IFA_F_NODAD
                ipr.addr("add", index=index, address=addr, prefixlen=length, family=family, **kwargs)
            ipr.link("set", index=index, state="up")
            for addr, length in routes:
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                try:
                    ipr.route("add", dst="%s/%d" % (addr, length), oif=index, family=family)
                except Exception as e:
                    # The interface's own address already installed this
                    # prefix as a connected route; that one is as good.
                    if getattr(e, "code", None) != errno.EEXIST:
                        raise
    except TunError:
        raise
    except Exception as e:
        raise TunError("cannot configure %s: %s" % (ifname, e)) from e
    return routes


def _configure_with_ip_command(ifname, addresses, mtu, routes):
    def ip(*argv, tolerate_exists=False):
        proc = subprocess.run(("ip",) + argv, capture_output=True, text=True)
        if proc.returncode != 0:
            if tolerate_exists and "File exists" in proc.stderr:
                return
            raise TunError("`ip %s` failed: %s" % (" ".join(argv), proc.stderr.strip()))

    ip("link", "set", "dev", ifname, "mtu", str(mtu))
    for addr, length in addresses:
        if ":" in addr:
            ip("-6", "addr", "add", "%s/%d" % (addr, length), "dev", ifname, "nodad")
        else:
            ip("addr", "add", "%s/%d" % (addr, length), "dev", ifname)
    ip("link", "set", "dev", ifname, "up")
    for addr, length in routes:
        family = "-6" if ":" in addr else "-4"
        ip(family, "route", "add", "%s/%d" % (addr, length), "dev", ifname, tolerate_exists=True)


def link_exists(ifname):
    return os.path.exists("/sys/class/net/%s" % ifname)
