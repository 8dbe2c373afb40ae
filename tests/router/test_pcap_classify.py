"""The leak classifier itself (lab/pcap.py), on hand-built frames: what it
lets pass as tunnel traffic must really be WireGuard to the gateway."""

import socket
import struct

from vpnspot_router.lab import pcap

ENDPOINTS = {("203.0.113.10", 51820)}
ETH = b"\x02" * 12


def ipv4(src, dst, proto, payload):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header + payload


def frame4(src, dst, proto, payload):
    return ETH + b"\x08\x00" + ipv4(src, dst, proto, payload)


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def frame6(src, dst, nh, payload):
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64,
                         socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))
    return ETH + b"\x86\xdd" + header + payload


WG_INIT = b"\x01\x00\x00\x00" + b"\xaa" * 144


def test_wireguard_to_the_endpoint_passes_and_anything_else_to_that_port_leaks():
    frames = [frame4("198.51.100.2", "203.0.113.10", 17, udp(40000, 51820, WG_INIT)),
              frame4("203.0.113.10", "198.51.100.2", 17, udp(51820, 40000, b"\x04\x00\x00\x00" + b"x" * 28)),
              frame4("198.51.100.2", "203.0.113.10", 17, udp(40000, 51820, b"GET / HTTP/1.0\r\n")),
              frame4("198.51.100.2", "203.0.113.99", 17, udp(40000, 51820, WG_INIT))]
    tally = pcap.classify(frames, ENDPOINTS)
    assert (tally["wireguard"], tally["leaked"]) == (2, 2)


def test_an_icmp_error_quoting_wireguard_is_not_a_leak_but_one_quoting_lan_data_is():
    quoted_wg = ipv4("203.0.113.10", "198.51.100.2", 17, udp(51820, 40000, b"\x04\x00\x00\x00" + b"y" * 40))
    quoted_dns = ipv4("198.51.100.2", "198.51.100.1", 17, udp(5353, 53, b"\x12\x34" + b"q" * 30))
    icmp = lambda inner: b"\x03\x03\x00\x00\x00\x00\x00\x00" + inner
    tally = pcap.classify([frame4("198.51.100.2", "203.0.113.10", 1, icmp(quoted_wg)),
                           frame4("198.51.100.2", "198.51.100.1", 1, icmp(quoted_dns))], ENDPOINTS)
    assert (tally["wireguard_icmp"], tally["leaked"]) == (1, 1)


def test_neighbour_discovery_and_mld_behind_hop_by_hop_are_housekeeping_but_ipv6_data_leaks():
    ns = b"\x87\x00\x00\x00" + b"\x00" * 20
    mld = b"\x3a\x00\x05\x02\x00\x00\x01\x00" + b"\x8f\x00\x00\x00" + b"\x00" * 20
    tcp6 = struct.pack("!HHIIHHHH", 40000, 80, 0, 0, 0x5002, 0, 0, 0)
    tally = pcap.classify([frame6("fe80::1", "ff02::1:ff00:1", 58, ns),
                           frame6("fe80::1", "ff02::16", 0, mld),
                           frame6("fd77:100::2", "fd77:200::80", 6, tcp6),
                           ETH + b"\x08\x06" + b"\x00" * 28], ENDPOINTS)
    assert (tally["housekeeping"], tally["leaked"], tally["non_ip"]) == (2, 1, 1)
    assert tally["leak_examples"] == ["IPv6 TCP fd77:100::2 -> fd77:200::80 40000>80 (20 bytes)"]
