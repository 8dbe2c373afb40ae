"""The kernel WireGuard data plane: desired state in, one netlink diff out.

Owns: the kernel backend's model of a WireGuard device (DeviceConfig,
PeerSettings for what we want; DeviceState, PeerState for what the kernel
reports), the pure `plan()` that turns the difference into one Change (like
`wg syncconf`: untouched peers keep their sessions and counters), and the
backend that applies it (KernelTunnel). Python is only the control plane
here; packets never pass through it.

OS boundary (narrow, with FakeKernelNetlink beside it in kernel_fake.py):

  KernelNetlink
    link_index(ifname) -> int or None
    create_wireguard(ifname) / delete_link(ifname)
    set_link(ifname, mtu, up=True)
    addresses(ifname) -> set of "addr/len"   add_address / del_address(ifname, cidr)
    routes(ifname) -> set of "net/len"        add_route / del_route(ifname, cidr)
      (only routes this backend installs: protocol "static" on the device)
    wg_read(ifname) -> DeviceState
    wg_apply(ifname, change)                  ONE WG_CMD_SET_DEVICE message

PyrouteNetlink implements it with pyroute2's IPRoute and its WireGuard
generic-netlink class (no NDB: threads and sqlite have no place on a router).
The agent uses wgnetlink.LeanNetlink: the reads on the standard library's
netlink, every change through PyrouteNetlink in a short-lived child, so
pyroute2 (15-20 MB) never loads into the always-on process.

Key material: keys are bytes inside; base64 only at the pyroute2 boundary;
no repr or status prints a private or preshared key.
"""

import binascii
import ipaddress
import logging
import os
import socket
import subprocess
import time
from collections import namedtuple

from vpnspot_router.availability import Availability

log = logging.getLogger("vpnspot.tunnel.kernel")

ZERO_KEY = b"\x00" * 32
RTPROT_STATIC = 4


def _b64(key):
    return binascii.b2a_base64(key).decode().strip()


def _unb64(text):
    if isinstance(text, str):
        text = text.encode()
    return binascii.a2b_base64(text)


def canonical_prefix(text):
    """'10.77.0.1/24' -> '10.77.0.0/24' (as the kernel stores allowed IPs)."""
    if isinstance(text, (tuple, list)):
        text = "%s/%d" % (text[0], text[1])
    return str(ipaddress.ip_network(text, strict=False))


def canonical_endpoint(endpoint):
    """(host, port) with a literal address -> (canonical address text, port)."""
    if endpoint is None:
        return None
    host, port = endpoint[0], int(endpoint[1])
    return (str(ipaddress.ip_address(str(host).strip("[]"))), port)


# ---------------------------------------------------------------- the model

class PeerSettings(namedtuple("PeerSettings", "public_key preshared_key endpoint allowed_ips "
                                              "persistent_keepalive")):
    """What we want for one peer. preshared_key None = none; endpoint None =
    keep whatever the kernel has (learned from the peer, as wg syncconf
    does); allowed_ips a frozenset of canonical prefixes; keepalive 0 = off."""

    __slots__ = ()

    def __new__(cls, public_key, preshared_key=None, endpoint=None, allowed_ips=(),
                persistent_keepalive=0):
        return super().__new__(cls, bytes(public_key), preshared_key, canonical_endpoint(endpoint),
                               frozenset(canonical_prefix(p) for p in allowed_ips),
                               int(persistent_keepalive or 0))

    def __repr__(self):
        return "PeerSettings(%s, psk=%s, endpoint=%r, allowed_ips=%s, keepalive=%d)" % (
            _b64(self.public_key)[:8], "yes" if self.preshared_key else "no", self.endpoint,
            sorted(self.allowed_ips), self.persistent_keepalive)


class DeviceConfig(object):
    """What we want for the device: keys, port, fwmark, peers by public key.
    listen_port None = let the kernel choose (and keep what it chose)."""

    def __init__(self, private_key, listen_port=None, fwmark=0, peers=()):
        self.private_key = bytes(private_key)
        self.listen_port = listen_port
        self.fwmark = int(fwmark or 0)
        self.peers = dict((p.public_key, p) for p in peers)

    def __repr__(self):
        return "DeviceConfig(private_key=<redacted>, listen_port=%r, fwmark=%d, peers=%r)" % (
            self.listen_port, self.fwmark, list(self.peers.values()))


