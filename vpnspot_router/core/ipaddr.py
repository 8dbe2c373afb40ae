"""IPv4/IPv6 address and prefix parsing for the core, without `ipaddress`.

MicroPython has no `ipaddress` module, so the core parses addresses itself.
Addresses are carried as (family, int) with family 4 or 6; prefixes as
(family, int, length). Every parser raises ValueError with a message a person
can act on; callers that handle peer input catch it.
"""

V4 = 4
V6 = 6
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_V4_MAX = 0xFFFFFFFF
_V6_MAX = (1 << 128) - 1


def _only(text, allowed):
    # str.isdigit() and int() accept Unicode digits, signs and underscores.
    for ch in text:
        if ch not in allowed:
            return False
    return True


def parse_ipv4(text):
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError("%r is not an IPv4 address" % text)
    value = 0
    for part in parts:
        if not part or len(part) > 3 or not _only(part, _DIGITS):
            raise ValueError("%r is not an IPv4 address" % text)
        if len(part) > 1 and part[0] == "0":
            # inet_aton would read it as octal, inet_pton refuses it: refuse.
            raise ValueError("%r is not an IPv4 address (octet %r has a leading zero)" % (text, part))
        octet = int(part)
        if octet > 255:
            raise ValueError("%r is not an IPv4 address (octet %d > 255)" % (text, octet))
        value = (value << 8) | octet
    return value


def _parse_groups(text, whole):
    if text == "":
        return []
    groups = []
    for group in text.split(":"):
        if not group or len(group) > 4 or not _only(group, _HEX):
            raise ValueError("%r is not an IPv6 address" % whole)
        try:
            groups.append(int(group, 16))
        except ValueError:
            raise ValueError("%r is not an IPv6 address" % whole)
    return groups


def parse_ipv6(text):
    whole = text
    if "%" in text:
        raise ValueError("%r: zone indexes are not supported" % whole)
    tail = []
    # An embedded IPv4 address (::ffff:1.2.3.4) supplies the last two groups.
    if "." in text:
        cut = text.rfind(":")
        if cut < 0:
            raise ValueError("%r is not an IPv6 address" % whole)
        v4 = parse_ipv4(text[cut + 1:])
        tail = [v4 >> 16, v4 & 0xFFFF]
        text = text[:cut + 1]
        if not text.endswith("::"):
            text = text[:-1]
    if text.count("::") > 1:
        raise ValueError("%r is not an IPv6 address (more than one '::')" % whole)
    if "::" in text:
        head_text, tail_text = text.split("::")
        head = _parse_groups(head_text, whole)
        rest = _parse_groups(tail_text, whole) + tail
        missing = 8 - len(head) - len(rest)
        if missing < 1:
            raise ValueError("%r is not an IPv6 address" % whole)
        groups = head + [0] * missing + rest
    else:
        groups = _parse_groups(text, whole) + tail
    if len(groups) != 8:
        raise ValueError("%r is not an IPv6 address" % whole)
    value = 0
    for group in groups:
        value = (value << 16) | group
    return value


def parse_address(text):
    """'10.0.0.1' or 'fd00::1' -> (family, int)."""
    text = text.strip()
    if ":" in text:
        return V6, parse_ipv6(text)
    return V4, parse_ipv4(text)


def parse_prefix(text, strict=False):
    """'10.0.0.0/8', 'fd00::/64' or a bare address -> (family, int, length).

    Host bits are cleared unless strict, in which case they are an error
    (WireGuard itself accepts 10.0.0.1/24 and means 10.0.0.0/24).
    """
    text = text.strip()
    if "/" in text:
        addr_text, len_text = text.split("/", 1)
        if not len_text or len(len_text) > 3 or not _only(len_text, _DIGITS):
            raise ValueError("%r: prefix length must be a number" % text)
        length = int(len_text)
    else:
        addr_text, length = text, None
    family, value = parse_address(addr_text)
    bits = 32 if family == V4 else 128
    if length is None:
        length = bits
    if length > bits:
        raise ValueError("%r: prefix length %d exceeds %d" % (text, length, bits))
    masked = value & prefix_mask(family, length)
    if strict and masked != value:
        raise ValueError("%r has host bits set" % text)
    return family, masked, length


def prefix_mask(family, length):
    bits = 32 if family == V4 else 128
    full = _V4_MAX if family == V4 else _V6_MAX
    return (full << (bits - length)) & full


