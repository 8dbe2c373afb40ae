"""Cryptokey routing (allowedips.py, device.py): the destination picks the
peer by longest prefix; a received packet's source must map back to the peer
it came from; a prefix belongs to one peer at a time."""

from vpnspot_router.core.ipaddr import V4, V6, parse_ipv4, parse_ipv6
from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.allowedips import AllowedIPs
from vpnspot_router.core.wireguard.device import Device

from .pair import (TunnelPair, get_provider, private_key, raises, icmp_echo, udp, seal_raw,
                   A_V4, A_V6, B_V4, B_V6)


def _v4(table, text):
    return table.lookup(V4, parse_ipv4(text))


def _v6(table, text):
    return table.lookup(V6, parse_ipv6(text))


def test_the_longest_prefix_wins_across_several_peers_for_ipv4():
    table = AllowedIPs()
    table.insert("0.0.0.0/0", "default")
    table.insert("10.0.0.0/8", "wide")
    table.insert("10.1.0.0/16", "narrow")
    table.insert("10.1.2.3/32", "host")
    assert _v4(table, "10.1.2.3") == "host"
    assert _v4(table, "10.1.2.4") == "narrow"
    assert _v4(table, "10.200.0.1") == "wide"
    assert _v4(table, "11.0.0.1") == "default"
    assert _v4(table, "0.0.0.0") == "default" and _v4(table, "255.255.255.255") == "default"


def test_the_longest_prefix_wins_across_several_peers_for_ipv6():
    table = AllowedIPs()
    table.insert("::/0", "default")
    table.insert("fd77::/16", "wide")
    table.insert("fd77:1::/32", "narrow")
    table.insert("fd77:1::1/128", "host")
    assert _v6(table, "fd77:1::1") == "host"
    assert _v6(table, "fd77:1::2") == "narrow"
    assert _v6(table, "fd77:2::1") == "wide"
    assert _v6(table, "2001:db8::1") == "default"


def test_the_families_do_not_mix():
    table = AllowedIPs()
    table.insert("0.0.0.0/0", "v4 only")
    assert _v6(table, "::") is None and _v6(table, "::ffff:10.0.0.1") is None
    table.insert("::/0", "v6 only")
    assert _v4(table, "10.0.0.1") == "v4 only"


def test_no_match_is_none():
    table = AllowedIPs()
    table.insert("10.0.0.0/8", "p")
    assert _v4(table, "11.0.0.0") is None and _v4(table, "9.255.255.255") is None
    assert _v4(table, "10.0.0.0") == "p" and _v4(table, "10.255.255.255") == "p"


def test_host_bits_of_a_prefix_are_ignored():
    table = AllowedIPs()
    table.insert("10.1.2.3/8", "p")
    assert _v4(table, "10.9.9.9") == "p"
    assert table.prefixes_of("p") == ["10.0.0.0/8"]


def test_inserting_a_prefix_for_another_peer_moves_it():
    table = AllowedIPs()
    table.insert("10.0.0.0/24", "old")
    table.insert("10.0.0.0/24", "new")
    assert _v4(table, "10.0.0.5") == "new"
    assert table.prefixes_of("old") == []
    assert table.prefixes_of("new") == ["10.0.0.0/24"]


def test_removing_a_peer_removes_only_its_prefixes():
    table = AllowedIPs()
    table.insert("10.0.0.0/8", "p")
    table.insert("10.1.0.0/16", "q")
    table.insert("fd00::/8", "q")
    table.remove_peer("q")
    assert _v4(table, "10.1.0.1") == "p"
    assert _v6(table, "fd00::1") is None
    assert table.prefixes_of("q") == []


def test_prefixes_of_lists_both_families():
    table = AllowedIPs()
    for prefix in ("10.77.0.1/32", "fd77::1/128", "192.168.77.0/24"):
        table.insert(prefix, "p")
    assert table.prefixes_of("p") == ["10.77.0.1/32", "192.168.77.0/24", "fd77::1/128"]


def test_a_prefix_may_be_given_as_an_address_and_length_pair():
    table = AllowedIPs()
    table.insert(("10.77.0.0", 24), "p")
    table.insert(("::", 0), "p")
    assert table.prefixes_of("p") == ["10.77.0.0/24", "::/0"]
    assert _v6(table, "fd77::1") == "p"


def test_a_bad_prefix_raises_value_error():
    table = AllowedIPs()
    for text in ("10.0.0.0/33", "fd00::/129", "10.0.0/8", "banana", "10.0.0.0/x", ""):
        raises(ValueError, table.insert, text, "p")