PeerState = namedtuple("PeerState", "settings last_handshake rx_bytes tx_bytes")
PeerState.__doc__ = "A peer as the kernel reports it: its PeerSettings plus live numbers."


class DeviceState(object):
    """The device as the kernel reports it."""

    def __init__(self, private_key=None, public_key=None, listen_port=0, fwmark=0, peers=None):
        self.private_key = private_key
        self.public_key = public_key
        self.listen_port = listen_port
        self.fwmark = fwmark
        self.peers = peers or {}      # public key -> PeerState

    def __repr__(self):
        return "DeviceState(listen_port=%r, fwmark=%r, peers=%d)" % (
            self.listen_port, self.fwmark, len(self.peers))


class PeerChange(namedtuple("PeerChange", "public_key action fields replace_allowed_ips")):
    """One peer's part of a Change. action: 'add', 'update' or 'remove';
    fields: the PeerSettings field names to send (all for 'add')."""

    __slots__ = ()


class Change(object):
    """The difference between a DeviceState and a DeviceConfig: device fields
    to set and per-peer changes, sent to the kernel as one message."""

    def __init__(self, device_fields, peers, desired):
        self.device_fields = device_fields      # subset of private_key, listen_port, fwmark
        self.peers = peers                      # list of PeerChange
        self.desired = desired                  # the DeviceConfig the values come from

    @property
    def empty(self):
        return not self.device_fields and not self.peers

    def describe(self):
        """Lines for logs and status; keys shortened, no secrets."""
        out = ["set %s" % f for f in self.device_fields]
        for p in self.peers:
            what = "" if p.action == "remove" else " (%s)" % ", ".join(p.fields)
            out.append("%s peer %s%s" % (p.action, _b64(p.public_key)[:8], what))
        return out

    def __repr__(self):
        return "Change(%s)" % "; ".join(self.describe()) if not self.empty else "Change(nothing)"


_PEER_FIELDS = ("preshared_key", "endpoint", "allowed_ips", "persistent_keepalive")


def plan(current, desired):
    """The Change that makes `current` (a DeviceState; None for a new
    device) equal to `desired` (a DeviceConfig). Pure: no IO."""
    if current is None:
        current = DeviceState()
    fields = []
    if current.private_key != desired.private_key:
        fields.append("private_key")
    if desired.listen_port is not None and current.listen_port != desired.listen_port:
        fields.append("listen_port")
    if (current.fwmark or 0) != desired.fwmark:
        fields.append("fwmark")
    peers = []
    for pub in sorted(set(current.peers) - set(desired.peers)):
        peers.append(PeerChange(pub, "remove", (), False))
    for pub in sorted(desired.peers):
        want = desired.peers[pub]
        have = current.peers.get(pub)
        if have is None:
            sent = tuple(f for f in _PEER_FIELDS
                         if not (f == "endpoint" and want.endpoint is None)
                         and not (f == "preshared_key" and want.preshared_key is None))
            peers.append(PeerChange(pub, "add", sent, True))
            continue
        have = have.settings
        changed = []
        if (have.preshared_key or None) != (want.preshared_key or None):
            changed.append("preshared_key")
        if want.endpoint is not None and have.endpoint != want.endpoint:
            changed.append("endpoint")
        if have.allowed_ips != want.allowed_ips:
            changed.append("allowed_ips")
        if have.persistent_keepalive != want.persistent_keepalive:
            changed.append("persistent_keepalive")
        if changed:
            peers.append(PeerChange(pub, "update", tuple(changed), "allowed_ips" in changed))
    return Change(fields, peers, desired)


# ------------------------------------------------------------- the adapter

class KernelError(Exception):
    """The kernel refused or lacks something; the message says what to do."""


