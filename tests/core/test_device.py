"""Device-level rules that span modules: removing a peer, roaming (the
endpoint follows authenticated packets only) and the drop counters."""

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.actions import ENDPOINT_CHANGED, HANDSHAKE_COMPLETE

from .pair import (TunnelPair, MSG_INITIATION, MSG_TRANSPORT, of_type, seal_raw, with_mac1,
                   ROAMED_ADDR, A_ADDR)

FORGER_ADDR = ("203.0.113.66", 6666)


def _indices_of(side):
    return [i for i, entry in side.device.index_table.items() if entry[0] is side.peer]


def test_remove_peer_forgets_its_session_indices():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.send_ping(pair.a, 121.0)           # a rekey: a holds previous and current
    assert len(_indices_of(pair.a)) == 2
    pair.a.device.remove_peer(pair.b.device.public_key)
    assert pair.a.device.index_table == {}
    assert pair.a.device.peers == {}
    pair.clear()
    pair.send_ping(pair.b, 122.0)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]
    assert pair.a.delivered == []


def test_remove_peer_forgets_a_pending_handshake():
    pair = TunnelPair()
    pair.b.link.hold = True
    pair.send_ping(pair.a, 0.0)
    assert len(_indices_of(pair.a)) == 1
    pair.a.device.remove_peer(pair.b.device.public_key)
    assert pair.a.device.index_table == {}
    pair.b.link.hold = False
    pair.release(pair.b, 0.1)
    assert pair.a.drops == [drops.UNKNOWN_INDEX]


def test_a_removed_peer_is_unknown_and_unrouted_and_its_timers_stop():
    pair = TunnelPair(a_keepalive=25)
    pair.establish(0.0)
    pair.a.device.remove_peer(pair.b.device.public_key)
    assert pair.a.device.next_deadline() is None
    assert pair.a.device.tick(1000.0) == []
    out = pair.send(pair.a, pair.ping(pair.a), 1.0)
    assert [a.reason for a in out] == [drops.NO_ROUTE]
    pair.b.device.remove_peer(pair.a.device.public_key)
    pair.b.device.add_peer(pair.a.device.public_key, endpoint=A_ADDR, allowed_ips=["0.0.0.0/0"])
    pair.b.peer = pair.b.device.peers[pair.a.device.public_key]
    pair.clear()
    pair.send_ping(pair.b, 10.0)
    assert pair.a.drops == [drops.UNKNOWN_PEER]


def test_removing_an_unknown_peer_does_nothing():
    pair = TunnelPair()
    pair.a.device.remove_peer(b"\x09" * 32)
    assert len(pair.a.device.peers) == 1


def test_a_peer_added_again_handshakes_afresh():
    pair = TunnelPair()
    pair.establish(0.0)
    key = pair.b.device.public_key
    pair.a.device.remove_peer(key)
    pair.a.peer = pair.a.device.add_peer(key, endpoint=pair.b.addr, allowed_ips=["0.0.0.0/0"])
    packet = pair.send_ping(pair.a, 10.0)
    assert pair.b.delivered == [packet]


# ------------------------------------------------------------------ roaming

def test_the_endpoint_follows_the_latest_authenticated_packet():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.aliases[ROAMED_ADDR] = pair.a
    pair.a.link.source = ROAMED_ADDR        # a's NAT mapping changed
    packet = pair.send_ping(pair.a, 1.0)
    assert pair.b.delivered == [packet]
    assert pair.b.peer.endpoint == ROAMED_ADDR
    assert pair.b.events == [ENDPOINT_CHANGED]
    reply = pair.send_ping(pair.b, 2.0)     # replies go to the new address
    assert pair.a.delivered == [reply]
    pair.a.link.source = None
    pair.send_ping(pair.a, 3.0)
    assert pair.b.peer.endpoint == pair.a.addr
    assert pair.b.events == [ENDPOINT_CHANGED, ENDPOINT_CHANGED]


def test_a_keepalive_from_a_new_address_moves_the_endpoint_too():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.receive(pair.b, seal_raw(pair.a, b""), ROAMED_ADDR, 1.0)
    assert pair.b.peer.endpoint == ROAMED_ADDR


