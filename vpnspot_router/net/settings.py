"""The household's network settings file and the plan derived from it.

Owns: parsing the small settings file the agent and `vpnspot killswitch`
read (until UCI arrives with its own issue), and `NetPlan`, the one object
every desired-state builder in net/ takes. Pure: no files are opened here
(callers pass text), nothing touches the OS.

Settings file: one `key = value` per line, `#` starts a comment.

    kill_switch = on       on | off   on: LAN traffic never leaves except through the tunnel
    dns = tunnel           tunnel | custom | off   tunnel: every LAN DNS query goes to the tunnel's
                           resolver; custom: to the household's first IPv4 and IPv6 server in
                           dns_servers, through the tunnel; off: LAN DNS is left alone (the ISP's)
    dns_servers =          with dns = custom: the household's DNS servers, space-separated
                           unicast addresses (9.9.9.9 2620:fe::fe); at least one
    ipv6 = auto            auto | off   auto: IPv6 through the tunnel when the server offers it;
                                        off (or no IPv6 from the server): LAN IPv6 is blocked
    mtu = auto             auto | 1280..1500   auto: WAN MTU - 80 (1500 -> 1420, PPPoE 1492 -> 1412)
    lan = br-lan           the LAN devices, space-separated (br-lan br-guest br-lan.1):
                           every one of them is tunnelled and kill-switched
    wan = wan              the WAN device
    tunnel = vpnspot0      the tunnel device the agent creates

Unknown keys, bad values and repeated keys are errors naming file, line and
key; nothing is applied from a file with an error.
"""

from vpnspot_router.core import serverlist

DEFAULTS = {"kill_switch": "on", "dns": "tunnel", "dns_servers": "", "ipv6": "auto", "mtu": "auto",
            "lan": "br-lan", "wan": "wan", "tunnel": "vpnspot0"}
CHOICES = {"kill_switch": ("on", "off"), "dns": ("tunnel", "custom", "off"), "ipv6": ("auto", "off")}
IFNAME_KEYS = ("lan", "wan", "tunnel")
MTU_MIN = 1280          # the IPv6 minimum; a smaller tunnel MTU would break IPv6 inside it
MTU_MAX = 1500
WG_OVERHEAD = 80        # outer IPv6 40 + UDP 8 + WireGuard header 16 + tag 16
DEFAULT_WAN_MTU = 1500
IFNAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


class SettingsError(ValueError):
    def __init__(self, filename, line, key, message):
        self.filename = filename
        self.line = line
        self.key = key
        where = filename if line is None else "%s:%d" % (filename, line)
        ValueError.__init__(self, "%s: %s: %s" % (where, key, message) if key else
                            "%s: %s" % (where, message))


def valid_ifname(name):
    """Interface names go into nft rule text and ip commands: allow only the
    characters Linux and OpenWrt use, so a setting can never inject a rule."""
    return 0 < len(name) <= 15 and all(c in IFNAME_CHARS for c in name)


def parse_settings(text, filename="settings"):
    values = dict(DEFAULTS)
    seen = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise SettingsError(filename, lineno, None, "expected `key = value`, got %r" % raw.strip())
        if key not in DEFAULTS:
            raise SettingsError(filename, lineno, key, "unknown setting; known: %s"
                                % ", ".join(sorted(DEFAULTS)))
        if key in seen:
            raise SettingsError(filename, lineno, key, "set twice (first on line %d)" % seen[key])
        seen[key] = lineno
        if key in CHOICES and value not in CHOICES[key]:
            raise SettingsError(filename, lineno, key, "%r is not one of %s"
                                % (value, " | ".join(CHOICES[key])))
        if key == "mtu" and value != "auto":
            if not value.isdigit() or not MTU_MIN <= int(value) <= MTU_MAX:
                raise SettingsError(filename, lineno, key, "%r is not auto or a number from %d to %d"
                                    % (value, MTU_MIN, MTU_MAX))
        if key == "dns_servers":
            for address in value.split():
                why = serverlist.dns_problem(address, ())
                if why is not None:
                    raise SettingsError(filename, lineno, key, "%s; DNS servers are unicast "
                                        "IPv4/IPv6 addresses, space-separated" % why)
            value = " ".join(value.split())
        if key in IFNAME_KEYS:
            names = value.split() if key == "lan" else [value]
            if not names:
                raise SettingsError(filename, lineno, key, "needs at least one interface name")
            for name in names:
                if not valid_ifname(name):
                    raise SettingsError(filename, lineno, key, "%r is not an interface name (1-15 "
                                        "of letters, digits, '-', '_', '.')" % name)
            if len(set(names)) != len(names):
                raise SettingsError(filename, lineno, key, "names an interface twice: %s" % value)
            value = " ".join(names)
        values[key] = value
    if values["dns"] == "custom" and not values["dns_servers"]:
        raise SettingsError(filename, seen.get("dns"), "dns", "custom needs at least one address "
                            "in dns_servers (e.g. dns_servers = 9.9.9.9)")
    if values["dns_servers"] and values["dns"] != "custom":
        raise SettingsError(filename, seen.get("dns_servers"), "dns_servers", "only used with "
                            "dns = custom; set dns = custom or remove dns_servers")
    lans = values["lan"].split()
    if values["wan"] in lans or values["tunnel"] in lans or values["wan"] == values["tunnel"]:
        raise SettingsError(filename, None, None, "lan, wan and tunnel must be different "
                            "interfaces (got lan %s, wan %s, tunnel %s)"
                            % (values["lan"], values["wan"], values["tunnel"]))
    return values


