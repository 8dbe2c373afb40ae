"""Kernel offloads for the userspace data plane: TUN vnet headers, TCP
segmentation and coalescing, UDP GSO/GRO. Linux only; CPython only.

Why: Python pays per packet, the kernel's TCP stack pays per packet too. With
offloads one TUN read returns a TCP super-packet of up to 64 KB (the kernel
skipped segmenting it), one sendmsg hands up to 44 datagrams to the UDP stack
(UDP_SEGMENT), one recvmsg returns up to 64 KB of datagrams from one sender
(UDP_GRO), and one TUN write gives the kernel a whole run of TCP segments as
one super-packet. That is what lets a Python tunnel beat wireguard-go.

Data flow:
  TUN read  -> [virtio_net_hdr][IP packet, maybe 64 KB TCP] -> segment() ->
               MTU-sized IP packets with correct checksums -> core
  core      -> decrypted IP packets -> coalesce() -> [virtio_net_hdr][super-
               packet] per run of one TCP flow -> one TUN write each

Rules it keeps:
  - packets leaving for a peer carry correct IP and TCP/UDP checksums: the
    peer's kernel verifies them (wireguard-go's peers do not offload);
  - packets that decrypted and authenticated are handed to our kernel with
    CHECKSUM_PARTIAL (only the pseudo-header sum filled in), as the kernel's
    own WireGuard trusts authenticated packets; the kernel completes the sum
    if it forwards them (the LAN client case);
  - every offload has a switch (environment, see `Switches`) and falls back
    by itself when the kernel refuses it.
"""

import os
import socket
import struct

# <linux/virtio_net.h>; the TUN device uses the host's byte order.
VNET_HDR = struct.Struct("=BBHHHH")
VNET_HDR_LEN = VNET_HDR.size                # 10
F_NEEDS_CSUM = 1
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_TCPV6 = 4
GSO_ECN = 0x80
ZERO_VNET_HDR = bytes(VNET_HDR_LEN)

# <linux/udp.h>
SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
# The kernel refuses a GSO send of more than 64 segments or 64 KB.
GSO_MAX_SEGMENTS = 64
GSO_MAX_BYTES = 65000

_H = struct.Struct("!H")
_I = struct.Struct("!I")
_pack_h_into = _H.pack_into
_pack_i_into = _I.pack_into
_unpack_i = _I.unpack_from
_from_bytes = int.from_bytes

TCP_FIN = 0x01
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_CWR = 0x80


class Switches:
    """Which offloads to try. Environment (0 = off, 1 = on):
    VPNSPOT_TUN_TSO=1       TUN super-packets (TUNSETOFFLOAD CSUM+TSO), segmented
                            here; default OFF: the benchmark shows the kernel
                            segmenting and checksumming for us costs less CPU
                            per GB than Python checksums (README, Performance)
    VPNSPOT_TUN_COALESCE=0  coalesce received TCP segments into one TUN write (on)
    VPNSPOT_UDP_GSO=0       UDP_SEGMENT sends (on)
    VPNSPOT_UDP_GRO=0       UDP_GRO receives (on)
    VPNSPOT_TUN_WRITER=1    TUN writes on a second thread (tun.TunDevice.start_writer)
    (and, read by bind.py: VPNSPOT_UDP_BUFFER=0 leaves the UDP socket buffers
    at the kernel's default instead of 7 MB)
    """

    NAMES = ("tso", "coalesce", "gso", "gro", "writer")

    def __init__(self, tso=False, coalesce=True, gso=True, gro=True, writer=False):
        self.writer = writer
        self.tso = tso
        self.coalesce = coalesce
        self.gso = gso
        self.gro = gro

    @classmethod
    def from_env(cls, environ=None):
        env = os.environ if environ is None else environ

        def on(name, default):
            value = env.get(name)
            if value is None or not value.strip():
                return default
            return value.strip().lower() not in ("0", "off", "no", "false")
        d = cls()
        return cls(tso=on("VPNSPOT_TUN_TSO", d.tso), coalesce=on("VPNSPOT_TUN_COALESCE", d.coalesce),
                   gso=on("VPNSPOT_UDP_GSO", d.gso), gro=on("VPNSPOT_UDP_GRO", d.gro),
                   writer=on("VPNSPOT_TUN_WRITER", d.writer))

    def __repr__(self):
        return "Switches(%s)" % ", ".join("%s=%s" % (n, getattr(self, n)) for n in self.NAMES)