def test_a_handshake_from_a_new_address_moves_the_endpoint():
    pair = TunnelPair()
    pair.aliases[ROAMED_ADDR] = pair.a
    pair.a.link.source = ROAMED_ADDR
    packet = pair.send_ping(pair.a, 0.0)
    assert pair.b.peer.endpoint == ROAMED_ADDR
    assert pair.b.delivered == [packet]


def test_the_endpoint_does_not_follow_a_forged_transport_packet():
    pair = TunnelPair()
    pair.establish(0.0)
    forged = bytearray(seal_raw(pair.a, pair.ping(pair.a)))
    forged[20] ^= 1
    pair.receive(pair.b, bytes(forged), FORGER_ADDR, 1.0)
    assert pair.b.drops == [drops.DECRYPT_FAILED]
    assert pair.b.peer.endpoint == pair.a.addr
    assert ENDPOINT_CHANGED not in pair.b.events


def test_the_endpoint_does_not_follow_a_replayed_transport_packet():
    pair = TunnelPair()
    pair.establish(0.0)
    genuine = seal_raw(pair.a, pair.ping(pair.a))
    pair.receive(pair.b, genuine, pair.a.addr, 1.0)
    pair.receive(pair.b, genuine, FORGER_ADDR, 2.0)
    assert pair.b.drops == [drops.REPLAYED]
    assert pair.b.peer.endpoint == pair.a.addr


def test_the_endpoint_does_not_follow_an_unauthenticated_handshake():
    pair = TunnelPair()
    pair.a.link.hold = True
    pair.send_ping(pair.a, 0.0)
    initiation = pair.a.link.held[0]
    pair.a.link.hold = False
    pair.a.link.held = []
    pair.deliver(pair.a, initiation, 0.0)
    pair.flush(0.0)
    # A replayed initiation, one with a bad MAC1 and one that fails to decrypt.
    pair.clear()
    bad_mac = bytearray(initiation)
    bad_mac[120] ^= 1
    broken = bytearray(initiation)
    broken[60] ^= 1
    for data in (initiation, bytes(bad_mac), with_mac1(pair.provider, bytes(broken),
                                                        pair.b.device.public_key)):
        pair.receive(pair.b, data, FORGER_ADDR, 5.0)
    assert pair.b.drops == [drops.REPLAYED_HANDSHAKE, drops.BAD_MAC1, drops.HANDSHAKE_DECRYPT]
    assert pair.b.peer.endpoint == pair.a.addr
    assert pair.b.sent == []


def test_a_forged_packet_to_a_roamed_peer_does_not_pull_it_back():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.receive(pair.b, seal_raw(pair.a, b""), ROAMED_ADDR, 1.0)
    forged = bytearray(seal_raw(pair.a, b""))
    forged[-1] ^= 1
    pair.receive(pair.b, bytes(forged), pair.a.addr, 2.0)
    assert pair.b.peer.endpoint == ROAMED_ADDR


# ------------------------------------------------------------------ counters

def test_drop_counters_mirror_the_drop_actions():
    pair = TunnelPair()
    pair.establish(0.0)
    for data in (b"", b"\x09\x00\x00\x00", seal_raw(pair.a, b"\x50" + bytes(39))):
        pair.receive(pair.b, data, pair.a.addr, 1.0)
    counted = {}
    for reason in pair.b.drops:
        counted[reason] = counted.get(reason, 0) + 1
    assert counted == pair.b.device.drops
    assert counted == {drops.TOO_SHORT: 1, drops.UNKNOWN_TYPE: 1, drops.NOT_IP: 1}


def test_last_handshake_records_each_new_session():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.send_ping(pair.a, 130.0)
    assert pair.a.peer.last_handshake == 130.0
    assert pair.a.peer.handshakes_completed == 2
    assert pair.b.peer.handshakes_completed == 2
    assert HANDSHAKE_COMPLETE in pair.a.events
    assert of_type(pair.a.sent, MSG_INITIATION) and of_type(pair.a.sent, MSG_TRANSPORT)
