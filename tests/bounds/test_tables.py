"""Every in-memory table the agent keeps has a bound, proved by flooding it.

Unit level (no namespaces): the core's staged packet queue, its index table
and per-peer state under an initiation flood, the replay window, the data
plane's drop and event counters, the agent's event list and the web UI's
session table. Where the table is reached by outside input the flood is
far larger than the bound and the memory the structure holds is measured
with tracemalloc. Reports waiting for the provider and the debug session's
log have their bounds proved in tests/core/test_telemetry.py and
tests/core/test_debugsession.py.
"""

import os
import tracemalloc

from vpnspot_router import agent as agent_mod
from vpnspot_router.core.wireguard import actions as A
from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.constants import REPLAY_WINDOW_SIZE, STAGED_PACKETS_MAX
from vpnspot_router.net.firewall import FakeFirewall
from vpnspot_router.net.routing import FakeRouting
from vpnspot_router.tunnel.dataplane import Counters, DataPlane
from vpnspot_router.web import security

from core.pair import TunnelPair, with_mac1, seal_raw

FLOOD = 10000


def test_packets_waiting_for_a_handshake_stay_at_the_staged_bound_and_the_oldest_go():
    pair = TunnelPair()
    pair.b.link.drop_all = True         # the handshake never completes
    packets = [pair.ping(pair.a, payload=b"%06d" % i) for i in range(FLOOD)]
    for i, p in enumerate(packets):
        pair.send(pair.a, p, 1.0 + i * 1e-4)
    assert pair.a.peer.staged == packets[-STAGED_PACKETS_MAX:]
    assert pair.a.drops.count(drops.QUEUE_FULL) == FLOOD - STAGED_PACKETS_MAX


def test_an_initiation_flood_from_unknown_keys_and_addresses_leaves_no_state_behind():
    pair = TunnelPair()
    pair.establish(1.0)
    dev = pair.b.device
    target = dev.public_key
    tables = (len(dev.index_table), len(dev.peers))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(FLOOD):
        raw = with_mac1(pair.provider, b"\x01\x00\x00\x00" + os.urandom(144 - 32) + bytes(32), target)
        addr = ("198.51.%d.%d" % (100 + (i >> 8) % 2, i & 255), 1024 + i)
        dev.receive_datagram(raw, addr, 2.0 + i * 1e-4)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print("\n[core initiation flood] %d datagrams from %d sources: index table %s -> %d, "
          "drops %s, memory grown %d bytes"
          % (FLOOD, FLOOD, tables[0], len(dev.index_table),
             dict((drops.name(k), v) for k, v in dev.drops.items()), grown))
    assert (len(dev.index_table), len(dev.peers)) == tables
    assert set(dev.drops) <= {drops.BAD_MAC2, drops.HANDSHAKE_DECRYPT, drops.UNKNOWN_PEER}
    assert grown < 64 * 1024
    # Still serving the real peer.
    assert pair.send_ping(pair.a, 5.0) in pair.b.delivered


def test_the_index_table_holds_a_few_entries_per_peer_however_many_handshakes():
    pair = TunnelPair()
    sizes = set()
    for i in range(500):
        now = 1.0 + i * 200.0           # past REJECT_AFTER_TIME: a new session each time
        pair.tick(now)
        pair.flush(now)
        p = pair.send_ping(pair.a, now + 0.1)
        assert p in pair.b.delivered
        sizes.add((len(pair.a.device.index_table), len(pair.b.device.index_table)))
    assert max(max(s) for s in sizes) <= 4, sizes


def test_the_replay_window_is_fixed_size_whatever_counters_arrive():
    pair = TunnelPair()
    pair.establish(1.0)
    window = pair.b.peer.current.replay
    for counter in [10 ** 6, 5, 10 ** 6 - 1, 2 ** 40, 7, 2 ** 40 + REPLAY_WINDOW_SIZE * 3]:
        pair.deliver(pair.a, seal_raw(pair.a, pair.ping(pair.a), counter=counter), 2.0)
        assert window.bits.bit_length() <= REPLAY_WINDOW_SIZE


def test_the_data_planes_counters_are_keyed_by_the_fixed_reason_and_event_lists():
    # dispatch() alone: a plane without IO (its constructor opens sockets).
    plane = DataPlane.__new__(DataPlane)
    plane.counters = Counters()

    reasons = list(range(1, 21)) * 500
    plane.dispatch([type("D", (), {"kind": A.DROP, "reason": r})() for r in reasons])
    assert len(plane.counters.drops) <= 20 and sum(plane.counters.drops.values()) == len(reasons)


def test_the_agents_event_list_keeps_only_the_latest_events(tmp_path):
    agent = agent_mod.Agent(None, None, run_dir=str(tmp_path), firewall=FakeFirewall(),
                            routing=FakeRouting())
    for i in range(FLOOD // 10):
        agent.event("event %d" % i)
    assert len(agent.events) == agent_mod.EVENT_LIMIT
    assert agent.events[-1]["event"] == "event %d" % (FLOOD // 10 - 1)


def test_the_web_sessions_table_stays_at_its_bound_under_a_flood_of_visits():
    sessions = security.Sessions()
    for _ in range(FLOOD):
        sessions.new()
    assert len(sessions.by_id) == security.MAX_SESSIONS
