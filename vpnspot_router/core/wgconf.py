"""The WireGuard / wg-quick configuration file: text in, a checked WgConfig out.

Owns the grammar of `wgX.conf` files as `wg setconf` and `wg-quick` read them:

  [Interface]  PrivateKey, Address*, ListenPort, DNS*, MTU
               Table, PreUp*, PostUp*, PreDown*, PostDown*, SaveConfig, FwMark
               (the second line is accepted and kept, but vpnspot does not act
               on it: routing, firewall and DNS belong to the agent, so each
               such key adds a line to `WgConfig.warnings`)
  [Peer]       PublicKey, PresharedKey, Endpoint, AllowedIPs*, PersistentKeepalive
  (* = may repeat and/or hold a comma separated list)

Rules kept here, so every adapter can rely on them:
  - keys and section names are case-insensitive; '#' starts a comment
    anywhere, ';' starts one at the start of a line or after whitespace
    (except in the Pre/Post hooks, which are shell commands where ';' is common);
  - every problem is one ConfigError naming file, line, field and what to do;
    nothing else escapes `parse`, whatever the text;
  - keys are canonical base64 of exactly 32 bytes; addresses are parsed in
    pure Python (core/ipaddr.py) because MicroPython has no `ipaddress`;
  - AllowedIPs may carry host bits (10.0.0.1/24), which mean the network,
    as in wg; Address keeps its host bits, since they are the interface's own;
  - Endpoint hostnames stay unresolved: resolving is IO, done by the adapter.

Exception tree:  ValueError -> ConfigError (file, line, field, message).
"""

import binascii

from .ipaddr import V4, V6, parse_ipv4, parse_ipv6, prefix_mask, format_address
from .cryptoapi import KEY_LEN

_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."

# Canonical spelling of each key, by lower-case name; the error messages use it.
_INTERFACE_KEYS = {
    "privatekey": "PrivateKey", "address": "Address", "listenport": "ListenPort",
    "dns": "DNS", "mtu": "MTU", "table": "Table", "preup": "PreUp", "postup": "PostUp",
    "predown": "PreDown", "postdown": "PostDown", "saveconfig": "SaveConfig",
    "fwmark": "FwMark",
}
_PEER_KEYS = {
    "publickey": "PublicKey", "presharedkey": "PresharedKey", "endpoint": "Endpoint",
    "allowedips": "AllowedIPs", "persistentkeepalive": "PersistentKeepalive",
}
# Keys that may appear more than once; every other key twice is a mistake.
_REPEATABLE = ("Address", "DNS", "AllowedIPs", "PreUp", "PostUp", "PreDown", "PostDown")
_HOOKS = ("PreUp", "PostUp", "PreDown", "PostDown")
_UNUSED_WHY = {
    "Table": "routing is set up by the agent",
    "PreUp": "vpnspot runs no shell hooks", "PostUp": "vpnspot runs no shell hooks",
    "PreDown": "vpnspot runs no shell hooks", "PostDown": "vpnspot runs no shell hooks",
    "SaveConfig": "vpnspot never rewrites this file",
    "FwMark": "the agent marks its own traffic",
}


class ConfigError(ValueError):
    """One problem in a config file: where it is and what to do about it."""

    def __init__(self, filename, line, field, message):
        self.filename = filename
        self.line = line
        self.field = field
        self.message = message
        # super(): MicroPython has no ValueError.__init__ to call directly.
        super().__init__(self.__str__())

    def __str__(self):
        where = self.filename if self.line is None else "%s:%d" % (self.filename, self.line)
        if self.field:
            return "%s: %s: %s" % (where, self.field, self.message)
        return "%s: %s" % (where, self.message)


