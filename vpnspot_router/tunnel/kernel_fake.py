"""FakeKernelNetlink: the KernelNetlink interface of tunnel/kernel.py in memory.

Owns: a model of what the kernel does with each call, close enough that the
backend's diff logic can be tested anywhere: links, addresses, our routes,
and WireGuard devices whose WG_CMD_SET_DEVICE semantics follow the kernel's
(netlink.c: peer flags REMOVE_ME, UPDATE_ONLY, REPLACE_ALLOWEDIPS; an
all-zero preshared key clears it; fields not sent stay as they were). It
counts the messages it receives, so tests can assert "one message" or
"none at all", and it keeps handshake times and counters per peer so a test
can tell a peer that was left alone from one that was removed and re-added.
"""

from .kernel import ZERO_KEY, DeviceState, KernelError, PeerSettings, PeerState


class _FakeDevice(object):
    def __init__(self):
        self.private_key = None
        self.listen_port = 0
        self.fwmark = 0
        self.peers = {}     # pub -> PeerState


class FakeKernelNetlink(object):
    def __init__(self, wireguard_supported=True):
        self.wireguard_supported = wireguard_supported
        self.links = {}         # ifname -> {"mtu":, "up":, "addresses": set, "routes": set}
        self.devices = {}       # ifname -> _FakeDevice
        self.wg_messages = []   # every Change received, in order
        self._next_port = 40000

    # links
    def link_index(self, ifname):
        return (sorted(self.links).index(ifname) + 1) if ifname in self.links else None

    def create_wireguard(self, ifname):
        if not self.wireguard_supported:
            raise KernelError("Operation not supported (no wireguard module)")
        if ifname in self.links:
            raise KernelError("File exists")
        self.links[ifname] = {"mtu": 1420, "up": False, "addresses": set(), "routes": set()}
        self.devices[ifname] = _FakeDevice()

    def delete_link(self, ifname):
        self.links.pop(ifname, None)
        self.devices.pop(ifname, None)

    def _link(self, ifname):
        if ifname not in self.links:
            raise KernelError("interface %s does not exist" % ifname)
        return self.links[ifname]

    def set_link(self, ifname, mtu, up=True):
        link = self._link(ifname)
        link["mtu"] = mtu
        link["up"] = link["up"] or up

    def addresses(self, ifname):
        return set(self._link(ifname)["addresses"])

    def add_address(self, ifname, cidr):
        self._link(ifname)["addresses"].add(cidr)

    def del_address(self, ifname, cidr):
        self._link(ifname)["addresses"].discard(cidr)

    def routes(self, ifname):
        return set(self._link(ifname)["routes"])

    def add_route(self, ifname, cidr):
        routes = self._link(ifname)["routes"]
        if cidr in routes:
            raise KernelError("File exists")
        routes.add(cidr)

    def del_route(self, ifname, cidr):
        self._link(ifname)["routes"].discard(cidr)

    # WireGuard
    def wg_read(self, ifname):
        dev = self.devices.get(ifname)
        if dev is None:
            raise KernelError("No such device")
        return DeviceState(dev.private_key, None, dev.listen_port, dev.fwmark, dict(dev.peers))

    def wg_apply(self, ifname, change):
        dev = self.devices.get(ifname)
        if dev is None:
            raise KernelError("No such device")
        self.wg_messages.append(change)
        want = change.desired
        if "private_key" in change.device_fields:
            dev.private_key = want.private_key
        if "listen_port" in change.device_fields:
            dev.listen_port = want.listen_port
        elif not dev.listen_port:
            # The kernel picks a port when the device goes up without one.
            dev.listen_port = self._next_port
            self._next_port += 1
        if "fwmark" in change.device_fields:
            dev.fwmark = want.fwmark
        for pc in change.peers:
            old = dev.peers.get(pc.public_key)
            if pc.action == "remove":
                dev.peers.pop(pc.public_key, None)
                continue
            if pc.action == "update" and old is None:
                continue   # UPDATE_ONLY on a peer that is not there: ignored
            p = want.peers[pc.public_key]
            base = old.settings if old is not None else PeerSettings(pc.public_key)
            psk, endpoint, allowed, keepalive = (base.preshared_key, base.endpoint,
                                                 base.allowed_ips, base.persistent_keepalive)
            if "preshared_key" in pc.fields:
                psk = None if (p.preshared_key or ZERO_KEY) == ZERO_KEY else p.preshared_key
            if "endpoint" in pc.fields and p.endpoint is not None:
                endpoint = p.endpoint
            if "allowed_ips" in pc.fields:
                allowed = p.allowed_ips if pc.replace_allowed_ips else allowed | p.allowed_ips
            if "persistent_keepalive" in pc.fields:
                keepalive = p.persistent_keepalive
            settings = PeerSettings(pc.public_key, psk, endpoint, allowed, keepalive)
            if old is None:
                dev.peers[pc.public_key] = PeerState(settings, 0.0, 0, 0)
            else:
                dev.peers[pc.public_key] = old._replace(settings=settings)

    # test helpers
    def simulate_traffic(self, ifname, public_key, when, rx, tx):
        """As if the peer had completed a handshake at `when` and moved bytes."""
        dev = self.devices[ifname]
        p = dev.peers[public_key]
        dev.peers[public_key] = PeerState(p.settings, when, p.rx_bytes + rx, p.tx_bytes + tx)

    def simulate_roaming(self, ifname, public_key, endpoint):
        """As if the peer had written from a new address."""
        dev = self.devices[ifname]
        p = dev.peers[public_key]
        dev.peers[public_key] = p._replace(settings=p.settings._replace(endpoint=endpoint))