class PyrouteNetlink(object):
    """KernelNetlink on pyroute2 (IPRoute + WireGuard generic netlink)."""

    def __init__(self):
        from pyroute2 import IPRoute
        self._ipr = IPRoute()
        self._wg = None

    def close(self):
        self._ipr.close()
        if self._wg is not None:
            self._wg.close()

    def _wgsock(self):
        if self._wg is None:
            from pyroute2 import WireGuard
            self._wg = WireGuard()
        return self._wg

    def link_index(self, ifname):
        found = self._ipr.link_lookup(ifname=ifname)
        return found[0] if found else None

    def _index(self, ifname):
        index = self.link_index(ifname)
        if index is None:
            raise KernelError("interface %s does not exist" % ifname)
        return index

    def create_wireguard(self, ifname):
        self._ipr.link("add", ifname=ifname, kind="wireguard")

    def delete_link(self, ifname):
        index = self.link_index(ifname)
        if index is not None:
            self._ipr.link("del", index=index)

    def set_link(self, ifname, mtu, up=True):
        index = self._index(ifname)
        self._ipr.link("set", index=index, mtu=mtu)
        if up:
            self._ipr.link("set", index=index, state="up")

    def addresses(self, ifname):
        index = self._index(ifname)
        out = set()
        for msg in self._ipr.get_addr(index=index):
            out.add("%s/%d" % (msg.get_attr("IFA_ADDRESS"), msg["prefixlen"]))
        return out

    def add_address(self, ifname, cidr):
        addr, length = cidr.split("/")
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        kwargs = {"flags": 0x02} if family == socket.AF_INET6 else {}  # IFA_F_NODAD
        self._ipr.addr("add", index=self._index(ifname), address=addr, prefixlen=int(length),
                       family=family, **kwargs)

    def del_address(self, ifname, cidr):
        addr, length = cidr.split("/")
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self._ipr.addr("del", index=self._index(ifname), address=addr, prefixlen=int(length),
                       family=family)

    def routes(self, ifname):
        index = self._index(ifname)
        out = set()
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self._ipr.get_routes(family=family, oif=index, table=254):
                if msg["proto"] != RTPROT_STATIC:
                    continue
                dst = msg.get_attr("RTA_DST") or ("0.0.0.0" if family == socket.AF_INET else "::")
                out.add(canonical_prefix("%s/%d" % (dst, msg["dst_len"])))
        return out

    def add_route(self, ifname, cidr):
        family = socket.AF_INET6 if ":" in cidr else socket.AF_INET
        self._ipr.route("add", dst=cidr, oif=self._index(ifname), family=family, proto=RTPROT_STATIC)

    def del_route(self, ifname, cidr):
        family = socket.AF_INET6 if ":" in cidr else socket.AF_INET
        self._ipr.route("del", dst=cidr, oif=self._index(ifname), family=family, proto=RTPROT_STATIC)

    def wg_read(self, ifname):
        try:
            msgs = self._wgsock().info(ifname)
        except Exception as e:
            raise KernelError("cannot read WireGuard device %s: %s" % (ifname, e)) from e
        state = DeviceState()
        for msg in msgs:
            key = _nla_value(msg.get_attr("WGDEVICE_A_PRIVATE_KEY"))
            if key:
                state.private_key = _unb64(key)
            key = _nla_value(msg.get_attr("WGDEVICE_A_PUBLIC_KEY"))
            if key:
                state.public_key = _unb64(key)
            port = msg.get_attr("WGDEVICE_A_LISTEN_PORT")
            if port is not None:
                state.listen_port = port
            mark = msg.get_attr("WGDEVICE_A_FWMARK")
            if mark is not None:
                state.fwmark = mark
            for peer in msg.get_attr("WGDEVICE_A_PEERS") or ():
                self._merge_peer(state, peer)
        return state

    @staticmethod
    def _merge_peer(state, peer):
        psk = _nla_value(peer.get_attr("WGPEER_A_PRESHARED_KEY"))
        ep = peer.get_attr("WGPEER_A_ENDPOINT")
        hs = peer.get_attr("WGPEER_A_LAST_HANDSHAKE_TIME")
        merge_peer(state, {
            "public_key": _unb64(_nla_value(peer.get_attr("WGPEER_A_PUBLIC_KEY"))),
            "preshared_key": _unb64(psk) if psk else None,
            "endpoint": (ep["addr"], ep["port"]) if ep is not None and ep.get("addr") else None,
            "allowed_ips": set(a["addr"] for a in peer.get_attr("WGPEER_A_ALLOWEDIPS") or ()
                               if a.get("addr")),
            "last_handshake": (hs["tv_sec"] + hs["tv_nsec"] / 1e9) if hs is not None else 0.0,
            "rx_bytes": peer.get_attr("WGPEER_A_RX_BYTES") or 0,
            "tx_bytes": peer.get_attr("WGPEER_A_TX_BYTES") or 0,
            "persistent_keepalive": peer.get_attr("WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL") or 0})


    def wg_apply(self, ifname, change):
        wg = self._wgsock()
        try:
            wg._run_with_cleanup(_send_change, wg.asyncore, ifname, change)
        except KernelError:
            raise
        except Exception as e:
            raise KernelError("the kernel refused the WireGuard settings for %s: %s" % (ifname, e)) from e


