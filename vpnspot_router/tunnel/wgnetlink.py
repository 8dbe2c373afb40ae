"""Kernel WireGuard reads and link removal on the standard library's netlink.

Owns: LeanNetlink, the KernelNetlink (tunnel/kernel.py) the agent uses by
default. What it does often or fast, it does here with a plain netlink
socket: reading the device (WG_CMD_GET_DEVICE; the agent's status every
0.2 s), looking up the interface, and removing it (RTM_DELLINK; a failover
stops one tunnel and starts the next). Changes - creating the interface,
one WG_CMD_SET_DEVICE message, addresses, MTU, routes - go through
tunnel/kernel.py's PyrouteNetlink in a short-lived forked child (forked.py):
importing pyroute2 costs 15-20 MB of RSS for the life of a process, and
the agent changes the kernel's tunnel a few times a day.

Wire formats (include/uapi/linux/netlink.h, genetlink.h, rtnetlink.h,
wireguard.h): nlmsghdr "=IHHII" (length, type, flags, sequence, port id),
genlmsghdr "=BBH" (command, version), attributes "=HH" (length, type)
padded to 4 bytes, NLA_F_NESTED on nested ones. A device dump may take
several messages; a peer whose allowed IPs do not fit in one continues in
the next, with its public key repeated (kernel.py's _merge_peer merges it,
exactly as for pyroute2's answer).

Errors: a kernel refusal raises kernel.KernelError with what failed and
the kernel's reason, as PyrouteNetlink does.
"""

import errno
import os
import socket
import struct

from . import kernel as kmod

NETLINK_ROUTE = 0
NETLINK_GENERIC = 16
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2

RTM_DELLINK = 17

WG_GENL_NAME = "wireguard"
WG_GENL_VERSION = 1
WG_CMD_GET_DEVICE = 0
WGDEVICE_A_IFNAME = 2
WGDEVICE_A_PRIVATE_KEY = 3
WGDEVICE_A_PUBLIC_KEY = 4
WGDEVICE_A_LISTEN_PORT = 6
WGDEVICE_A_FWMARK = 7
WGDEVICE_A_PEERS = 8
WGPEER_A_PUBLIC_KEY = 1
WGPEER_A_PRESHARED_KEY = 2
WGPEER_A_ENDPOINT = 4
WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = 5
WGPEER_A_LAST_HANDSHAKE_TIME = 6
WGPEER_A_RX_BYTES = 7
WGPEER_A_TX_BYTES = 8
WGPEER_A_ALLOWEDIPS = 9
WGALLOWEDIP_A_FAMILY = 1
WGALLOWEDIP_A_IPADDR = 2
WGALLOWEDIP_A_CIDR_MASK = 3

# One read: the kernel's dump messages stay under NLMSG_GOODSIZE (a page
# or two), and a read every 0.2 s should not allocate much more.
RECV_SIZE = 65536

_HDR = struct.Struct("=IHHII")
_GENL = struct.Struct("=BBH")
_NLA = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")


def _align(n):
    return (n + 3) & ~3


def attr(kind, value):
    """One netlink attribute: header, value, padding."""
    data = _NLA.pack(_NLA.size + len(value), kind) + value
    return data + b"\0" * (_align(len(data)) - len(data))


def attrs(data):
    """{type: value} of the attributes in `data` (the last one of a type wins;
    nested lists go through attr_list)."""
    return dict(attr_list(data))


def attr_list(data):
    """[(type, value bytes), ...] in order; stops at a truncated attribute."""
    out = []
    offset = 0
    while offset + _NLA.size <= len(data):
        length, kind = _NLA.unpack_from(data, offset)
        if length < _NLA.size or offset + length > len(data):
            break
        out.append((kind & NLA_TYPE_MASK, bytes(data[offset + _NLA.size:offset + length])))
        offset += _align(length)
    return out


