"""Small lab services and probes, run inside lab namespaces.

Owns: the `site` host's servers (an HTTP server that answers with the
client address it saw, a UDP and TCP echo on port 7, a TCP echo on 853 that
stands in for a DNS-over-TLS server) and the probes a LAN client runs
against them (HTTP GET, a minimal DNS query over UDP or TCP, a TCP connect),
and the ISP's router advertisements (`ra`): real ICMPv6 RAs from a raw
socket, as an ISP's router or radvd sends them on the router's WAN.

Started as `python -m vpnspot_router.lab.services COMMAND ...`; only the
standard library, so it runs under the same interpreter in any namespace.
The site's answer is plain text "client=ADDR" so a test (and the demo) can
prove which address the site saw: the tunnel address means the packet came
through the tunnel and nothing else.

Lab only; not part of the router agent.
"""

import http.server
import json
import socket
import socketserver
import struct
import sys
import threading


# ----------------------------------------------------------------- servers

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("client=%s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        # The site's access log is the test's evidence; keep it on stderr.
        sys.stderr.write("site http: %s %s\n" % (self.client_address[0], fmt % args))


class _HTTPServer6(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        # One socket for both families: IPv4 clients appear as ::ffff:a.b.c.d
        # and are reported in plain IPv4 form by _plain().
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        http.server.HTTPServer.server_bind(self)


def _plain(addr):
    return addr[7:] if addr.startswith("::ffff:") else addr


class _PlainHandler(_Handler):
    def do_GET(self):
        self.client_address = (_plain(self.client_address[0]),) + tuple(self.client_address[1:])
        _Handler.do_GET(self)


def _tcp_echo(port):
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::", port))
    srv.listen(16)

    def serve(conn):
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def _udp_echo(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    while True:
        data, addr = s.recvfrom(65536)
        s.sendto(data, addr)


def serve_site(http_port=80):
    threads = [
        threading.Thread(target=_tcp_echo, args=(7,), daemon=True),
        threading.Thread(target=_udp_echo, args=(7,), daemon=True),
        threading.Thread(target=_tcp_echo, args=(853,), daemon=True),
    ]
    for t in threads:
        t.start()
    server = _HTTPServer6(("::", http_port), _PlainHandler)
    print("READY", flush=True)
    server.serve_forever()


# ------------------------------------------------------------------ probes

def http_get(host, port=80, timeout=5.0):
    """GET / and return the body text; raises OSError on failure."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\r\nHost: site\r\n\r\n")
        chunks = []
        while True:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
    finally:
        s.close()
    reply = b"".join(chunks).decode(errors="replace")
    return reply.split("\r\n\r\n", 1)[-1]


def dns_query(server, name, tcp=False, qtype=1, timeout=3.0):
    """One DNS query; returns the answer addresses as text (A or AAAA)."""
    qid = 0x7654
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    if tcp:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((server, 53))
            s.sendall(struct.pack("!H", len(msg)) + msg)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                more = s.recv(4096)
                if not more:
                    raise OSError("DNS server closed the TCP connection early")
                data += more
            reply = data[2:]
        finally:
            s.close()
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(msg, (server, 53))
            reply, _ = s.recvfrom(4096)
        finally:
            s.close()
    return _answers(reply, qid)


def _skip_name(data, off):
    while True:
        n = data[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def _answers(reply, qid):
    rid, _flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", reply, 0)
    if rid != qid:
        raise OSError("DNS reply id mismatch")
    off = 12
    for _ in range(qd):
        off = _skip_name(reply, off) + 4
    out = []
    for _ in range(an):
        off = _skip_name(reply, off)
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", reply, off)
        off += 10
        rdata = reply[off:off + rdlen]
        off += rdlen
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28 and rdlen == 16:
            out.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return out


def tcp_echo(host, port, payload=b"vpnspot-echo", timeout=3.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(payload)
        return s.recv(4096)
    finally:
        s.close()


def udp_probe(host, port, interval):
    """Send a numbered UDP datagram every `interval` seconds for ever; print
    "REPLY wall_time seq sent_wall_time" for each echo that comes back. A
    LAN-side stream that keeps pushing packets at the router through every
    scenario, and whose replies time the tunnel's recovery. The send time
    travels in the datagram, so a reader can tell a reply to a request sent
    after some moment from one that only waited in the socket until then."""
    import time
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setblocking(False)
    seq = 0
    next_send = 0.0
    print("READY", flush=True)
    while True:
        now = time.monotonic()
        if now >= next_send:
            seq += 1
            try:
                s.sendto(b"probe %d %.3f" % (seq, time.time()), (host, port))
            except OSError:
                pass    # e.g. unreachable reported by an ICMP error: keep going
            next_send = now + interval
        try:
            data, _ = s.recvfrom(2048)
            fields = data.decode(errors="replace").split()
            if len(fields) == 3:
                print("REPLY %.3f %s %s" % (time.time(), fields[1], fields[2]), flush=True)
        except (BlockingIOError, InterruptedError):
            time.sleep(min(0.01, interval))
        except OSError:
            pass


def router_advertisement(prefix, prefix_len, router_lifetime, mac):
    """An ICMPv6 router advertisement (RFC 4861 4.2): a default router for
    `router_lifetime` seconds, the source link-layer address option and one
    prefix information option with the on-link and autonomous flags (SLAAC).
    The checksum stays 0: the kernel fills it in for raw ICMPv6 sockets."""
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, router_lifetime, 0, 0)
    ra += struct.pack("!BB6s", 1, 1, mac)
    ra += struct.pack("!BBBBIII16s", 3, 4, prefix_len, 0xC0, 3600, 1800, 0,
                      socket.inet_pton(socket.AF_INET6, prefix))
    return ra


def send_router_advertisements(ifname, prefix_cidr, router_lifetime, interval):
    """Advertise `prefix_cidr` and a default route on `ifname` every
    `interval` seconds, for ever (what radvd does, with a short interval so
    a test need not wait). Prints SENT after each advertisement."""
    import time
    prefix, _, plen = prefix_cidr.partition("/")
    with open("/sys/class/net/%s/address" % ifname) as f:
        mac = bytes(int(b, 16) for b in f.read().strip().split(":"))
    index = socket.if_nametoindex(ifname)
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    # Receivers ignore RAs whose hop limit is not 255 (not from this link).
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    packet = router_advertisement(prefix, int(plen or 64), router_lifetime, mac)
    while True:
        s.sendto(packet, ("ff02::1", 0, 0, index))
        print("SENT", flush=True)
        time.sleep(interval)


def main(argv):
    """Commands print one JSON line: {"ok": bool, ...}; exit 0 either way so
    callers get the reason, exit 2 on bad usage."""
    if not argv:
        print("usage: services site | http HOST | dns SERVER NAME [tcp] [aaaa] | tcp HOST PORT",
              file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "site":
        serve_site()
        return 0
    if cmd == "ra":
        send_router_advertisements(args[0], args[1], int(args[2]), float(args[3]))
        return 0
    if cmd == "udpprobe":
        udp_probe(args[0], int(args[1]), float(args[2]))
        return 0
    try:
        if cmd == "http":
            result = {"ok": True, "body": http_get(args[0])}
        elif cmd == "dns":
            result = {"ok": True, "answers": dns_query(args[0], args[1], tcp="tcp" in args[2:],
                                                       qtype=28 if "aaaa" in args[2:] else 1)}
        elif cmd == "tcp":
            result = {"ok": True, "reply": tcp_echo(args[0], int(args[1])).decode(errors="replace")}
        else:
            print("unknown command %r" % cmd, file=sys.stderr)
            return 2
    except (OSError, IndexError, struct.error) as e:
        result = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
