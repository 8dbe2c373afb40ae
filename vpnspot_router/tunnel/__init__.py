"""Data planes: how packets get into and out of the WireGuard tunnel.

Userspace WireGuard (no kernel module):
  tun.py        TUN device (/dev/net/tun) and its link setup (pyroute2 IPRoute)
  bind.py       UDP socket(s) and the one address format the core sees
  dataplane.py  the driver loop: TUN + UDP + timers -> core -> actions -> IO
  offload.py    kernel offloads: TUN vnet headers, TCP segmentation/coalescing,
                UDP GSO/GRO, checksums; one switch each (offload.Switches)
Each OS boundary has a fake beside it (FakeTun, FakeBind) for tests.
"""