def format_address(family, value):
    if family == V4:
        return "%d.%d.%d.%d" % ((value >> 24) & 255, (value >> 16) & 255, (value >> 8) & 255, value & 255)
    groups = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    # Compress the longest run of zero groups (RFC 5952).
    best_start, best_len, start = -1, 0, -1
    for i in range(9):
        if i < 8 and groups[i] == 0:
            if start < 0:
                start = i
        else:
            if start >= 0 and i - start > best_len and i - start > 1:
                best_start, best_len = start, i - start
            start = -1
    if best_start < 0:
        return ":".join(["%x" % g for g in groups])
    head = ":".join(["%x" % g for g in groups[:best_start]])
    tail = ":".join(["%x" % g for g in groups[best_start + best_len:]])
    return head + "::" + tail


def format_prefix(family, value, length):
    return "%s/%d" % (format_address(family, value), length)


def packet_addresses(packet):
    """(family, source int, destination int) of an IP packet, or None if malformed."""
    if len(packet) < 20:
        return None
    version = packet[0] >> 4
    if version == 4:
        return V4, int.from_bytes(packet[12:16], "big"), int.from_bytes(packet[16:20], "big")
    if version == 6 and len(packet) >= 40:
        return V6, int.from_bytes(packet[8:24], "big"), int.from_bytes(packet[24:40], "big")
    return None


# -- what kind of address ------------------------------------------------
# Special-purpose ranges (RFC 6890 and the IANA registries) that decide
# where a peer-supplied address may be used (core/serverlist.py). The
# documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
# 2001:db8::/32) count as global on purpose: the namespace lab plays the
# internet with them.

UNSPECIFIED = "unspecified"
LOOPBACK = "loopback"
LINK_LOCAL = "link-local"
MULTICAST = "multicast"
BROADCAST = "broadcast"
RESERVED = "reserved"
PRIVATE = "private"
GLOBAL = "global"

_V4_RANGES = (
    # (network, length, kind), most specific first where they nest
    (0x00000000, 32, UNSPECIFIED),          # 0.0.0.0
    (0x00000000, 8, RESERVED),              # 0.0.0.0/8 "this network"
    (0x7F000000, 8, LOOPBACK),              # 127.0.0.0/8
    (0xA9FE0000, 16, LINK_LOCAL),           # 169.254.0.0/16
    (0xE0000000, 4, MULTICAST),             # 224.0.0.0/4
    (0xFFFFFFFF, 32, BROADCAST),            # 255.255.255.255
    (0xF0000000, 4, RESERVED),              # 240.0.0.0/4
    (0x0A000000, 8, PRIVATE),               # 10.0.0.0/8
    (0xAC100000, 12, PRIVATE),              # 172.16.0.0/12
    (0xC0A80000, 16, PRIVATE),              # 192.168.0.0/16
    (0x64400000, 10, PRIVATE),              # 100.64.0.0/10 shared (carrier-grade NAT)
    (0xC0000000, 24, PRIVATE),              # 192.0.0.0/24 IETF protocol assignments
    (0xC6120000, 15, PRIVATE),              # 198.18.0.0/15 benchmarking
)

_V6_RANGES = (
    (0, 128, UNSPECIFIED),                  # ::
    (1, 128, LOOPBACK),                     # ::1
    (0xFE80 << 112, 10, LINK_LOCAL),        # fe80::/10
    (0xFF00 << 112, 8, MULTICAST),          # ff00::/8
    (0xFC00 << 112, 7, PRIVATE),            # fc00::/7 unique local
    (0xFEC0 << 112, 10, PRIVATE),           # fec0::/10 site-local (deprecated)
    (0, 96, RESERVED),                      # ::/96 IPv4-compatible (deprecated)
)


def address_kind(family, value):
    """One of UNSPECIFIED, LOOPBACK, LINK_LOCAL, MULTICAST, BROADCAST,
    RESERVED, PRIVATE or GLOBAL. An IPv4-mapped IPv6 address
    (::ffff:a.b.c.d) is the kind of its IPv4 address."""
    if family == V6 and value >> 32 == 0xFFFF:
        return address_kind(V4, value & _V4_MAX)
    ranges = _V4_RANGES if family == V4 else _V6_RANGES
    for network, length, kind in ranges:
        if value & prefix_mask(family, length) == network:
            return kind
    return GLOBAL


def prefix_contains(prefix, family, value):
    """Whether (family, network, length) holds the address (family, value)."""
    p_family, network, length = prefix
    return p_family == family and value & prefix_mask(family, length) == network
