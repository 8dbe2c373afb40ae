"""Offload arithmetic without a kernel: segmentation must produce exactly the
packets the kernel's GSO would (checked against a plain RFC 1071 checksum
written the slow way), and coalescing must undo it."""

import os
import socket
import struct

import pytest

from vpnspot_router.tunnel import offload

SRC4, DST4 = "10.77.0.1", "10.77.0.2"
SRC6, DST6 = "fd77:77::1", "fd77:77::2"


def ref_sum(data):
    """RFC 1071, one 16-bit word at a time."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def tcp_checksum_ok(pkt):
    if pkt[0] >> 4 == 4:
        ihl = (pkt[0] & 15) * 4
        assert ref_sum(pkt[:ihl]) == 0xFFFF, "IPv4 header checksum"
        total = struct.unpack_from("!H", pkt, 2)[0]
        assert total == len(pkt)
        pseudo = pkt[12:20] + struct.pack("!BBH", 0, 6, total - ihl)
        return ref_sum(pseudo + pkt[ihl:]) == 0xFFFF
    assert struct.unpack_from("!H", pkt, 4)[0] == len(pkt) - 40
    pseudo = pkt[8:40] + struct.pack("!IxxxB", len(pkt) - 40, 6)
    return ref_sum(pseudo + pkt[40:]) == 0xFFFF


def super_packet(version, payload, flags=0x18, seq=1000, options=b"\x01\x01\x08\x0a" + b"\0" * 8):
    thl = 20 + len(options)
    tcp = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 777, (thl // 4) << 4, flags, 502, 0x1234, 0) + options
    if version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + thl + len(payload), 0x100, 0x4000, 64, 6, 0,
                         socket.inet_aton(SRC4), socket.inet_aton(DST4))
        ip = ip[:10] + struct.pack("!H", 0xFFFF - ref_sum(ip)) + ip[12:]
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, thl + len(payload), 6, 64,
                         socket.inet_pton(socket.AF_INET6, SRC6), socket.inet_pton(socket.AF_INET6, DST6))
    return ip + tcp + payload, len(ip)


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("length", [1, 1367, 1368, 1369, 5000, 65000 - 100])
def test_segments_carry_the_checksums_sequence_numbers_and_flags_gso_would_give(version, length):
    payload = os.urandom(length)
    pkt, ihl = super_packet(version, payload, flags=0x18 | 0x80)   # PSH+ACK, CWR
    mss = 1368
    hdr = offload.VNET_HDR.pack(offload.F_NEEDS_CSUM, offload.GSO_TCPV4 if version == 4 else offload.GSO_TCPV6,
                                ihl + 32, mss, ihl, 16)
    segs = offload.split_tun_read(hdr + pkt)
    assert len(segs) == (length + mss - 1) // mss
    joined = b""
    for i, seg in enumerate(segs):
        seg = bytes(seg)
        assert tcp_checksum_ok(seg), "segment %d" % i
        tcp = seg[ihl:]
        assert struct.unpack_from("!I", tcp, 4)[0] == 1000 + i * mss
        last = i == len(segs) - 1
        assert tcp[13] & 0x08 == (0x08 if last else 0), "PSH only on the last segment"
        assert tcp[13] & 0x80 == (0x80 if i == 0 else 0), "CWR only on the first segment"
        if version == 4:
            assert struct.unpack_from("!H", seg, 4)[0] == 0x100 + i
        joined += tcp[32:]
        assert len(seg) <= ihl + 32 + mss
    assert joined == payload


def test_a_single_packet_needing_a_checksum_gets_it_and_a_udp_zero_becomes_ffff():
    payload = os.urandom(301)
    pkt, ihl = super_packet(4, payload)
    # The kernel leaves the folded pseudo-header sum in the field.
    pseudo = ref_sum(pkt[12:20] + struct.pack("!BBH", 0, 6, len(pkt) - ihl))
    pkt = bytearray(pkt)
    struct.pack_into("!H", pkt, ihl + 16, pseudo)
    hdr = offload.VNET_HDR.pack(offload.F_NEEDS_CSUM, offload.GSO_NONE, 0, 0, ihl, 16)
    (out,) = offload.split_tun_read(hdr + bytes(pkt))
    assert tcp_checksum_ok(bytes(out))
    assert offload.finish(0) == 0xFFFF and offload.finish(0xFFFF) == 0xFFFF


@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 65, 511, 512, 513, 1368, 1369, 9000])
def test_the_fast_sum_equals_rfc_1071(n):
    data = os.urandom(n)
    assert offload.sum16(data) % 0xFFFF == ref_sum(data) % 0xFFFF


@pytest.mark.parametrize("version", [4, 6])
def test_coalescing_rebuilds_one_super_packet_from_in_order_segments(version):
    payload = os.urandom(10 * 1368 + 500)
    pkt, ihl = super_packet(version, payload)
    hdr = offload.VNET_HDR.pack(offload.F_NEEDS_CSUM, 1 if version == 4 else 4, ihl + 32, 1368, ihl, 16)
    segs = [bytes(s) for s in offload.split_tun_read(hdr + pkt)]
    writes = offload.coalesce(segs)
    assert len(writes) == 1
    pieces = writes[0]
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = offload.VNET_HDR.unpack(pieces[0])
    assert (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset) == (
        offload.F_NEEDS_CSUM, 1 if version == 4 else 4, ihl + 32, 1368, ihl, 16)
    whole = b"".join(bytes(p) for p in pieces[1:])
    assert whole[ihl + 32:] == payload
    assert whole[ihl + 13] == 0x18, "the run keeps the last segment's PSH"
    # CHECKSUM_PARTIAL: the field holds the pseudo-header sum, so summing it
    # with the TCP segment gives the complement of the real checksum.
    if version == 4:
        assert ref_sum(whole[:ihl]) == 0xFFFF
        pseudo = whole[12:20] + struct.pack("!BBH", 0, 6, len(whole) - ihl)
    else:
        pseudo = whole[8:40] + struct.pack("!IxxxB", len(whole) - 40, 6)
    assert struct.unpack_from("!H", whole, ihl + 16)[0] == ref_sum(pseudo)


def test_coalescing_stops_at_a_gap_another_flow_or_a_non_tcp_packet():
    payload = os.urandom(4 * 1368)
    pkt, ihl = super_packet(4, payload)
    hdr = offload.VNET_HDR.pack(offload.F_NEEDS_CSUM, 1, ihl + 32, 1368, ihl, 16)
    segs = [bytes(s) for s in offload.split_tun_read(hdr + pkt)]
    other, _ = super_packet(4, b"x" * 100, seq=5)
    other = other[:20] + struct.pack("!H", 40001) + other[22:]
    writes = offload.coalesce([segs[0], segs[2], segs[3], other, b"\x45" + b"\0" * 30])
    assert [len(w) for w in writes] == [2, 4, 2, 2]
    assert writes[0][1] == segs[0]
    assert writes[2][1] == other


def test_gso_runs_keep_one_size_per_run_with_a_shorter_last():
    datas = [b"a" * 100] * 3 + [b"b" * 50] + [b"c" * 100] * 70 + [b"d" * 200]
    runs = list(offload.gso_runs(datas))
    assert [(size, len(run)) for size, run in runs] == [(100, 4), (100, 64), (100, 6), (200, 1)]
    assert b"".join(b"".join(r) for _, r in runs) == b"".join(datas)
