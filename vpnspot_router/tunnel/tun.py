"""The TUN side of the userspace data plane: a layer-3 device and its setup.

Owns: opening /dev/net/tun as a non-blocking IFF_TUN | IFF_NO_PI device (one
IP packet per read/write, no packet-info header), and the link state the
tunnel needs: MTU, addresses, up, and routes for the peers' allowed IPs.

Interface (`TunDevice` and the `FakeTun` beside it):
  fileno()        for the driver's poll loop
  read()          one IP packet, or None when nothing is waiting
  write(packet)   one IP packet to the kernel
  close()         for a non-persistent TUN this removes the interface too

Link setup goes through pyroute2's IPRoute (plain netlink, no NDB: NDB runs
threads and sqlite, too heavy for a router); only when pyroute2 is missing
does it fall back to the `ip` command. Routes whose prefix is /0 are not
installed here: a default route through the tunnel would also swallow the
tunnel's own UDP packets, so sending all LAN traffic through the tunnel is
net/'s policy routing, not the data plane's.
"""

import errno
import fcntl
import logging
import os
import socket
import struct
import subprocess

log = logging.getLogger("vpnspot.tunnel")

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFNAMSIZ = 16
# One read returns one packet; 64 KiB holds the largest IP packet.
READ_SIZE = 65536


class TunError(Exception):
    """The TUN device or its link state could not be set up."""


class TunDevice:
    def __init__(self, name, path="/dev/net/tun"):
        if not name or len(name) >= IFNAMSIZ or "/" in name or " " in name:
            raise TunError("interface name %r must be 1-15 characters without '/' or spaces" % name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise TunError("cannot open %s: %s (needs root or CAP_NET_ADMIN and the tun module)"
                           % (path, e.strerror)) from e
        try:
            ifr = struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI)
            ifr = fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as e:
            os.close(fd)
            raise TunError("cannot create TUN interface %s: %s" % (name, e.strerror)) from e
        self.fd = fd
        self.name = ifr[:16].rstrip(b"\0").decode()

    def fileno(self):
        return self.fd

    def read(self):
        try:
            return os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return None

    def write(self, packet):
        try:
            os.write(self.fd, packet)
        except BlockingIOError:
            # The kernel's TUN queue is full; dropping is what a NIC does.
            return False
        return True

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


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

    def close(self):
        if not self.closed:
            self.closed = True
            self._r.close()
            self._w.close()


# ---------------------------------------------------------------- link setup

def configure_link(ifname, addresses, mtu, routes):
    """Give `ifname` its MTU and addresses, bring it up and route `routes`
    (lists of (address_text, prefix_length)) to it. Returns the routes
    actually installed. Raises TunError."""
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
