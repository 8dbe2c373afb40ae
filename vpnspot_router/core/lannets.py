"""Which of the router's networks are "LAN": from fw4's and netifd's configuration.

Owns: reading /etc/config/firewall (zones, their networks and devices,
forwardings) and /etc/config/network (each interface's device), plus
netifd's live view (`ubus call network.interface dump`, decoded from JSON
by the caller), and deciding which networks the kill switch, the tunnel
routing and the boot guard protect, on which L3 devices. Pure: callers
pass text and decoded JSON; net/lannets.py reads the files and runs ubus.

What "LAN" means (main.lan_networks in /etc/config/vpnspot, config.py):
  no lan_networks     every network in a firewall zone that forwards to the
  (the default)       zone holding `wan` (the usual lan zone, a guest zone
                      with its own guest -> wan forwarding, a second LAN),
                      never the WAN zone itself and never the tunnel's own
                      zone/network `vpnspot`;
  list lan_networks   exactly the networks named (`list lan_networks 'lan'`,
                      `list lan_networks 'guest'`); each must exist in
                      /etc/config/network and may be neither a WAN network
                      nor the tunnel.

A network's L3 device, first match wins:
  1. netifd's `l3_device` for it (the ubus dump): what the kernel uses now;
  2. its `device` option as written (br-lan, br-lan.1 on a VLAN-filtering
     DSA bridge, eth0.2), following an `@other` alias to that network;
  3. OpenWrt 19.07's form: `type bridge` -> br-NAME, else `ifname`'s first word;
  4. a protocol that makes its own device: pppoe/pppoa -> pppoe-NAME, and
     wireguard, gre, vxlan, ... -> NAME.
A zone's own `device` list (raw device names fw4 matches) counts as written.

Device names reach nft rule text and `ip` commands, so a name that is not
1-15 of letters, digits, '-', '_', '.' is refused, never quoted through.

Errors: LanError (a ConfigError: file, line, field, what to do) for a named
network that does not exist or is a WAN/the tunnel, and when no LAN device
is found at all; the caller then keeps the devices it had (fail closed).
A network of the default set whose device cannot be found yet (not set up)
is left out with a note; it is picked up when the configuration changes.
Keep README "Which networks count as LAN" and config.py's lan_networks in step.
"""

from .uci import parse as uci_parse
from .wgconf import ConfigError

TUNNEL_NAME = "vpnspot"             # the tunnel's network and zone (uci-defaults)
WAN_NETWORKS = ("wan", "wan6")      # OpenWrt's names for the uplink networks
DEFAULT_DEVICES = ("br-lan",)       # OpenWrt's LAN bridge: the guard's shipped default
IFNAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
OWN_DEVICE_PROTOS = ("wireguard", "gre", "gretap", "grev6", "grev6tap", "vxlan", "vxlan6",
                     "ipip", "6in4", "6rd", "6to4", "dslite", "map", "openvpn", "qmi", "mbim")
PPP_PROTOS = ("pppoe", "pppoa", "ppp", "pptp", "l2tp")
FALSE = ("0", "no", "off", "false", "disabled")


class LanError(ConfigError):
    """The LAN networks cannot be decided; the message says which file/field and what to do."""


def valid_ifname(name):
    if not isinstance(name, str) or not 0 < len(name) <= 15:
        return False
    for ch in name:
        if ch not in IFNAME_CHARS:
            return False
    return True