# ------------------------------------------------------------- checksums

def sum16(data):
    """Ones' complement sum of `data` as big-endian 16-bit words, folded to
    0..0xFFFE (not complemented). One int.from_bytes over the whole buffer:
    the sum is byte-order independent (RFC 1071), so the cheaper little-endian
    conversion is used and the result swapped; 2**16 == 1 (mod 0xFFFF), so
    folding the number in halves (shift, mask, add: cheap) shrinks it before
    the one division, which CPython does digit by digit (slow). Pass bytes:
    anything else is copied to bytes first."""
    x = _from_bytes(data, "little")
    steps = _fold_steps.get(len(data))
    if steps is None:
        steps = _fold_plan(len(data))
    for h, m in steps:
        x = (x >> h) + (x & m)
    x %= 0xFFFF
    return ((x & 0xFF) << 8) | (x >> 8)


_fold_steps = {}


def _fold_plan(n):
    steps = []
    bits = n * 8 + 8
    while bits > 2048:
        h = (bits >> 1) & ~15
        steps.append((h, (1 << h) - 1))
        bits = max(h, bits - h) + 1
    steps = tuple(steps)
    if len(_fold_steps) < 4096:
        _fold_steps[n] = steps
    return steps


def finish(s):
    """Checksum field value for a folded sum: complemented; 0 becomes 0xFFFF
    (equivalent for TCP and ICMP, and mandatory for UDP where 0 means none)."""
    c = 0xFFFF - s
    return c if c else 0xFFFF


# ---------------------------------------------------------- segmentation

def split_tun_read(buf):
    """One read from a vnet-header TUN -> list of IP packets ready for the
    core (checksums complete, each at most the MTU). `buf` is bytes."""
    flags, gso_type, _hdr_len, gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(buf, 0)
    gso = gso_type & ~GSO_ECN
    if gso == GSO_TCPV4 or gso == GSO_TCPV6:
        return segment_tcp(buf, VNET_HDR_LEN, gso_size, csum_start)
    if flags & F_NEEDS_CSUM:
        out = bytearray(buf[VNET_HDR_LEN:])
        # The field already holds the pseudo-header sum; summing over it
        # completes the checksum.
        _pack_h_into(out, csum_start + csum_offset, finish(sum16(bytes(out[csum_start:]))))
        return [out]
    return [buf[VNET_HDR_LEN:]]


