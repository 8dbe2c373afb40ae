"""One interface over both data planes, and the choice between them.

Owns: the TunnelBackend interface the supervisor's driver (driver.py) uses,
its two implementations, and select(), which turns the offload decision
(core/offload.py via crypto/select.py) and a module probe into the backend
that runs and the sentence a household reads about it.

  TunnelBackend
    name                     "kernel" or "userspace"
    start(conf)              bring the tunnel up from a parsed WgConfig
    reconfigure(conf) -> kernel.Change
                             make the running tunnel match conf; returns the
                             difference (empty: nothing was touched)
    status() -> dict         {"backend", "ifname", "peers": [{public_key,
                             endpoint, last_handshake (wall clock or None),
                             handshake_age (s or None), rx_bytes, tx_bytes}]}
                             plus what the plane itself reports
    stop()                   take the tunnel down; safe to call twice

KernelBackend keeps a kernel WireGuard interface equal to the config with
tunnel/kernel.py's one-message diff: Python stays out of the packet path
and a reconfigure that changes one peer leaves the others' sessions alone.
UserspaceBackend runs tunnel/dataplane.py's DataPlane in a thread; it has
no live peer editing across threads, so a non-empty difference restarts it
(the kill switch holds LAN traffic meanwhile).

Both keep the same status file (RUN/tunnel.json) fresh, because `vpnspot
status`, the web UI and the console read it whichever backend runs. The
backends mark their UDP with the fwmark they are given so it always takes
the WAN (net/routing.py rule 9990), never the tunnel itself.
"""

import json
import logging
import os
import socket
import threading
import time

from . import kernel as kmod
from vpnspot_router.store import write_status_json

log = logging.getLogger("vpnspot.tunnel")

KERNEL = "kernel"
USERSPACE = "userspace"
STATUS_INTERVAL = 5.0


def _with_ages(status, now):
    for p in status.get("peers") or ():
        last = p.get("last_handshake")
        p["handshake_age"] = None if not last else round(max(0.0, now - last), 1)
    return status


def conf_state(conf, resolver=None, fwmark=0):
    """What a WgConfig asks for, as (DeviceConfig, addresses, mtu, routes):
    the one model both backends diff against."""
    return kmod.desired_from_conf(conf, resolver, fwmark)


def conf_diff(old, new, fwmark=0):
    """kernel.Change from WgConfig `old` to `new` (device and peers), plus
    'set addresses' / 'set mtu' lines when those differ. Pure."""
    want, addrs, mtu, _ = conf_state(new, _literal_only, fwmark)
    if old is None:
        return kmod.plan(None, want)
    have, old_addrs, old_mtu, _ = conf_state(old, _literal_only, fwmark)
    current = kmod.DeviceState(have.private_key, None, have.listen_port, have.fwmark,
                               dict((pub, kmod.PeerState(p, 0.0, 0, 0))
                                    for pub, p in have.peers.items()))
    change = kmod.plan(current, want)
    if sorted(old_addrs) != sorted(addrs):
        change.device_fields.append("addresses")
    if old_mtu != mtu:
        change.device_fields.append("mtu")
    return change


def _literal_only(host, port):
    # Diffing never resolves names: a hostname endpoint compares as unset.
    return None


class KernelBackend(object):
    name = KERNEL

    def __init__(self, ifname, fwmark=0, status_path=None, netlink=None, resolver=None,
                 status_interval=STATUS_INTERVAL, clock=time.time):
        self.ifname = ifname
        self.fwmark = fwmark
        self.status_path = status_path
        self.status_interval = status_interval
        self.clock = clock
        self.netlink = netlink
        self.resolver = resolver
        self.tunnel = None
        self.conf = None
        self._next_write = 0.0

    def _resolve(self, host, port):
        if self.resolver is not None:
            return self.resolver(host, port)
        from .dataplane import resolve
        return resolve(host, port, want_ipv6=True)

    def start(self, conf):
        self.tunnel = kmod.KernelTunnel(self.ifname, self.netlink)
        try:
            return self.reconfigure(conf)
        except BaseException:
            self.tunnel.down()
            self.tunnel = None
            raise

    def reconfigure(self, conf):
        if self.tunnel is None:
            return self.start(conf)
        device, addresses, mtu, routes = conf_state(conf, self._resolve, self.fwmark)
        change = self.tunnel.apply(device, addresses, mtu, routes)
        if self.conf is not None and not change.empty:
            log.info("kernel WireGuard %s reconfigured: %s", self.ifname,
                     "; ".join(change.describe()))
        self.conf = conf
        self._next_write = 0.0
        self.status()
        return change

    def status(self):
        if self.tunnel is None:
            return {"backend": KERNEL, "ifname": self.ifname, "running": False, "peers": []}
        now = self.clock()
        data = _with_ages(self.tunnel.status(), now)
        data["running"] = True
        if self.status_path and now >= self._next_write:
            self._next_write = now + self.status_interval
            self._write(data)
        return data

    def _write(self, data):
        try:
            write_status_json(self.status_path, data)
        except OSError as e:
            log.error("cannot write status file %s: %s", self.status_path, e)

    def stop(self):
        if self.tunnel is None:
            return
        if self.status_path:
            try:
                data = self.tunnel.status()
                data["running"] = False
                self._write(data)
            except kmod.KernelError:
                pass
        self.tunnel.down()
        self.tunnel = None