def merge_peer(state, peer):
    """Add one peer of a device dump ({public_key, preshared_key, endpoint,
    allowed_ips, last_handshake, rx_bytes, tx_bytes, persistent_keepalive},
    as PyrouteNetlink and wgnetlink.py decode it) to `state`. A dump may
    split one peer's allowed IPs over several messages: parts are merged."""
    pub = peer["public_key"]
    psk = peer["preshared_key"]
    if psk == ZERO_KEY:
        psk = None
    endpoint = peer["endpoint"]
    if endpoint is not None and endpoint[0] in ("0.0.0.0", "::"):
        endpoint = None
    allowed = set(peer["allowed_ips"])
    last = peer["last_handshake"]
    rx, tx = peer["rx_bytes"], peer["tx_bytes"]
    keepalive = peer["persistent_keepalive"]
    old = state.peers.get(pub)
    if old is not None:
        allowed |= old.settings.allowed_ips
        endpoint = endpoint or old.settings.endpoint
        psk = psk or old.settings.preshared_key
        keepalive = keepalive or old.settings.persistent_keepalive
        last = max(last, old.last_handshake)
        rx, tx = max(rx, old.rx_bytes), max(tx, old.tx_bytes)
    settings = PeerSettings(pub, psk, endpoint, allowed, keepalive)
    state.peers[pub] = PeerState(settings, last, rx, tx)


def _nla_value(attr):
    """pyroute2 hands some WireGuard attributes back as decoded nla objects
    ({'key':..., 'value': b64}) and others as plain values."""
    if attr is None:
        return None
    if isinstance(attr, (bytes, str)):
        return attr
    try:
        return attr["value"]
    except (KeyError, TypeError):
        return attr.get("value") if hasattr(attr, "get") else None


async def _send_change(core, ifname, change):
    """Build and send one WG_CMD_SET_DEVICE holding every part of `change`
    (pyroute2's own set() sends one peer per message)."""
    from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST
    from pyroute2.netlink.generic.wireguard import WG_CMD_SET_DEVICE, WG_GENL_VERSION, wgmsg

    await core.setup_endpoint()
    want = change.desired
    msg = wgmsg()
    msg["attrs"].append(["WGDEVICE_A_IFNAME", ifname])
    if "private_key" in change.device_fields:
        msg["attrs"].append(["WGDEVICE_A_PRIVATE_KEY", _b64(want.private_key)])
    if "listen_port" in change.device_fields:
        msg["attrs"].append(["WGDEVICE_A_LISTEN_PORT", want.listen_port])
    if "fwmark" in change.device_fields:
        msg["attrs"].append(["WGDEVICE_A_FWMARK", want.fwmark])
    entries = []
    for pc in change.peers:
        spec = {"public_key": _b64(pc.public_key)}
        if pc.action == "remove":
            spec["remove"] = True
        else:
            p = want.peers[pc.public_key]
            if pc.action == "update":
                spec["update_only"] = True
            if "preshared_key" in pc.fields:
                spec["preshared_key"] = _b64(p.preshared_key or ZERO_KEY)
            if "endpoint" in pc.fields and p.endpoint is not None:
                spec["endpoint_addr"], spec["endpoint_port"] = p.endpoint
            if "persistent_keepalive" in pc.fields:
                spec["persistent_keepalive"] = p.persistent_keepalive
            if "allowed_ips" in pc.fields:
                spec["replace_allowed_ips"] = True
                spec["allowed_ips"] = sorted(p.allowed_ips)
        scratch = wgmsg()
        core._wg_set_peer(scratch, spec)
        entries.extend(scratch["attrs"][-1][1])
    if entries:
        msg["attrs"].append(["WGDEVICE_A_PEERS", entries])
    msg["cmd"] = WG_CMD_SET_DEVICE
    msg["version"] = WG_GENL_VERSION
    msg["header"]["type"] = core.prid
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    msg["header"]["pid"] = core.pid
    msg.encode()
    core.sendto(msg.data, (0, 0))
    (reply,) = [x async for x in core.get()]
    err = reply["header"].get("error", None)
    if err is not None:
        raise KernelError("the kernel refused the WireGuard settings for %s: %s" % (ifname, err))


