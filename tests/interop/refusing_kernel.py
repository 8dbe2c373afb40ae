"""Run `vpnspot` on a kernel that refuses offloads, for the fallback tests.

    python tests/interop/refusing_kernel.py REFUSE[,REFUSE...] VPNSPOT-ARGS...

Each REFUSE makes one kernel call fail the way an older or stripped-down
kernel fails it; tun.py and bind.py must notice, fall back by themselves
and keep the tunnel working (tunnel/offload.py: "falls back by itself when
the kernel refuses it"). Everything else is the real kernel:

  vnet      TUNSETIFF with IFF_VNET_HDR fails (EINVAL): no vnet headers, so
            neither TSO nor coalescing
  tso       TUNSETOFFLOAD fails (EINVAL): vnet headers but no TSO
  gso       getsockopt UDP_SEGMENT fails (ENOPROTOOPT): a kernel before 4.18
  gro       setsockopt UDP_GRO fails (ENOPROTOOPT): a kernel before 5.0
  gso-send  every sendmsg carrying UDP_SEGMENT fails (EIO), as it does on
            kernels before 6.10 when the route's device cannot checksum:
            the refusal arrives in the middle of traffic, not at start

Used by tests/interop/test_wireguard_go.py (Topology's `runner`).
"""

import errno
import fcntl
import os
import socket
import struct
import sys

from vpnspot_router import cli
from vpnspot_router.tunnel import offload
from vpnspot_router.tunnel import tun

NAMES = ("vnet", "tso", "gso", "gro", "gso-send")


def _refused(code):
    return OSError(code, os.strerror(code))


def install(refuse):
    unknown = set(refuse) - set(NAMES)
    if unknown:
        raise SystemExit("refusing_kernel: unknown %s; choose from %s" % (sorted(unknown), NAMES))
    real_ioctl = fcntl.ioctl

    def ioctl(fd, request, arg=0, *rest):
        if request == tun.TUNSETIFF and "vnet" in refuse and isinstance(arg, bytes) \
                and struct.unpack_from("H", arg, 16)[0] & tun.IFF_VNET_HDR:
            raise _refused(errno.EINVAL)
        if request == tun.TUNSETOFFLOAD and "tso" in refuse:
            raise _refused(errno.EINVAL)
        return real_ioctl(fd, request, arg, *rest)
    fcntl.ioctl = ioctl

    cls = socket.socket
    real_get, real_set, real_sendmsg = cls.getsockopt, cls.setsockopt, cls.sendmsg

    def getsockopt(self, level, option, *rest):
        if "gso" in refuse and (level, option) == (offload.SOL_UDP, offload.UDP_SEGMENT):
            raise _refused(errno.ENOPROTOOPT)
        return real_get(self, level, option, *rest)

    def setsockopt(self, level, option, *rest):
        if "gro" in refuse and (level, option) == (offload.SOL_UDP, offload.UDP_GRO):
            raise _refused(errno.ENOPROTOOPT)
        return real_set(self, level, option, *rest)

    def sendmsg(self, buffers, ancdata=(), *rest):
        if "gso-send" in refuse and any((c[0], c[1]) == (offload.SOL_UDP, offload.UDP_SEGMENT)
                                        for c in ancdata):
            raise _refused(errno.EIO)
        return real_sendmsg(self, buffers, ancdata, *rest)
    cls.getsockopt, cls.setsockopt, cls.sendmsg = getsockopt, setsockopt, sendmsg


if __name__ == "__main__":
    install([n for n in sys.argv[1].split(",") if n])
    sys.exit(cli.main(sys.argv[2:]))