class UserspaceBackend(object):
    name = USERSPACE

    def __init__(self, ifname, provider, fwmark=0, status_path=None, timing=None,
                 status_interval=STATUS_INTERVAL, opener=None, clock=time.time):
        self.ifname = ifname
        self.provider = provider
        self.fwmark = fwmark
        self.status_path = status_path
        self.timing = timing or {}
        self.status_interval = status_interval
        self.clock = clock
        if opener is None:
            from .dataplane import open_tunnel as opener
        self.opener = opener
        self.plane = None
        self.thread = None
        self.conf = None

    def start(self, conf):
        plane = self.opener(conf, self.ifname, self.provider, status_path=self.status_path,
                            status_interval=self.status_interval, timing=self.timing)
        sock = getattr(plane.bind, "sock", None)
        if sock is not None and self.fwmark:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, self.fwmark)
        self.plane = plane
        self.conf = conf
        self.thread = threading.Thread(target=plane.run, daemon=True, name="vpnspot-tunnel")
        self.thread.start()
        return conf_diff(None, conf, self.fwmark)

    def reconfigure(self, conf):
        if self.plane is None:
            return self.start(conf)
        change = conf_diff(self.conf, conf, self.fwmark)
        if change.empty:
            return change
        log.info("userspace WireGuard %s: %s; restarting it", self.ifname,
                 "; ".join(change.describe()))
        self.stop()
        self.start(conf)
        return change

    def status(self):
        if self.plane is None:
            return {"backend": USERSPACE, "ifname": self.ifname, "running": False, "peers": []}
        data = _with_ages(self.plane.status(), self.clock())
        data["backend"] = USERSPACE
        return data

    def stop(self):
        if self.plane is None:
            return
        # A stop that lands before run() has set its running flag would be
        # forgotten, so ask again until the thread has ended (at most ~5 s).
        deadline = time.monotonic() + 5.0
        while True:
            self.plane.stop()
            if self.thread is None:
                break
            self.thread.join(0.1)
            if not self.thread.is_alive() or time.monotonic() > deadline:
                break
        self.plane = None
        self.thread = None


# ------------------------------------------------------------------ choice

class Choice(object):
    """The backend to run and why, in words for the household."""

    __slots__ = ("backend", "reason")

    def __init__(self, backend, reason):
        self.backend = backend
        self.reason = reason

    def as_dict(self):
        return {"backend": self.backend, "reason": self.reason}

    def __repr__(self):
        return "Choice(%r, %r)" % (self.backend, self.reason)


def select(decision, probe=None):
    """Choice from the offload decision ({data_plane, reason}, as agent.py
    keeps it; None or an undecided one when the probe failed) and a module
    probe (`probe() -> kernel.Availability`, default module_available).

    The decision already weighs the configuration's override. The probe
    has the last word for kernel WireGuard: the decision reads files, the
    probe asks the kernel (and loads the module if it is installed)."""
    probe = probe or kmod.module_available
    decision = decision or {}
    plane = decision.get("data_plane")
    reason = decision.get("reason") or ""
    if plane == USERSPACE:
        return Choice(USERSPACE, reason)
    available = probe()
    if plane == KERNEL:
        if available:
            return Choice(KERNEL, reason)
        return Choice(USERSPACE, "kernel WireGuard was chosen but cannot run (%s); using "
                      "userspace WireGuard" % available.reason)
    # No decision (the probe or the measurement failed): follow the module.
    why = "no offload decision (%s)" % (reason or "not measured")
    if available:
        return Choice(KERNEL, "%s; %s: using kernel WireGuard" % (why, available.reason))
    return Choice(USERSPACE, "%s; %s: using userspace WireGuard" % (why, available.reason))


def describe(choice):
    """The line `vpnspot status` prints: 'kernel WireGuard - why'."""
    label = "kernel WireGuard" if choice["backend"] == KERNEL else "userspace WireGuard"
    return "%s \u2014 %s" % (label, choice["reason"]) if choice.get("reason") else label