class NetlinkSocket(object):
    """One request at a time: send, then read until the answer is complete."""

    def __init__(self, protocol):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  protocol)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self):
        self.sock.close()

    def request(self, msg_type, flags, payload):
        """The payloads of the answer's messages; raises OSError(errno) when
        the kernel answers with an error."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_HDR.pack(_HDR.size + len(payload), msg_type, flags, seq, 0) + payload)
        out = []
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        while True:
            data = self.sock.recv(RECV_SIZE)
            offset = 0
            while offset + _HDR.size <= len(data):
                length, kind, mflags, mseq, _ = _HDR.unpack_from(data, offset)
                if length < _HDR.size:
                    raise OSError(errno.EPROTO, "a malformed netlink answer")
                body = data[offset + _HDR.size:offset + length]
                offset += _align(length)
                if mseq != seq:
                    continue            # an answer to an earlier, abandoned request
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return out          # the ACK
                if kind == NLMSG_DONE:
                    return out
                out.append(body)
                if not dump and not mflags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return out


def genl_family(sock, name):
    """The generic netlink family id of `name`; OSError(ENOENT) when the
    kernel has none (module not loaded)."""
    payload = _GENL.pack(CTRL_CMD_GETFAMILY, 1, 0) + attr(CTRL_ATTR_FAMILY_NAME,
                                                          name.encode() + b"\0")
    for body in sock.request(GENL_ID_CTRL, NLM_F_REQUEST, payload):
        found = attrs(body[_GENL.size:]).get(CTRL_ATTR_FAMILY_ID)
        if found is not None:
            return struct.unpack("=H", found[:2])[0]
    raise OSError(errno.ENOENT, "no generic netlink family %s" % name)


# ----------------------------------------------------------- WireGuard dump

def _endpoint(data):
    family = struct.unpack_from("=H", data)[0]
    port = struct.unpack_from("!H", data, 2)[0]
    if family == socket.AF_INET and len(data) >= 8:
        return socket.inet_ntop(socket.AF_INET, data[4:8]), port
    if family == socket.AF_INET6 and len(data) >= 24:
        return socket.inet_ntop(socket.AF_INET6, data[8:24]), port
    return None


def _allowed_ip(data):
    a = attrs(data)
    family = struct.unpack("=H", a[WGALLOWEDIP_A_FAMILY][:2])[0]
    return "%s/%d" % (socket.inet_ntop(family, a[WGALLOWEDIP_A_IPADDR]),
                      a[WGALLOWEDIP_A_CIDR_MASK][0])


def _u(data, fmt):
    return struct.unpack("=" + fmt, data[:struct.calcsize(fmt)])[0]


def parse_peer(data):
    """One WGPEER nest -> the fields kernel._merge_peer takes."""
    a = attrs(data)
    psk = a.get(WGPEER_A_PRESHARED_KEY)
    hs = a.get(WGPEER_A_LAST_HANDSHAKE_TIME)
    ep = a.get(WGPEER_A_ENDPOINT)
    allowed = set()
    for _, nest in attr_list(a.get(WGPEER_A_ALLOWEDIPS, b"")):
        try:
            allowed.add(_allowed_ip(nest))
        except (KeyError, ValueError, OSError, struct.error):
            continue
    return {"public_key": a[WGPEER_A_PUBLIC_KEY],
            "preshared_key": psk if psk and psk != kmod.ZERO_KEY else None,
            "endpoint": _endpoint(ep) if ep else None,
            "allowed_ips": allowed,
            "last_handshake": (_u(hs, "q") + _u(hs[8:], "q") / 1e9) if hs and len(hs) >= 16 else 0.0,
            "rx_bytes": _u(a[WGPEER_A_RX_BYTES], "Q") if WGPEER_A_RX_BYTES in a else 0,
            "tx_bytes": _u(a[WGPEER_A_TX_BYTES], "Q") if WGPEER_A_TX_BYTES in a else 0,
            "persistent_keepalive": _u(a[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL], "H")
            if WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL in a else 0}


def parse_device(bodies):
    """The genl message bodies of one WG_CMD_GET_DEVICE dump -> kernel.DeviceState."""
    state = kmod.DeviceState()
    for body in bodies:
        a = attrs(body[_GENL.size:])
        if a.get(WGDEVICE_A_PRIVATE_KEY, kmod.ZERO_KEY) != kmod.ZERO_KEY:
            state.private_key = a[WGDEVICE_A_PRIVATE_KEY]
        if a.get(WGDEVICE_A_PUBLIC_KEY, kmod.ZERO_KEY) != kmod.ZERO_KEY:
            state.public_key = a[WGDEVICE_A_PUBLIC_KEY]
        if WGDEVICE_A_LISTEN_PORT in a:
            state.listen_port = _u(a[WGDEVICE_A_LISTEN_PORT], "H")
        if WGDEVICE_A_FWMARK in a:
            state.fwmark = _u(a[WGDEVICE_A_FWMARK], "I")
        for _, nest in attr_list(a.get(WGDEVICE_A_PEERS, b"")):
            kmod.merge_peer(state, parse_peer(nest))
    return state


def get_device_request(family, ifname):
    return (family, NLM_F_REQUEST | NLM_F_DUMP,
            _GENL.pack(WG_CMD_GET_DEVICE, WG_GENL_VERSION, 0)
            + attr(WGDEVICE_A_IFNAME, ifname.encode() + b"\0"))


# ----------------------------------------------------------- the adapter

class LeanNetlink(object):
    """kernel.py's KernelNetlink: reads and removal here, changes in a child.

    apply(ifname, desired, addresses, mtu, routes) replaces KernelTunnel's
    step-by-step changes with one child that runs them on PyrouteNetlink
    (see kernel.KernelTunnel.apply)."""

    def __init__(self):
        self._genl = None
        self._family = None

    def close(self):
        if self._genl is not None:
            self._genl.close()
            self._genl = None

    def link_index(self, ifname):
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            return None

    def wg_read(self, ifname):
        try:
            if self._genl is None:
                self._genl = NetlinkSocket(NETLINK_GENERIC)
                self._family = genl_family(self._genl, WG_GENL_NAME)
            bodies = self._genl.request(*get_device_request(self._family, ifname))
        except OSError as e:
            self.close()            # a fresh socket next time
            raise kmod.KernelError("cannot read WireGuard device %s: %s" % (ifname, e)) from e
        return parse_device(bodies)

    def delete_link(self, ifname):
        index = self.link_index(ifname)
        if index is None:
            return
        sock = NetlinkSocket(NETLINK_ROUTE)
        try:
            sock.request(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK,
                         _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))
        except OSError as e:
            if e.errno != errno.ENODEV:
                raise kmod.KernelError("cannot remove %s: %s" % (ifname, e)) from e
        finally:
            sock.close()

    def apply(self, ifname, desired, addresses, mtu, routes):
        from vpnspot_router import forked
        try:
            fields, peers = forked.call(_apply_with_pyroute2, ifname, desired, addresses, mtu,
                                        routes, failure=kmod.KernelError)
        except forked.ChildFailed as e:
            raise kmod.KernelError("cannot configure WireGuard interface %s: %s" % (ifname, e)) from e
        return kmod.Change(list(fields), list(peers), desired)


def _apply_with_pyroute2(ifname, desired, addresses, mtu, routes):
    """In the child: the whole change on pyroute2; the Change comes back as
    (device fields, peer changes) - `desired` is the parent's own."""
    nl = kmod.PyrouteNetlink()
    try:
        change = kmod.KernelTunnel(ifname, nl).apply(desired, addresses, mtu, routes)
    finally:
        nl.close()
    return tuple(change.device_fields), tuple(change.peers)