class InterfaceConfig:
    """[Interface]. Addresses are (address_text, prefix_length) with host bits
    kept; dns holds server addresses and dns_search the search domains."""

    def __init__(self):
        self.private_key = None
        self.addresses = []
        self.listen_port = None
        self.dns = []
        self.dns_search = []
        self.mtu = None
        # Known but unused by vpnspot; kept so nothing in the file is lost.
        self.table = None
        self.pre_up = []
        self.post_up = []
        self.pre_down = []
        self.post_down = []
        self.save_config = None
        self.fwmark = None
        self.line = None

    def __repr__(self):
        # Never print the private key.
        return "InterfaceConfig(private_key=<redacted>, addresses=%r, listen_port=%r, mtu=%r)" % (
            self.addresses, self.listen_port, self.mtu)


class PeerConfig:
    """[Peer]. endpoint is (host, port) or None; endpoint_family is 4 or 6 for
    a literal address and None for a hostname the adapter must resolve.
    allowed_ips are (network_text, prefix_length) with host bits cleared, the
    form Device.add_peer takes. persistent_keepalive 0 means off."""

    def __init__(self, line):
        self.line = line
        self.public_key = None
        self.preshared_key = None
        self.endpoint = None
        self.endpoint_family = None
        self.allowed_ips = []
        self.persistent_keepalive = 0

    def __repr__(self):
        return "PeerConfig(public_key=%r, endpoint=%r, allowed_ips=%r)" % (
            encode_key(self.public_key) if self.public_key else None, self.endpoint, self.allowed_ips)


class WgConfig:
    def __init__(self, filename):
        self.filename = filename
        self.interface = None
        self.peers = []
        self.warnings = []

    def __repr__(self):
        return "WgConfig(%r, %r, %r)" % (self.filename, self.interface, self.peers)


def encode_key(key):
    return binascii.b2a_base64(key).decode().strip()


def decode_key(text):
    """Canonical base64 of exactly 32 bytes -> bytes, else ValueError.

    binascii alone is lenient (skips stray characters), so the text is checked
    first: 43 alphabet characters, '=', and no stray low bits in the last one,
    i.e. the text is exactly what `wg genkey` would print for those bytes.
    """
    if len(text) != 44 or text[43] != "=":
        raise ValueError("not a 32-byte base64 key")
    for ch in text[:43]:
        if ch not in _B64:
            raise ValueError("not a 32-byte base64 key")
    key = binascii.a2b_base64(text)
    if len(key) != KEY_LEN or encode_key(key) != text:
        raise ValueError("not a 32-byte base64 key")
    return key


def _number(text, low, high):
    if not text or len(text) > 10:
        return None
    for ch in text:
        if ch not in _DIGITS:
            return None
    value = int(text)
    if value < low or value > high:
        return None
    return value


def _address(text):
    """An IPv4/IPv6 literal -> (family, int). Only ASCII address characters
    reach ipaddr, so int() never sees '0x', signs, '_' or non-ASCII digits."""
    if ":" in text:
        for ch in text:
            if ch not in _HEX and ch != ":" and ch != ".":
                raise ValueError("%r is not an IPv6 address" % text)
        return V6, parse_ipv6(text)
    for ch in text:
        if ch not in _DIGITS and ch != ".":
            raise ValueError("%r is not an IPv4 address" % text)
    return V4, parse_ipv4(text)


def _prefix(text, keep_host_bits):
    """'10.0.0.1/24' -> ('10.0.0.1' or '10.0.0.0', 24); a bare address is a host."""
    cut = text.find("/")
    if cut >= 0:
        addr_text, len_text = text[:cut], text[cut + 1:]
    else:
        addr_text, len_text = text, None
    family, value = _address(addr_text)
    bits = 32 if family == V4 else 128
    if len_text is None:
        length = bits
    else:
        length = _number(len_text, 0, bits)
        if length is None:
            raise ValueError("%r: the prefix length must be a number from 0 to %d" % (text, bits))
    if not keep_host_bits:
        value &= prefix_mask(family, length)
    return format_address(family, value), length


def _split_list(value):
    items = []
    for item in value.split(","):
        item = item.strip()
        if item:
            items.append(item)
    return items