def _three_peer_device():
    provider = get_provider()
    dev = Device(provider, private_key(1))
    peers = {}
    for n, prefixes in ((2, ["10.0.0.0/8"]), (3, ["10.1.0.0/16", "fd77::/16"]),
                        (4, ["10.1.2.3/32", "fd77:1::/32"])):
        public = Device(provider, private_key(n)).public_key
        peers[n] = dev.add_peer(public, endpoint=("203.0.113.%d" % n, 51820), allowed_ips=prefixes)
    return dev, peers


def test_send_picks_the_peer_by_longest_prefix():
    dev, peers = _three_peer_device()
    now = 0.0
    for dst, n in (("10.1.2.3", 4), ("10.1.9.9", 3), ("10.200.0.1", 2), ("fd77:1::5", 4),
                   ("fd77:2::5", 3)):
        src = "fd77::9" if ":" in dst else "10.9.9.9"
        out = dev.send_packet(icmp_echo(src, dst), now)
        sends = [a for a in out if a.kind == 1]
        assert len(sends) == 1 and sends[0].peer is peers[n], dst
        assert sends[0].addr == ("203.0.113.%d" % n, 51820)
        now += 10.0


def test_a_destination_no_peer_owns_is_dropped_with_no_route():
    dev, peers = _three_peer_device()
    for dst in ("11.0.0.1", "192.168.77.1", "2001:db8::1"):
        src = "fd77::9" if ":" in dst else "10.9.9.9"
        out = dev.send_packet(udp(src, dst), 0.0)
        assert [(a.kind, a.reason) for a in out] == [(3, drops.NO_ROUTE)]
    assert dev.drops[drops.NO_ROUTE] == 3


def test_a_received_packet_from_a_source_outside_the_peers_allowed_ips_is_dropped():
    pair = TunnelPair()
    pair.establish(0.0)
    for src, dst in (("10.77.0.9", B_V4), ("fd77::9", B_V6), ("192.168.77.10", B_V4)):
        pair.receive(pair.b, seal_raw(pair.a, icmp_echo(src, dst)), pair.a.addr, 1.0)
    assert pair.b.drops == [drops.DISALLOWED_SOURCE] * 3
    assert pair.b.delivered == []
    good = icmp_echo(A_V6, B_V6)
    pair.receive(pair.b, seal_raw(pair.a, good), pair.a.addr, 1.0)
    assert pair.b.delivered == [good]


def test_a_source_owned_by_another_peer_is_dropped_too():
    pair = TunnelPair()
    other = Device(get_provider(), private_key(5)).public_key
    pair.b.device.add_peer(other, allowed_ips=["10.77.0.5/32"])
    pair.establish(0.0)
    pair.receive(pair.b, seal_raw(pair.a, icmp_echo("10.77.0.5", B_V4)), pair.a.addr, 1.0)
    assert pair.b.drops == [drops.DISALLOWED_SOURCE]


def test_moving_a_prefix_between_peers_moves_the_traffic():
    pair = TunnelPair()
    other_key = Device(get_provider(), private_key(5)).public_key
    other = pair.b.device.add_peer(other_key, endpoint=("203.0.113.5", 51820),
                                   allowed_ips=["10.77.0.0/24"])
    pair.establish(0.0)
    roaming_src = "10.77.0.50"
    pair.receive(pair.b, seal_raw(pair.a, icmp_echo(roaming_src, B_V4)), pair.a.addr, 1.0)
    assert pair.b.drops == [drops.DISALLOWED_SOURCE]
    pair.b.device.allowed_ips.insert("10.77.0.0/24", pair.b.peer)
    assert other.allowed_ips == []
    assert pair.b.peer.allowed_ips == ["10.77.0.0/24", "10.77.0.1/32", "fd77::1/128"]
    packet = icmp_echo(roaming_src, B_V4)
    pair.receive(pair.b, seal_raw(pair.a, packet), pair.a.addr, 2.0)
    assert pair.b.delivered == [packet]
    reply = icmp_echo(B_V4, roaming_src)
    pair.send(pair.b, reply, 3.0)
    pair.flush(3.0)
    assert pair.a.delivered == [reply]


def test_peer_allowed_ips_reads_back_what_was_configured():
    pair = TunnelPair()
    assert pair.a.peer.allowed_ips == ["0.0.0.0/0", "::/0"]
    assert pair.b.peer.allowed_ips == [A_V4 + "/32", A_V6 + "/128"]