# --------------------------------------------------------------- the backend

class KernelTunnel(object):
    """One kernel WireGuard interface kept equal to a desired state."""

    def __init__(self, ifname, netlink=None):
        self.ifname = ifname
        if netlink is None:
            # Reads and removal on the standard library, changes in a forked
            # child on pyroute2 (wgnetlink.py): no pyroute2 in the agent.
            from .wgnetlink import LeanNetlink
            netlink = LeanNetlink()
        self.netlink = netlink
        self.last_change = None

    def apply(self, desired, addresses=(), mtu=1420, routes=()):
        """Make the interface match: create it if missing, send the WireGuard
        difference as one message (nothing when there is none), then
        addresses, MTU/up and routes. Returns the WireGuard Change."""
        nl = self.netlink
        if hasattr(nl, "apply"):
            # LeanNetlink: all of the below at once, in a child (wgnetlink.py),
            # which also logs the change.
            change = nl.apply(self.ifname, desired, list(addresses), mtu, list(routes))
            self.last_change = change
            return change
        if nl.link_index(self.ifname) is None:
            try:
                nl.create_wireguard(self.ifname)
            except Exception as e:
                raise KernelError("cannot create WireGuard interface %s: %s (is the wireguard "
                                  "kernel module installed? on OpenWrt: kmod-wireguard)"
                                  % (self.ifname, e)) from e
            current = None
        else:
            current = nl.wg_read(self.ifname)
        change = plan(current, desired)
        if not change.empty:
            nl.wg_apply(self.ifname, change)
            log.info("%s: %s", self.ifname, "; ".join(change.describe()))
        self.last_change = change
        want_addrs = set("%s/%d" % (a[0], a[1]) if isinstance(a, (tuple, list)) else a
                         for a in addresses)
        have = nl.addresses(self.ifname)
        for cidr in sorted(have - want_addrs):
            nl.del_address(self.ifname, cidr)
        for cidr in sorted(want_addrs - have):
            nl.add_address(self.ifname, cidr)
        nl.set_link(self.ifname, mtu, up=True)
        # Default routes belong to net/'s policy routing, as for the
        # userspace plane; addresses' own connected routes are the kernel's.
        want_routes = set(canonical_prefix(r) for r in routes)
        want_routes = set(r for r in want_routes if not r.endswith("/0"))
        connected = set(canonical_prefix(a) for a in want_addrs)
        want_routes -= connected
        have_routes = nl.routes(self.ifname)
        for r in sorted(have_routes - want_routes):
            nl.del_route(self.ifname, r)
        for r in sorted(want_routes - have_routes):
            nl.add_route(self.ifname, r)
        return change

    def read(self):
        return self.netlink.wg_read(self.ifname)

    def status(self):
        """Status in the userspace plane's shape (no inner addresses, no keys
        beyond public ones)."""
        state = self.read()
        peers = []
        for pub, p in sorted(state.peers.items()):
            s = p.settings
            peers.append({
                "public_key": _b64(pub),
                "endpoint": "%s:%d" % s.endpoint if s.endpoint and ":" not in s.endpoint[0]
                else ("[%s]:%d" % s.endpoint if s.endpoint else None),
                "allowed_ips": sorted(s.allowed_ips),
                "persistent_keepalive": s.persistent_keepalive,
                "last_handshake": p.last_handshake or None,
                "rx_bytes": p.rx_bytes,
                "tx_bytes": p.tx_bytes,
            })
        return {"ifname": self.ifname, "backend": "kernel", "pid": os.getpid(),
                "listen_port": state.listen_port, "time": time.time(), "peers": peers}

    def down(self):
        self.netlink.delete_link(self.ifname)


