"""core/ipaddr.py against Python's ipaddress module, the reference for what
an address or prefix means and how it prints (RFC 5952)."""

CPYTHON_ONLY = "uses ipaddress"

import ipaddress
import random

from vpnspot_router.core.ipaddr import (V4, V6, parse_ipv4, parse_ipv6, parse_address, parse_prefix,
                                        format_address, format_prefix, prefix_mask, packet_addresses)

from .pair import raises, icmp_echo

GOOD_V4 = ["0.0.0.0", "255.255.255.255", "10.77.0.1", "192.168.77.254", "1.2.3.4"]
GOOD_V6 = ["::", "::1", "1::", "fd77::1", "fe80::1:2", "2001:db8::8:800:200c:417a",
           "1:2:3:4:5:6:7:8", "1:0:0:2:0:0:0:3", "1:0:0:0:2:0:0:3", "0:0:1::",
           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:1.2.3.4", "1::2:3.4.5.6",
           "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "FD77::ABCD", "1:2:3:4:5:6:1.2.3.4"]
BAD_V4 = ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "1.2.3.-4", "a.b.c.d", "1.2.3.4 5",
          "1234.1.1.1", " .1.2.3"]
BAD_V6 = [":", ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "12345::",
          "g::", ":1::", "1::2:", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:5"]


def test_good_ipv4_addresses_parse_to_the_same_integer_as_ipaddress():
    for text in GOOD_V4:
        assert parse_ipv4(text) == int(ipaddress.IPv4Address(text)), text
        assert parse_address(text) == (V4, int(ipaddress.IPv4Address(text)))


def test_good_ipv6_addresses_parse_to_the_same_integer_as_ipaddress():
    for text in GOOD_V6:
        assert parse_ipv6(text) == int(ipaddress.IPv6Address(text)), text
        assert parse_address(text) == (V6, int(ipaddress.IPv6Address(text)))


def test_bad_addresses_raise_value_error_as_ipaddress_does():
    for text in BAD_V4:
        raises(ValueError, ipaddress.IPv4Address, text)
        raises(ValueError, parse_ipv4, text)
    for text in BAD_V6:
        raises(ValueError, ipaddress.IPv6Address, text)
        raises(ValueError, parse_ipv6, text)


def test_formatting_matches_ipaddress_compressed_form():
    for text in GOOD_V4:
        assert format_address(V4, parse_ipv4(text)) == str(ipaddress.IPv4Address(text))
    for text in GOOD_V6:
        value = parse_ipv6(text)
        if value >> 32 == 0xFFFF:
            continue        # IPv4-mapped: CPython 3.13 changed how it prints these
        assert format_address(V6, value) == str(ipaddress.IPv6Address(value)), text


def test_formatting_matches_ipaddress_on_random_addresses_with_zero_runs():
    rng = random.Random(1)
    for _ in range(3000):
        groups = [rng.choice((0, 0, 0, 1, 0xffff, rng.randrange(65536))) for _ in range(8)]
        value = 0
        for g in groups:
            value = (value << 16) | g
        if value >> 32 == 0xFFFF:
            continue
        text = format_address(V6, value)
        assert text == str(ipaddress.IPv6Address(value)), groups
        assert parse_ipv6(text) == value


def test_prefixes_parse_and_mask_like_ipaddress_non_strict_networks():
    for text in ("10.77.0.1/24", "0.0.0.0/0", "192.168.77.5/32", "10.0.0.0/8", "fd77::1/64",
                 "::/0", "fd77:1:2:3::9/127", "1.2.3.4", "fd77::5"):
        net = ipaddress.ip_network(text, strict=False)
        family, value, length = parse_prefix(text)
        assert (family, value, length) == (net.version, int(net.network_address), net.prefixlen)
        assert format_prefix(family, value, length) == str(net)
        assert prefix_mask(family, length) == int(net.netmask)


def test_strict_prefixes_refuse_host_bits():
    raises(ValueError, parse_prefix, "10.77.0.1/24", True)
    assert parse_prefix("10.77.0.0/24", True) == (V4, parse_ipv4("10.77.0.0"), 24)
    raises(ValueError, parse_prefix, "fd77::1/64", True)


def test_bad_prefixes_raise_value_error():
    for text in ("10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/a", "/8",
                 "10.0.0.0/8/8"):
        raises(ValueError, parse_prefix, text)


def test_packet_addresses_reads_both_families():
    four = icmp_echo("10.77.0.1", "10.77.0.2")
    assert packet_addresses(four) == (V4, parse_ipv4("10.77.0.1"), parse_ipv4("10.77.0.2"))
    six = icmp_echo("fd77::1", "fd77::2")
    assert packet_addresses(six) == (V6, parse_ipv6("fd77::1"), parse_ipv6("fd77::2"))
    assert packet_addresses(b"\x45" * 19) is None
    assert packet_addresses(b"\x60" * 39) is None
    assert packet_addresses(b"\x50" * 40) is None


def test_ipv6_groups_with_a_sign_prefix_or_separator_are_refused():
    # int(group, 16) alone would take "-1", "0x1", "1_0" and " 1".
    for text in ("::-1", "::+1", "::0x1", "::1_0", "::ffff: 1", "1:-0::"):
        raises(ValueError, ipaddress.IPv6Address, text)
        raises(ValueError, parse_ipv6, text)


def test_ipv6_zone_indexes_are_refused():
    raises(ValueError, parse_ipv6, "fe80::1%eth0")


def test_ipv4_octets_in_non_ascii_digits_are_refused():
    for text in ("\u0661.2.3.4", "1.2.3.\u00b2", "\uff11.2.3.4"):
        raises(ValueError, ipaddress.IPv4Address, text)
        raises(ValueError, parse_ipv4, text)


def test_ipv4_octets_with_leading_zeros_are_refused():
    for text in ("010.0.0.1", "1.2.3.04", "00.0.0.0"):
        raises(ValueError, ipaddress.IPv4Address, text)
        raises(ValueError, parse_ipv4, text)