def tunnel_mtu(setting, wan_mtu, config_mtu=None):
    """The tunnel MTU: an explicit setting wins, then the WireGuard config's
    MTU, else derived from the WAN so an encrypted full-size packet still
    fits the WAN without fragmenting."""
    if setting != "auto":
        return int(setting)
    if config_mtu:
        return config_mtu
    derived = (wan_mtu or DEFAULT_WAN_MTU) - WG_OVERHEAD
    return max(MTU_MIN, min(derived, MTU_MAX - WG_OVERHEAD))


class NetPlan:
    """Everything the firewall and routing builders need, decided once.

    resolver4/resolver6: where LAN DNS is sent through the tunnel (None if
    nothing is known for that family: then it is dropped): the tunnel's DNS
    servers, or with dns custom the household's (plan_from_config);
    ipv6_tunnel: True when IPv6 is carried by the tunnel (setting auto and
    the server gave us an IPv6 address and route), else LAN IPv6 is
    blocked."""

    def __init__(self, settings, resolver4=None, resolver6=None, ipv6_offered=False,
                 wan_mtu=None, config_mtu=None):
        self.kill_switch = settings["kill_switch"] == "on"
        # custom is "tunnel" with the household's resolvers: every rule that
        # keeps LAN DNS in the tunnel applies to it too.
        self.dns_custom = settings["dns"] == "custom"
        self.dns_tunnel = settings["dns"] in ("tunnel", "custom")
        self.dns_servers = tuple(settings.get("dns_servers", "").split())
        self.lans = tuple(settings["lan"].split())     # every LAN device (lannets.py)
        self.wan = settings["wan"]
        self.tunnel = settings["tunnel"]
        self.resolver4 = resolver4
        self.resolver6 = resolver6
        self.ipv6_tunnel = settings["ipv6"] == "auto" and bool(ipv6_offered)
        self.mtu = tunnel_mtu(settings["mtu"], wan_mtu, config_mtu)
        self.wan_mtu = wan_mtu

    @property
    def ipv6_mode(self):
        return "tunnel" if self.ipv6_tunnel else "blocked"

    @property
    def dns_mode(self):
        if not self.dns_tunnel:
            return "off"
        if not (self.resolver4 or self.resolver6):
            return "blocked (no tunnel resolver known)"
        if self.dns_custom:
            return "your servers (%s)" % ", ".join(
                [r for r in (self.resolver4, self.resolver6 if self.ipv6_tunnel else None) if r])
        return "tunnel"

    @property
    def lan(self):
        """The LAN devices as one space-separated string (status, logs)."""
        return " ".join(self.lans)

    def as_dict(self):
        return {"kill_switch": "on" if self.kill_switch else "off", "dns": self.dns_mode,
                "resolver4": self.resolver4, "resolver6": self.resolver6, "ipv6": self.ipv6_mode,
                "mtu": self.mtu, "wan_mtu": self.wan_mtu, "lan": self.lan, "wan": self.wan,
                "tunnel": self.tunnel}


def plan_from_config(settings, conf=None, wan_mtu=None):
    """A NetPlan from settings and (optionally) a parsed WgConfig. Without a
    config (boot, before the agent) nothing is known about the tunnel: DNS
    is blocked and IPv6 is blocked, which fails closed."""
    if conf is None:
        return NetPlan(settings, wan_mtu=wan_mtu)
    iface = conf.interface
    dns = iface.dns
    if settings["dns"] == "custom":
        # The household's servers, reached through this tunnel (never before
        # one is up: without a config the plan above drops LAN DNS).
        dns = settings.get("dns_servers", "").split()
    r4 = [a for a in dns if ":" not in a]
    r6 = [a for a in dns if ":" in a]
    has6 = any(":" in a for a, _ in iface.addresses) and any(
        ":" in p[0] for peer in conf.peers for p in peer.allowed_ips)
    return NetPlan(settings, resolver4=r4[0] if r4 else None, resolver6=r6[0] if r6 else None,
                   ipv6_offered=has6, wan_mtu=wan_mtu, config_mtu=iface.mtu)