def segment_tcp(buf, base, mss, tcp_off):
    """Split the TCP super-packet at buf[base:] (IPv4 or IPv6, no extension
    headers) into segments of `mss` payload bytes, as the kernel's GSO
    would: IP lengths, IPv4 ids and header checksums, TCP sequence numbers,
    FIN/PSH only on the last segment, CWR only on the first, and every TCP
    checksum in full. `buf` must be bytes: int.from_bytes copies anything
    else first, which doubles the cost of the checksums.

    Checksums are assembled from parts, since the sum is linear: the
    pseudo-header and the header template are summed once, sequence number,
    lengths and ids are added as numbers, and only each payload is summed
    per segment."""
    version = buf[base] >> 4
    thl = (buf[base + tcp_off + 12] >> 4) * 4
    hdr_len = tcp_off + thl
    end_all = len(buf)
    hdr = bytearray(buf[base:base + hdr_len])
    if version == 4:
        end_all = min(end_all, base + ((hdr[2] << 8) | hdr[3]))
        ip_id = (hdr[4] << 8) | hdr[5]
        pseudo = sum16(bytes(hdr[12:20])) + 6
        hdr[2] = hdr[3] = hdr[4] = hdr[5] = hdr[10] = hdr[11] = 0
        ip_base = sum16(bytes(hdr[:tcp_off]))
    else:
        pseudo = sum16(bytes(hdr[8:40])) + 6
        ip_id = ip_base = 0
    payload_len = end_all - base - hdr_len
    if mss <= 0 or payload_len <= mss:
        mss = max(payload_len, 1)
    seq0 = _unpack_i(hdr, tcp_off + 4)[0]
    flags = hdr[tcp_off + 13]
    for k in (4, 5, 6, 7, 16, 17):
        hdr[tcp_off + k] = 0
    tcp_sums = {}
    out = []
    start = base + hdr_len
    offset = start
    i = 0
    while offset < end_all:
        end = offset + mss
        if end > end_all:
            end = end_all
        payload = buf[offset:end]
        f = flags
        if end < end_all:
            f &= ~(TCP_FIN | TCP_PSH)
        if i:
            f &= ~TCP_CWR
        tcp_sum = tcp_sums.get(f)
        if tcp_sum is None:
            hdr[tcp_off + 13] = f
            tcp_sum = tcp_sums[f] = sum16(bytes(hdr[tcp_off:]))
        seq = (seq0 + offset - start) & 0xFFFFFFFF
        tcp_len = thl + end - offset
        h = bytearray(hdr)
        h[tcp_off + 13] = f
        _pack_i_into(h, tcp_off + 4, seq)
        s = tcp_sum + pseudo + tcp_len + (seq >> 16) + (seq & 0xFFFF) + sum16(payload)
        _pack_h_into(h, tcp_off + 16, finish(s % 0xFFFF))
        if version == 4:
            ident = (ip_id + i) & 0xFFFF
            length = tcp_off + tcp_len
            _pack_h_into(h, 2, length)
            _pack_h_into(h, 4, ident)
            _pack_h_into(h, 10, finish((ip_base + length + ident) % 0xFFFF))
        else:
            _pack_h_into(h, 4, tcp_len)
        h += payload
        out.append(h)
        offset = end
        i += 1
    return out


# ------------------------------------------------------------ coalescing

def coalesce(packets, max_bytes=65535):
    """Decrypted IP packets (in order) -> list of buffers for TUN writes,
    each a list of pieces [vnet header, IP+TCP header, payload, ...] to be
    written with one writev. Consecutive TCP segments of one flow that the
    kernel's GRO would merge become one super-packet with CHECKSUM_PARTIAL;
    anything else is written alone with an empty vnet header."""
    out = []
    n = len(packets)
    i = 0
    while i < n:
        p = packets[i]
        head = _head_info(p)
        if head is None:
            out.append([ZERO_VNET_HDR, p])
            i += 1
            continue
        hl, hdr_len = head
        plen = len(p) - hdr_len
        j = i + 1
        total = len(p)
        last_flags = p[hl + 13]
        if last_flags == TCP_ACK and plen > 0:
            # Like the kernel's GRO: same IP header fields that GSO copies
            # (version, TOS, DF, TTL, protocol, addresses), ports, ack and
            # header length and options; sequence numbers in order; only
            # the last segment may be shorter or carry PSH.
            if hl == 20:
                fixed = (p[:2], p[6:10], p[12:24], p[28:33], p[40:hdr_len])
            else:
                fixed = (p[:4], p[6:24], p[24:44], p[48:53], p[60:hdr_len])
            next_seq = (_unpack_i(p, hl + 4)[0] + plen) & 0xFFFFFFFF
            ack_at = hl + 8
            opt_at = hl + 20
            while j < n:
                q = packets[j]
                qlen = len(q) - hdr_len
                if qlen <= 0 or qlen > plen or total + qlen > max_bytes:
                    break
                if hl == 20:
                    same = q[:2] == fixed[0] and q[6:10] == fixed[1] and q[12:24] == fixed[2] \
                        and q[28:33] == fixed[3] and q[40:hdr_len] == fixed[4]
                else:
                    same = q[:4] == fixed[0] and q[6:24] == fixed[1] and q[24:44] == fixed[2] \
                        and q[48:53] == fixed[3] and q[60:hdr_len] == fixed[4]
                if not same or _unpack_i(q, hl + 4)[0] != next_seq:
                    break
                qf = q[hl + 13]
                if qf != TCP_ACK and qf != TCP_ACK | TCP_PSH:
                    break
                total += qlen
                next_seq = (next_seq + qlen) & 0xFFFFFFFF
                last_flags = qf
                j += 1
                if qlen < plen or qf != TCP_ACK:
                    break
        if j == i + 1:
            out.append([ZERO_VNET_HDR, p])
            i += 1
            continue
        header = bytearray(p[:hdr_len])
        header[hl + 13] = last_flags
        tcp_len = total - hl
        if hl == 20:
            _pack_h_into(header, 2, total)
            header[10] = header[11] = 0
            _pack_h_into(header, 10, finish(sum16(bytes(header[:20]))))
            pseudo = sum16(bytes(header[12:20])) + 6 + tcp_len
            gso_type = GSO_TCPV4
        else:
            _pack_h_into(header, 4, tcp_len)
            pseudo = sum16(bytes(header[8:40])) + 6 + tcp_len
            gso_type = GSO_TCPV6
        # CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum,
        # not complemented; whoever finishes the sum adds the rest.
        _pack_h_into(header, hl + 16, (pseudo % 0xFFFF) or 0xFFFF)
        pieces = [VNET_HDR.pack(F_NEEDS_CSUM, gso_type, hdr_len, plen, hl, 16), header]
        for k in range(i, j):
            pieces.append(memoryview(packets[k])[hdr_len:])
        out.append(pieces)
        i = j
    return out


