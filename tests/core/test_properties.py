"""Property tests for the core (CPython only: pytest + hypothesis).

Random input against simple models: the replay window against a set of
seen counters, allowed IPs against a brute-force longest-prefix scan, and
every parser and Device.receive_datagram against arbitrary bytes, which
must never raise (peer input becomes a Drop, STYLE.md rule 6).
"""

CPYTHON_ONLY = "uses pytest and hypothesis"

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpnspot_router.core import ipaddr
from vpnspot_router.core.ipaddr import V4, V6, prefix_mask
from vpnspot_router.core.wireguard import actions, drops, messages
from vpnspot_router.core.wireguard.allowedips import AllowedIPs
from vpnspot_router.core.wireguard.constants import (INITIATION_SIZE, RESPONSE_SIZE,
                                                     COOKIE_REPLY_SIZE)
from vpnspot_router.core.wireguard.replay import ReplayWindow

from .pair import TunnelPair, with_mac1

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------ replay window

@SETTINGS
@given(size=st.sampled_from([1, 2, 3, 8, 64, 65, 200]),
       counters=st.lists(st.integers(min_value=0, max_value=600), max_size=300))
def test_the_replay_window_matches_a_set_model(size, counters):
    window = ReplayWindow(size=size)
    seen = set()
    newest = -1
    for counter in counters:
        expected = counter not in seen and (counter > newest or newest - counter < size)
        got = window.check(counter)
        assert got == expected, (counter, newest)
        if got:
            window.mark(counter)
            seen.add(counter)
            newest = max(newest, counter)


@SETTINGS
@given(steps=st.lists(st.integers(min_value=-9000, max_value=9000), max_size=200))
def test_the_full_size_replay_window_matches_a_set_model_on_walks(steps):
    window = ReplayWindow()
    seen = set()
    newest = -1
    counter = 20000
    for step in steps:
        counter = max(0, counter + step)
        expected = counter not in seen and (counter > newest or newest - counter < window.size)
        assert window.check(counter) == expected
        if expected:
            window.mark(counter)
            seen.add(counter)
            newest = max(newest, counter)


# -------------------------------------------------------------- allowed IPs

PEERS = ["p0", "p1", "p2", "p3"]


def _v4_prefix():
    return st.tuples(st.just(V4), st.integers(0, (1 << 32) - 1), st.integers(0, 32))


def _v6_prefix():
    # Addresses drawn near each other so prefixes overlap often.
    return st.tuples(st.just(V6), st.integers(0, 255).map(lambda x: (0xfd77 << 112) | (x << 100)),
                     st.sampled_from([0, 8, 16, 20, 24, 64, 100, 104, 127, 128]))


@SETTINGS
@given(inserts=st.lists(st.tuples(st.one_of(_v4_prefix(), _v6_prefix()), st.sampled_from(PEERS)),
                        max_size=25),
       removed=st.sets(st.sampled_from(PEERS), max_size=2),
       probes=st.lists(st.one_of(st.tuples(st.just(V4), st.integers(0, (1 << 32) - 1)),
                                 st.tuples(st.just(V6), st.integers(0, (1 << 128) - 1))),
                       max_size=20))
def test_allowed_ips_match_a_brute_force_longest_prefix_scan(inserts, removed, probes):
    table = AllowedIPs()
    model = {}                              # (family, masked, length) -> peer
    for (family, value, length), peer in inserts:
        text = ipaddr.format_prefix(family, value, length)
        table.insert(text, peer)
        masked = value & prefix_mask(family, length)
        model[(family, masked, length)] = peer
    for peer in removed:
        table.remove_peer(peer)
        model = dict((k, v) for k, v in model.items() if v != peer)
    # Probe the prefixes' own addresses too, and their last addresses.
    for (family, masked, length) in list(model):
        bits = 32 if family == V4 else 128
        probes = probes + [(family, masked), (family, masked | ((1 << (bits - length)) - 1))]
    for family, address in probes:
        best, best_len = None, -1
        for (f, masked, length), peer in model.items():
            if f == family and address & prefix_mask(f, length) == masked and length > best_len:
                best, best_len = peer, length
        assert table.lookup(family, address) == best
    for peer in PEERS:
        expected = sorted(ipaddr.format_prefix(f, v, n) for (f, v, n), p in model.items()
                          if p == peer)
        assert table.prefixes_of(peer) == expected


