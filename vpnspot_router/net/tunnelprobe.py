"""The liveness probe on the wire: an ICMP echo from the router to the
server's tunnel-side address, out of the tunnel interface only.

Owns the socket behind core/liveness.py's SendProbe (the supervisor's
ProbeTunnel); the policy - when to probe, when silence means dead - is all
in the core. Keep in sync with driver.py, which sends with send() and
feeds replies() back as probe_reply events.

Why ICMP to the server's own tunnel address: a reply has crossed the
tunnel both ways and been answered by the server itself, so it proves the
path end to end whatever the household's traffic does, and it needs no
service on the server beyond its IP stack. SO_BINDTODEVICE keeps the echo
off the WAN: an answer can never come from the internet provider's side.
The echo carries nothing of the household: a fixed payload, our own
identifier and a sequence number.

Needs root (a raw socket, binding to a device), as the agent has on the
router. `FakeProber` keeps the same interface in memory for tests.
"""

import os
import socket
import struct

PAYLOAD = b"vpnspot-liveness"


def checksum(data):
    """The Internet checksum (RFC 1071) of an ICMP message."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident, seq, payload=PAYLOAD):
    """An ICMP echo request: the liveness probe's, or with another payload
    web/checks.py's pings (MTU checks send zeros of a chosen size)."""
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq & 0xFFFF) + payload


def parse_echo_reply(data, ident):
    """The 16-bit sequence number of our echo reply in `data` (an IPv4
    packet, as a raw socket returns it), or None for anything else."""
    if len(data) < 20:
        return None
    ihl = (data[0] & 0x0F) * 4
    if len(data) < ihl + 8 or data[ihl] != 0 or data[ihl + 1] != 0:
        return None
    rid, rseq = struct.unpack_from("!HH", data, ihl + 4)
    return rseq if rid == ident else None


class IcmpProber:
    """One per tunnel: send(seq, address), replies() -> [seq, ...] (full
    sequence numbers of the probes sent through this prober), fileno(),
    close(). Raises OSError when the socket cannot be made or used."""

    def __init__(self, device):
        self.ident = int.from_bytes(os.urandom(2), "big")
        self.sent = {}              # seq & 0xFFFF -> seq
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def fileno(self):
        return self.sock.fileno()

    def send(self, seq, address):
        self.sent[seq & 0xFFFF] = seq
        if len(self.sent) > 64:     # keep only recent probes answerable
            for k in sorted(self.sent, key=self.sent.get)[:-64]:
                del self.sent[k]
        self.sock.sendto(echo_request(self.ident, seq), (address, 0))

    def replies(self):
        out = []
        while True:
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return out
            seq16 = parse_echo_reply(data, self.ident)
            if seq16 is not None and seq16 in self.sent:
                out.append(self.sent[seq16])

    def close(self):
        self.sock.close()


class FakeProber:
    """In memory: every probe sent to an address in `answering` is answered
    at the next replies(); `sent` lists (seq, address)."""

    def __init__(self, answering=()):
        self.answering = set(answering)
        self.sent = []
        self._due = []
        self.closed = False

    def fileno(self):
        return -1

    def send(self, seq, address):
        if self.closed:
            raise OSError("prober closed")
        self.sent.append((seq, address))
        if address in self.answering:
            self._due.append(seq)

    def replies(self):
        out, self._due = self._due, []
        return out

    def close(self):
        self.closed = True
