"""Reading WAN captures and deciding, packet by packet, whether anything leaked.

Owns: a minimal reader for classic pcap files (what `tcpdump -w` writes on
an Ethernet or veth link) and the leak classification the router tests and
the demo print as a tally.

A packet on the WAN is one of:
  wireguard     UDP between the router and a configured gateway endpoint
                whose payload has the shape of a WireGuard message (type 1-4
                followed by three zero bytes) - anything else to that port
                would be a leak dressed up as tunnel traffic;
  wireguard_icmp  an ICMP error quoting such a WireGuard datagram (port
                unreachable while the agent or the gateway restarts): it
                carries only the datagram's ciphertext;
  provider_api  TCP between the router and the VPN Spot service's API
                address and port, when the caller names it (`api`): the
                router's own HTTPS, which DESIGN.md allows outside the tunnel
                (enrollment, server list, key registration, reports);
  housekeeping  IPv6 neighbour discovery, router solicitation/advertisement
                and multicast listener messages: the link's own upkeep,
                carrying no LAN data;
  non_ip        ARP and other non-IP frames (counted, never data);
  leaked        every other IP packet, whatever its source. This is stricter
                than "LAN-sourced": a leak behind the router's WAN NAT carries
                the router's address, so source addresses cannot tell it apart.
"""

import socket
import struct

WG_TYPES = (1, 2, 3, 4)
HOUSEKEEPING_ICMP6 = (130, 131, 132, 133, 134, 135, 136, 137, 143)


class PcapError(Exception):
    """The capture file is missing, truncated or not a pcap we can read."""


def read_pcap(path):
    """Yield link-layer frames (bytes) from a classic pcap file (Ethernet)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PcapError("cannot read capture %s: %s" % (path, e.strerror)) from e
    if len(data) < 24:
        raise PcapError("capture %s has no pcap header (%d bytes): did tcpdump start?"
                        % (path, len(data)))
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise PcapError("capture %s is not a classic pcap file" % path)
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    if linktype != 1:
        raise PcapError("capture %s has link type %d; only Ethernet (1) is read" % (path, linktype))
    off = 24
    frames = []
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        off += 16
        # A capture stopped mid-write may end in half a record: ignore it.
        if off + incl > len(data):
            break
        frames.append(data[off:off + incl])
        off += incl
    return frames


def _ip_info(frame):
    """(family, src, dst, proto, payload) for an IP frame, or None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    body = frame[14:]
    if ethertype == 0x0800 and len(body) >= 20:
        ihl = (body[0] & 0x0F) * 4
        return (4, socket.inet_ntop(socket.AF_INET, body[12:16]),
                socket.inet_ntop(socket.AF_INET, body[16:20]), body[9], body[ihl:])
    if ethertype == 0x86DD and len(body) >= 40:
        proto, payload = body[6], body[40:]
        # Only hop-by-hop options are followed (MLD reports carry them);
        # a packet hiding behind any other extension header lands in
        # `leaked`, which errs on the safe side.
        if proto == 0 and len(payload) >= 8:
            proto, payload = payload[0], payload[(payload[1] + 1) * 8:]
        return (6, socket.inet_ntop(socket.AF_INET6, body[8:24]),
                socket.inet_ntop(socket.AF_INET6, body[24:40]), proto, payload)
    return None


def _describe(info):
    fam, src, dst, proto, payload = info
    ports = ""
    if proto in (6, 17) and len(payload) >= 4:
        sport, dport = struct.unpack_from("!HH", payload, 0)
        ports = " %d>%d" % (sport, dport)
    name = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMP6"}.get(proto, "proto %d" % proto)
    return "IPv%d %s %s -> %s%s (%d bytes)" % (fam, name, src, dst, ports, len(payload))


def _wireguard_udp(src, dst, payload, endpoints):
    if len(payload) < 12:
        return False
    sport, dport = struct.unpack_from("!HH", payload, 0)
    wg = payload[8:12]
    return (((dst, dport) in endpoints or (src, sport) in endpoints)
            and wg[0] in WG_TYPES and wg[1:4] == b"\0\0\0")


def _icmp_error_about_wireguard(proto, payload, endpoints):
    """An ICMP error (e.g. port unreachable while the agent or the gateway
    is restarting) that quotes a WireGuard datagram to or from an endpoint:
    the kernel's answer about tunnel traffic, carrying only its ciphertext."""
    if proto == 1 and len(payload) >= 8 + 20 and payload[0] in (3, 11, 12):
        inner = payload[8:]
        ihl = (inner[0] & 0x0F) * 4
        if inner[9] != 17:
            return False
        return _wireguard_udp(socket.inet_ntop(socket.AF_INET, inner[12:16]),
                              socket.inet_ntop(socket.AF_INET, inner[16:20]), inner[ihl:], endpoints)
    if proto == 58 and len(payload) >= 8 + 40 and payload[0] in (1, 2, 3, 4):
        inner = payload[8:]
        if inner[6] != 17:
            return False
        return _wireguard_udp(socket.inet_ntop(socket.AF_INET6, inner[8:24]),
                              socket.inet_ntop(socket.AF_INET6, inner[24:40]), inner[40:], endpoints)
    return False


def _provider_tcp(src, dst, payload, api):
    if len(payload) < 4:
        return False
    sport, dport = struct.unpack_from("!HH", payload, 0)
    return (dst, dport) in api or (src, sport) in api


def classify(frames, endpoints, api=()):
    """Tally frames against the allowed WireGuard endpoints, a set of
    (address_text, port), and the provider API's (address_text, port)s.
    Returns a dict with seen, wireguard, provider_api, housekeeping, non_ip,
    leaked and leak_examples (up to 10 one-line descriptions)."""
    tally = {"seen": 0, "wireguard": 0, "wireguard_icmp": 0, "provider_api": 0,
             "housekeeping": 0, "non_ip": 0, "leaked": 0,
             "leak_examples": []}
    api = set(api)
    for frame in frames:
        tally["seen"] += 1
        info = _ip_info(frame)
        if info is None:
            tally["non_ip"] += 1
            continue
        _fam, src, dst, proto, payload = info
        if proto == 17 and _wireguard_udp(src, dst, payload, endpoints):
            tally["wireguard"] += 1
            continue
        if proto == 6 and api and _provider_tcp(src, dst, payload, api):
            tally["provider_api"] += 1
            continue
        if proto == 58 and payload and payload[0] in HOUSEKEEPING_ICMP6:
            tally["housekeeping"] += 1
            continue
        if _icmp_error_about_wireguard(proto, payload, endpoints):
            tally["wireguard_icmp"] += 1
            continue
        tally["leaked"] += 1
        if len(tally["leak_examples"]) < 10:
            tally["leak_examples"].append(_describe(info))
    return tally


def tally_text(tally):
    api = tally.get("provider_api")
    return ("WAN capture: %d packets seen: %d WireGuard to the gateway, %s%d ICMP errors about "
            "WireGuard, %d link housekeeping, %d non-IP, packets leaked = %d"
            % (tally["seen"], tally["wireguard"],
               "%d the router's own HTTPS to the VPN Spot service, " % api if api else "",
               tally["wireguard_icmp"], tally["housekeeping"], tally["non_ip"], tally["leaked"]))