def _words(value):
    """A UCI value that fw4/netifd read as a list: `list x 'a'` lines, or one
    `option x 'a b'` with several space-separated words."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    out = []
    for v in value:
        for w in v.split():
            out.append(w)
    return out


def _enabled(section):
    return (section.get("enabled") or "1").lower() not in FALSE


class Lan:
    """The decision: networks [(name, device)], devices (sorted, unique),
    how it was chosen ('auto' or 'list') and notes for the log."""

    def __init__(self, networks, how, notes):
        self.networks = networks
        self.how = how
        self.notes = notes
        seen = []
        for _, dev in networks:
            if dev not in seen:
                seen.append(dev)
        self.devices = sorted(seen)

    def describe(self):
        return ", ".join(["%s (%s)" % (n, d) for n, d in self.networks])


class _Zones:
    def __init__(self, doc):
        self.networks = {}      # zone name -> [network names]
        self.devices = {}       # zone name -> [device names]
        self.order = []
        self.forwardings = []   # (src, dest)
        for s in doc.sections("zone"):
            if not _enabled(s):
                continue
            name = s.get("name") or s.name
            if not name or not isinstance(name, str):
                continue
            if name not in self.networks:
                self.order.append(name)
                self.networks[name] = []
                self.devices[name] = []
            self.networks[name] += _words(s.get("network"))
            self.devices[name] += _words(s.get("device"))
        for s in doc.sections("forwarding"):
            if not _enabled(s):
                continue
            src, dest = s.get("src"), s.get("dest")
            if isinstance(src, str) and isinstance(dest, str):
                self.forwardings.append((src, dest))

    def zone_of(self, network):
        for z in self.order:
            if network in self.networks[z]:
                return z
        return None

    def forwards(self, src, dest):
        return (src, dest) in self.forwardings

    def wan_zones(self):
        """The zones holding an uplink network, else the zone named wan."""
        out = []
        for z in self.order:
            for n in self.networks[z]:
                if n in WAN_NETWORKS and z not in out:
                    out.append(z)
        if not out and "wan" in self.networks:
            out.append("wan")
        return out


def _l3_devices(dump):
    """{network: l3_device} from `ubus call network.interface dump`, decoded."""
    out = {}
    if not isinstance(dump, dict):
        return out
    items = dump.get("interface")
    if not isinstance(items, list):
        return out
    for item in items:
        if not isinstance(item, dict):
            continue
        name, dev = item.get("interface"), item.get("l3_device")
        if isinstance(name, str) and isinstance(dev, str) and dev:
            out[name] = dev
    return out


def _configured_device(net_doc, name, depth=0):
    """The device /etc/config/network gives network `name`, or None."""
    s = net_doc.section(name)
    if s is None or s.type != "interface" or depth > 4:
        return None
    dev = s.get("device")
    if isinstance(dev, list):
        dev = dev[0] if dev else None
    if dev:
        dev = dev.split()[0] if dev.split() else None
    if dev and dev.startswith("@"):
        return _configured_device(net_doc, dev[1:], depth + 1)
    if dev:
        return dev
    proto = s.get("proto") or ""
    if s.get("type") == "bridge":
        return "br-" + name
    ifname = _words(s.get("ifname"))
    if ifname:
        if ifname[0].startswith("@"):
            return _configured_device(net_doc, ifname[0][1:], depth + 1)
        if proto not in PPP_PROTOS:
            return ifname[0]
    if proto in PPP_PROTOS:
        return "pppoe-" + name if proto in ("pppoe", "pppoa") else proto + "-" + name
    if proto in OWN_DEVICE_PROTOS:
        return name
    return None


def derive(firewall_text, network_text, dump=None, chosen=(),
           firewall_name="/etc/config/firewall", network_name="/etc/config/network",
           setting_name="/etc/config/vpnspot"):
    """Lan for the router's configuration texts, netifd's decoded dump (or
    None) and the household's main.lan_networks (empty: the default). A
    missing firewall file (None) means no zones: then only a list names LAN."""
    fw_doc = uci_parse(firewall_text or "", firewall_name)
    net_doc = uci_parse(network_text or "", network_name)
    zones = _Zones(fw_doc)
    live = _l3_devices(dump)
    wan_zones = zones.wan_zones()
    wan_nets = list(WAN_NETWORKS)
    wan_devs = []
    for z in wan_zones:
        for n in zones.networks[z]:
            if n not in wan_nets:
                wan_nets.append(n)
        wan_devs += zones.devices[z]
    for n in wan_nets:
        d = live.get(n) or _configured_device(net_doc, n)
        if d and d not in wan_devs:
            wan_devs.append(d)
    notes = []
    known = [s.name for s in net_doc.sections("interface") if s.name]
    for n in live:
        if n not in known:
            known.append(n)

    def device_of(name):
        return live.get(name) or _configured_device(net_doc, name)

    networks = []
    if chosen:
        for name in chosen:
            if name == TUNNEL_NAME or name in wan_nets:
                raise LanError(setting_name, None, "lan_networks",
                               "%r is %s, not a LAN network; remove it from the list"
                               % (name, "the tunnel" if name == TUNNEL_NAME else "an uplink (WAN)"))
            if name not in known:
                raise LanError(setting_name, None, "lan_networks",
                               "%r is not a network in %s (networks there: %s); fix the name "
                               "or remove it" % (name, network_name, ", ".join(known) or "none"))
            dev = device_of(name)
            if not dev:
                raise LanError(network_name, None, name,
                               "no device for this network (no `option device`); "
                               "give it one or leave it out of lan_networks")
            if not valid_ifname(dev) or dev in wan_devs:
                raise LanError(network_name, None, name,
                               "its device %r %s" % (dev[:40], "is the WAN's" if dev in wan_devs
                                                     else "is not an interface name"))
            networks.append((name, dev))
        _tunnel_forwarding_notes(zones, [n for n, _ in networks], notes)
        return Lan(networks, "list", notes)
    lan_zones = []
    for src, dest in zones.forwardings:
        if dest in wan_zones and src not in wan_zones and src != TUNNEL_NAME \
                and src in zones.networks and src not in lan_zones:
            lan_zones.append(src)
    for z in zones.order:
        if z not in lan_zones:
            continue
        for name in zones.networks[z]:
            if name == TUNNEL_NAME or name in wan_nets or name in [n for n, _ in networks]:
                continue
            dev = device_of(name)
            if not dev:
                notes.append("network %r (zone %s) has no device yet; it is protected once it "
                             "has one" % (name, z))
                continue
            if not valid_ifname(dev):
                notes.append("network %r: device %r is not an interface name; left out"
                             % (name, dev[:40]))
                continue
            if dev in wan_devs:
                notes.append("network %r: device %s is also the WAN's; left out" % (name, dev))
                continue
            networks.append((name, dev))
        for dev in zones.devices[z]:
            if valid_ifname(dev) and dev not in wan_devs and dev not in [d for _, d in networks]:
                networks.append(("zone " + z, dev))
    if not networks:
        raise LanError(firewall_name, None, None,
                       "no LAN network found: no firewall zone forwards to the WAN zone (%s); "
                       "name the LAN networks with `list lan_networks 'lan'` in %s"
                       % (", ".join(wan_zones) or "none", setting_name))
    _tunnel_forwarding_notes(zones, [n for n, _ in networks], notes)
    return Lan(networks, "auto", notes)


def _tunnel_forwarding_notes(zones, names, notes):
    """fw4 lets a zone's traffic into the tunnel only with a forwarding to
    the tunnel's zone (uci-defaults adds lan -> vpnspot). Without one the
    kill switch still holds (nothing leaks) but that network has no
    internet: say so, with the fix."""
    if TUNNEL_NAME not in zones.networks:
        return
    seen = []
    for name in names:
        z = zones.zone_of(name) if not name.startswith("zone ") else name[5:]
        if z is None or z in seen or zones.forwards(z, TUNNEL_NAME):
            continue
        seen.append(z)
        notes.append("zone %s (network %s) has no forwarding to zone %s: fw4 keeps its traffic "
                     "out of the tunnel, so it has no internet (nothing leaks); add one with "
                     "`uci add firewall forwarding; uci set firewall.@forwarding[-1].src=%s; "
                     "uci set firewall.@forwarding[-1].dest=%s; uci commit firewall`"
                     % (z, name, TUNNEL_NAME, z, TUNNEL_NAME))