def _hostname_ok(host):
    if not host or len(host) > 253 or host[0] in "-." or host[-1] == "-":
        return False
    for ch in host:
        if ch not in _HOST_CHARS:
            return False
    for label in host.split("."):
        if len(label) > 63 or (label == "" and host[-1] != "."):
            return False
    return True


def _endpoint(text):
    """'1.2.3.4:51820', '[fd00::1]:51820' or 'vpn.example:51820' -> (host, port, family)."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1:close + 2] != ":":
            raise ValueError("write an IPv6 endpoint as [address]:port")
        host = text[1:close]
        port_text = text[close + 2:]
        if ":" not in host:
            raise ValueError("brackets are only for IPv6 addresses; write %s:port" % host[:40])
        family, value = _address(host)
        host = format_address(V6, value)
    else:
        cut = text.rfind(":")
        if cut < 0:
            raise ValueError("missing :port; write host:port, e.g. 203.0.113.10:51820")
        host = text[:cut]
        port_text = text[cut + 1:]
        if ":" in host:
            raise ValueError("write an IPv6 endpoint in brackets: [address]:port")
        if not host:
            raise ValueError("missing host; write host:port")
        all_numeric = True
        for ch in host:
            if ch not in _DIGITS and ch != ".":
                all_numeric = False
        if all_numeric:
            host = format_address(V4, _address(host)[1])
            family = V4
        elif _hostname_ok(host):
            family = None
        else:
            raise ValueError("%r is neither an IP address nor a hostname" % host)
    port = _number(port_text, 1, 65535)
    if port is None:
        raise ValueError("the port must be a number from 1 to 65535")
    return host, port, family


def _strip_comment(line, field):
    cut = line.find("#")
    if cut >= 0:
        line = line[:cut]
    if field in _HOOKS:
        return line
    # ';' is a comment when it starts a word, so 'a;b' stays a value (and is
    # then reported as a bad value instead of being silently cut short).
    i = 0
    while True:
        i = line.find(";", i)
        if i < 0:
            return line
        if i == 0 or line[i - 1] in " \t":
            return line[:i]
        i += 1


def parse(text, filename="wg.conf"):
    """Parse config `text`; return a WgConfig or raise ConfigError."""
    if not isinstance(text, str):
        raise ConfigError(filename, None, None, "the configuration must be text")
    conf = WgConfig(filename)
    section = None          # "Interface", "Peer" or None before the first header
    peer = None
    seen = {}               # canonical key -> line, within the current section
    peer_lines = {}         # public key -> line, to report duplicates

    def fail(lineno, field, message):
        raise ConfigError(filename, lineno, field, message)

    def end_section():
        if section == "Interface" and conf.interface.private_key is None:
            fail(conf.interface.line, "PrivateKey",
                 "missing; [Interface] needs PrivateKey = <output of `vpnspot genkey`>")
        if section == "Peer":
            if peer.public_key is None:
                fail(peer.line, "PublicKey", "missing; every [Peer] needs PublicKey = <the peer's public key>")

    lineno = 0
    for raw in text.split("\n"):
        lineno += 1
        line = raw
        if line.endswith("\r"):
            line = line[:-1]
        stripped = line.strip()
        if not stripped or stripped[0] == "#" or stripped[0] == ";":
            continue
        if stripped[0] == "[":
            header = _strip_comment(stripped, None).strip()
            if not header.endswith("]"):
                fail(lineno, header[:40], "a section header must end with ']'")
            name = header[1:-1].strip().lower()
            end_section()
            if name == "interface":
                if conf.interface is not None:
                    fail(lineno, "[Interface]", "a second [Interface] section; keep one per file")
                conf.interface = InterfaceConfig()
                conf.interface.line = lineno
                section = "Interface"
            elif name == "peer":
                peer = PeerConfig(lineno)
                conf.peers.append(peer)
                section = "Peer"
            else:
                fail(lineno, header[:40], "unknown section; use [Interface] or [Peer]")
            seen = {}
            continue
        eq = line.find("=")
        if eq < 0:
            fail(lineno, stripped[:40], "expected 'Key = Value'")
        key_text = line[:eq].strip()[:40] or "(empty key)"
        lower = key_text.lower()
        if section is None:
            fail(lineno, key_text, "appears before any section; start the file with [Interface]")
        known = _INTERFACE_KEYS if section == "Interface" else _PEER_KEYS
        field = known.get(lower)
        if field is None:
            other = _PEER_KEYS if section == "Interface" else _INTERFACE_KEYS
            if lower in other:
                fail(lineno, key_text, "belongs in [%s], not [%s]" % (
                    "Peer" if section == "Interface" else "Interface", section))
            fail(lineno, key_text, "unknown key in [%s]; check the spelling" % section)
        value = _strip_comment(line[eq + 1:], field).strip()
        if field in seen and field not in _REPEATABLE:
            fail(lineno, field, "already set on line %d; keep one" % seen[field])
        seen[field] = lineno
        if not value and field != "AllowedIPs":
            fail(lineno, field, "needs a value")
        try:
            if section == "Interface":
                _interface_key(conf, conf.interface, field, value, lineno)
            else:
                _peer_key(peer, field, value)
        except ValueError as e:
            if isinstance(e, ConfigError):
                raise
            fail(lineno, field, str(e))
        if section == "Peer" and field == "PublicKey":
            first = peer_lines.get(peer.public_key)
            if first is not None:
                fail(lineno, field, "the same peer is already configured on line %d; merge the two [Peer] sections" % first)
            peer_lines[peer.public_key] = lineno
    end_section()
    if conf.interface is None:
        fail(None, "[Interface]", "missing; the file needs an [Interface] section with PrivateKey")
    return conf


def _interface_key(conf, iface, field, value, lineno):
    if field == "PrivateKey":
        iface.private_key = decode_key(value)
    elif field == "Address":
        for item in _split_list(value):
            iface.addresses.append(_prefix(item, True))
    elif field == "ListenPort":
        port = _number(value, 0, 65535)
        if port is None:
            raise ValueError("must be a number from 0 to 65535 (0 picks a free port)")
        iface.listen_port = port
    elif field == "DNS":
        for item in _split_list(value):
            try:
                family, addr = _address(item)
                iface.dns.append(format_address(family, addr))
            except ValueError:
                if not _hostname_ok(item) or item.replace(".", "").isdigit():
                    raise ValueError("%r is neither a DNS server address nor a search domain" % item)
                iface.dns_search.append(item)
    elif field == "MTU":
        mtu = _number(value, 576, 65535)
        if mtu is None:
            raise ValueError("must be a number from 576 to 65535 (1420 suits most links)")
        iface.mtu = mtu
    else:
        if field == "Table":
            iface.table = value
        elif field == "SaveConfig":
            if value.lower() not in ("true", "false"):
                raise ValueError("must be true or false")
            iface.save_config = value.lower() == "true"
        elif field == "FwMark":
            iface.fwmark = value
        else:
            getattr(iface, {"PreUp": "pre_up", "PostUp": "post_up", "PreDown": "pre_down",
                            "PostDown": "post_down"}[field]).append(value)
        conf.warnings.append("%s:%d: %s: accepted but not used; %s" % (
            conf.filename, lineno, field, _UNUSED_WHY[field]))


def _peer_key(peer, field, value):
    if field == "PublicKey":
        peer.public_key = decode_key(value)
    elif field == "PresharedKey":
        peer.preshared_key = decode_key(value)
    elif field == "Endpoint":
        host, port, family = _endpoint(value)
        peer.endpoint = (host, port)
        peer.endpoint_family = family
    elif field == "AllowedIPs":
        for item in _split_list(value):
            prefix = _prefix(item, False)
            if prefix not in peer.allowed_ips:
                peer.allowed_ips.append(prefix)
    elif field == "PersistentKeepalive":
        if value.lower() == "off":
            peer.persistent_keepalive = 0
        else:
            seconds = _number(value, 0, 65535)
            if seconds is None:
                raise ValueError("must be a number of seconds from 0 to 65535, or off")
            peer.persistent_keepalive = seconds
