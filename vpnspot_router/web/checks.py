"""The diagnostics page's network checks, run from the router itself.

Owns two probes, each sent out of the tunnel interface only
(SO_BINDTODEVICE), so an answer proves the tunnel carried it and never the
household's internet provider:

  dns_check(resolver, name, device)   one DNS query (A, recursion desired)
                                      to the tunnel's resolver
  mtu_check(target, mtu, device)      an ICMP echo of exactly the tunnel MTU
                                      with Don't Fragment set, and a small
                                      one to tell "too big" from "no ping"

Both need root (a raw ICMP socket, binding to a device), as the web UI
has on the router. The names asked and the addresses pinged are the VPN Spot
side's (the provider's API name, the tunnel resolver), never a LAN
client's or a destination's. Results are plain dicts for the page:
{"ok": True|False|None, "detail": text}; None means "could not tell".
"""

import os
import select
import socket
import struct
import time

from vpnspot_router.net.tunnelprobe import echo_request

DNS_TIMEOUT = 3.0
PING_TIMEOUT = 2.0
SMALL_PING = 56
# Linux <netinet/in.h>: the socket module does not name these.
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DO = 2
RCODES = {0: "answered", 1: "format error", 2: "server failure", 3: "no such name",
          4: "not implemented", 5: "refused"}


def _bound(family, kind, proto, device):
    s = socket.socket(family, kind, proto)
    if device:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    return s


def dns_query(resolver, name, device=None, timeout=DNS_TIMEOUT, port=53):
    """(rcode, number of answers); OSError when nothing came back in time."""
    qid = int.from_bytes(os.urandom(2), "big")
    question = b"".join([bytes([len(p)]) + p.encode("ascii") for p in name.split(".") if p])
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + b"\0" \
        + struct.pack("!HH", 1, 1)
    family = socket.AF_INET6 if ":" in resolver else socket.AF_INET
    s = _bound(family, socket.SOCK_DGRAM, 0, device)
    try:
        s.settimeout(timeout)
        s.connect((resolver, port))
        s.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            reply = s.recv(4096)
            # A reply to another query (or a forged one) is not ours.
            if len(reply) >= 12 and struct.unpack_from("!H", reply)[0] == qid:
                flags, _qd, ancount = struct.unpack_from("!HHH", reply, 2)
                return flags & 0x0F, ancount
    finally:
        s.close()


def dns_check(resolver, name, device, port=53):
    try:
        rcode, answers = dns_query(resolver, name, device, port=port)
    except socket.timeout:
        return {"ok": False, "detail": "the tunnel's resolver %s did not answer in %d s"
                % (resolver, DNS_TIMEOUT)}
    except OSError as e:
        return {"ok": False, "detail": "cannot ask the tunnel's resolver %s: %s"
                % (resolver, e.strerror or e)}
    text = RCODES.get(rcode, "error code %d" % rcode)
    if rcode == 0:
        return {"ok": True, "detail": "%s answered %s through the tunnel (%d address%s)"
                % (resolver, name, answers, "" if answers == 1 else "es")}
    if rcode == 3:
        # The resolver works; it just has no such name.
        return {"ok": True, "detail": "%s answered through the tunnel (%s: %s)"
                % (resolver, name, text)}
    return {"ok": False, "detail": "%s was reached through the tunnel but did not resolve %s "
            "(%s)" % (resolver, name, text)}


def ping(target, size, device=None, timeout=PING_TIMEOUT):
    """True: an echo of `size` bytes of ICMP payload (DF set) came back;
    False: no answer in time; ("too big", mtu) when the kernel or a hop said
    so. IPv4 only: the tunnel's resolver is reached over IPv4 first."""
    ident = int.from_bytes(os.urandom(2), "big")
    packet = echo_request(ident, 1, bytes(size))
    s = _bound(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, device)
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        try:
            s.sendto(packet, (target, 0))
        except OSError as e:
            if e.errno == 90:      # EMSGSIZE: larger than the interface's MTU
                return ("too big", None)
            raise
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                return False
            data, _ = s.recvfrom(65535)
            ihl = (data[0] & 0x0F) * 4
            kind, code = data[ihl], data[ihl + 1]
            if kind == 0 and struct.unpack_from("!H", data, ihl + 4)[0] == ident \
                    and len(data) - ihl - 8 == size:
                return True
            if kind == 3 and code == 4:
                # Fragmentation needed: the quoted header must be our echo.
                inner = ihl + 8
                quoted = inner + (data[inner] & 0x0F) * 4 if len(data) > inner else 0
                if len(data) >= quoted + 6 and data[quoted] == 8 \
                        and struct.unpack_from("!H", data, quoted + 4)[0] == ident:
                    return ("too big", struct.unpack_from("!H", data, ihl + 6)[0])
    finally:
        s.close()


def mtu_check(target, mtu, device):
    """A full-size packet (the tunnel MTU, headers included) to the gateway
    side of the tunnel and back, Don't Fragment set."""
    size = mtu - 28         # IPv4 header 20 + ICMP header 8
    try:
        full = ping(target, size, device)
        if full is True:
            return {"ok": True, "detail": "%d: a full-size packet crossed the tunnel to %s and "
                    "back without fragmenting" % (mtu, target)}
        small = ping(target, SMALL_PING, device)
    except OSError as e:
        return {"ok": None, "detail": "%d; not checked: %s" % (mtu, e.strerror or e)}
    if small is not True:
        return {"ok": None, "detail": "%d; not checked: %s does not answer ping through the "
                "tunnel" % (mtu, target)}
    hint = ""
    if isinstance(full, tuple) and full[1]:
        hint = " (a hop allows %d)" % full[1]
    return {"ok": False, "detail": "%d is too large: small packets cross the tunnel to %s but "
            "full-size ones do not%s; set a lower MTU in Settings" % (mtu, target, hint)}