# ------------------------------------------------- config and availability

def desired_from_conf(conf, resolver=None, fwmark=0):
    """A parsed WgConfig -> (DeviceConfig, addresses, mtu, routes). Hostname
    endpoints go through `resolver(host, port) -> (addr, port) or None`;
    unresolved ones are left unset (the kernel learns them when the peer
    writes first, and the supervisor retries)."""
    iface = conf.interface
    peers = []
    routes = []
    for p in conf.peers:
        endpoint = None
        if p.endpoint is not None:
            if p.endpoint_family is None:
                endpoint = resolver(p.endpoint[0], p.endpoint[1]) if resolver else None
                if endpoint is None:
                    log.warning("cannot resolve endpoint %s yet", p.endpoint[0])
            else:
                endpoint = p.endpoint
        peers.append(PeerSettings(p.public_key, p.preshared_key, endpoint, p.allowed_ips,
                                  p.persistent_keepalive))
        routes.extend(canonical_prefix(a) for a in p.allowed_ips)
    device = DeviceConfig(iface.private_key, iface.listen_port, fwmark, peers)
    addresses = ["%s/%d" % a for a in iface.addresses]
    return device, addresses, iface.mtu or 1420, routes


def module_available(sys_module="/sys/module/wireguard", modprobe=("modprobe", "wireguard")):
    """Whether kernel WireGuard can be used here, and why (for the household
    and the technician: `vpnspot tunnel up` prints it). Loads the module
    when it is installed but not loaded."""
    if os.path.isdir(sys_module):
        return Availability(True, "the wireguard kernel module is loaded")
    try:
        proc = subprocess.run(list(modprobe), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Availability(False, "the wireguard kernel module is not loaded and modprobe "
                            "cannot run (%s)" % e)
    if proc.returncode == 0 and os.path.isdir(sys_module):
        return Availability(True, "the wireguard kernel module loaded (modprobe wireguard)")
    detail = (proc.stderr or proc.stdout).strip().splitlines()
    return Availability(False, "the wireguard kernel module is not available%s"
                        % (": " + detail[-1] if detail else ""))


# ---------------------------------------------------------- `tunnel up` loop

def serve(conf, ifname, status_path=None, status_interval=10.0, resolver=None, netlink=None):
    """Bring up `conf` on kernel WireGuard, keep a status file fresh, and on
    SIGTERM/SIGINT remove the interface. Returns 0. The kernel carries the
    packets; this loop only re-resolves unresolved endpoints and reports."""
    import json
    import signal
    import threading

    if resolver is None:
        from .dataplane import resolve

        def resolver(host, port):
            return resolve(host, port, want_ipv6=True)
    tunnel = KernelTunnel(ifname, netlink)
    device, addresses, mtu, routes = desired_from_conf(conf, resolver)
    try:
        tunnel.apply(device, addresses, mtu, routes)
    except BaseException:
        tunnel.down()
        raise
    stop = threading.Event()

    def write_status(running=True):
        if not status_path:
            return
        try:
            data = tunnel.status()
            data["running"] = running
            os.makedirs(os.path.dirname(status_path) or ".", exist_ok=True)
            tmp = "%s.%d.tmp" % (status_path, os.getpid())
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, status_path)
        except Exception:
            log.exception("cannot write status file %s", status_path)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            old[sig] = signal.signal(sig, lambda s, f: stop.set())
        except ValueError:
            pass   # not the main thread: the caller stops us another way
    try:
        write_status()
        while not stop.wait(status_interval):
            if any(p.endpoint is None and c.endpoint is not None
                   for p, c in zip(device.peers.values(), conf.peers)):
                device, addresses, mtu, routes = desired_from_conf(conf, resolver)
                tunnel.apply(device, addresses, mtu, routes)
            write_status()
    finally:
        write_status(running=False)
        tunnel.down()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 0