# ----------------------------------------------------- parsers never raise

@SETTINGS
@given(data=st.binary(max_size=300))
def test_the_message_parser_never_raises(data):
    msg = messages.parse(data)
    assert isinstance(msg, int) or msg.type in (1, 2, 3, 4)
    if isinstance(msg, int):
        assert msg in drops.all_reasons()


@SETTINGS
@given(text=st.text(max_size=45))
def test_address_parsers_raise_only_value_error(text):
    for parse in (ipaddr.parse_address, ipaddr.parse_prefix, ipaddr.parse_ipv4, ipaddr.parse_ipv6):
        try:
            parse(text)
        except ValueError:
            pass


def _check_actions(out):
    for action in out:
        assert action.kind in (actions.SEND, actions.DELIVER, actions.DROP, actions.EVENT)
        if action.kind == actions.DROP:
            assert action.reason in drops.all_reasons()


_FRESH = TunnelPair()
_LIVE = TunnelPair()
_LIVE.establish(0.0)


@SETTINGS
@given(data=st.binary(max_size=2000), under_load=st.booleans())
def test_receive_datagram_never_raises_on_arbitrary_bytes(data, under_load):
    for pair in (_FRESH, _LIVE):
        pair.b.device.force_under_load = under_load
        _check_actions(pair.b.device.receive_datagram(data, ("198.51.100.7", 1), 1.0))
        _check_actions(pair.a.device.receive_datagram(data, None, 1.0))
    pair.b.device.force_under_load = False


@SETTINGS
@given(kind=st.sampled_from([1, 2, 3, 4]), body=st.binary(max_size=400),
       fix_mac1=st.booleans(), under_load=st.booleans(), now=st.floats(0.0, 1000.0))
def test_receive_datagram_never_raises_on_bytes_with_a_valid_header_and_index(
        kind, body, fix_mac1, under_load, now):
    pair = _LIVE
    device = pair.b.device
    device.force_under_load = under_load
    index = pair.b.peer.current.local_index
    if kind == 1:
        data = struct.pack("<II", 1, index) + (body + bytes(INITIATION_SIZE))[:INITIATION_SIZE - 8]
    elif kind == 2:
        data = struct.pack("<III", 2, index, index) + (body + bytes(RESPONSE_SIZE))[:RESPONSE_SIZE - 12]
    elif kind == 3:
        data = struct.pack("<II", 3, index) + (body + bytes(COOKIE_REPLY_SIZE))[:COOKIE_REPLY_SIZE - 8]
    else:
        data = struct.pack("<IIQ", 4, index, len(body)) + body
    if fix_mac1 and kind in (1, 2):
        data = with_mac1(pair.provider, data, device.public_key)
    out = device.receive_datagram(data, pair.a.addr, now)
    _check_actions(out)
    assert not [a for a in out if a.kind == actions.DELIVER]
    device.force_under_load = False
    # The session survives whatever arrived.
    assert pair.b.peer.current is not None


_PENDING = TunnelPair()
_PENDING.a.link.hold = True
_PENDING.send_ping(_PENDING.a, 0.0)
_PENDING.a.device.under_load_threshold = 1 << 30   # examples arrive faster than any real load


@SETTINGS
@given(kind=st.sampled_from([2, 3]), body=st.binary(min_size=80, max_size=80),
       now=st.floats(0.0, 100.0))
def test_answers_to_a_pending_handshake_with_arbitrary_bodies_never_raise(kind, body, now):
    pair = _PENDING
    device = pair.a.device
    index = pair.a.peer.handshake.local_index
    if kind == 2:
        data = struct.pack("<III", 2, 7, index) + body[:RESPONSE_SIZE - 12]
        data = with_mac1(pair.provider, data, device.public_key)
        expected = drops.HANDSHAKE_DECRYPT
    else:
        data = struct.pack("<II", 3, index) + body[:COOKIE_REPLY_SIZE - 8]
        expected = drops.BAD_COOKIE
    out = device.receive_datagram(data, pair.b.addr, now)
    _check_actions(out)
    assert [a.reason for a in out if a.kind == actions.DROP] == [expected]
    assert pair.a.peer.current is None and pair.a.peer.handshake.local_index == index