def _head_info(p):
    """(ip header len, ip+tcp header len) for a plain TCP segment that may
    start a coalesced run, else None: IPv4 without options or fragments,
    IPv6 without extension headers."""
    n = len(p)
    b0 = p[0]
    if b0 == 0x45:
        if n < 40 or p[9] != 6 or (p[6] & 0x3F) or p[7]:
            return None
        hl = 20
    elif b0 >> 4 == 6:
        if n < 60 or p[6] != 6:
            return None
        hl = 40
    else:
        return None
    hdr_len = hl + (p[hl + 12] >> 4) * 4
    if hdr_len < hl + 20 or hdr_len > n:
        return None
    return hl, hdr_len


# ------------------------------------------------------------------ UDP

def enable_gro(sock):
    """Ask for UDP GRO on `sock`; False when the kernel refuses."""
    try:
        sock.setsockopt(SOL_UDP, UDP_GRO, 1)
    except OSError:
        return False
    return True


def gso_probe(sock):
    """True when the kernel accepts UDP_SEGMENT on this socket."""
    try:
        sock.getsockopt(SOL_UDP, UDP_SEGMENT)
    except OSError:
        return False
    return True


_gso_cmsg_cache = {}


def gso_cmsg(size):
    c = _gso_cmsg_cache.get(size)
    if c is None:
        c = [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))]
        if len(_gso_cmsg_cache) < 256:
            _gso_cmsg_cache[size] = c
    return c


def gso_runs(datas):
    """Split a list of datagrams into runs one UDP_SEGMENT send can carry:
    all of one size except a shorter last one, at most GSO_MAX_SEGMENTS
    segments and GSO_MAX_BYTES bytes. Yields (segment size, run)."""
    n = len(datas)
    i = 0
    while i < n:
        size = len(datas[i])
        j = i + 1
        total = size
        limit = min(GSO_MAX_SEGMENTS, GSO_MAX_BYTES // size if size else 1)
        while j < n and j - i < limit:
            ln = len(datas[j])
            if ln > size:
                break
            j += 1
            total += ln
            if ln < size:
                break
        yield size, datas[i:j]
        i = j


GRO_CMSG_SPACE = socket.CMSG_SPACE(4)
_int = struct.Struct("=i")


def gro_size(ancdata):
    for level, kind, data in ancdata:
        if level == SOL_UDP and kind == UDP_GRO and len(data) >= 4:
            return _int.unpack_from(data, 0)[0]
    return 0
