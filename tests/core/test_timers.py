"""The timer rules of whitepaper section 6 (timers.py, device.py), driven by
explicit `now` values: keepalives, rehandshakes, retransmits, giving up,
rekeying by age and by message count, rejecting old keys and zeroing them."""

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.actions import (HANDSHAKE_INITIATED, HANDSHAKE_COMPLETE,
                                                   HANDSHAKE_GAVE_UP, SESSIONS_EXPIRED)
from vpnspot_router.core.wireguard.constants import (KEEPALIVE_TIMEOUT, REKEY_TIMEOUT,
                                                     REKEY_AFTER_TIME, REJECT_AFTER_TIME,
                                                     REKEY_ATTEMPT_TIME, REKEY_TIMEOUT_JITTER_MAX)

from .pair import (TunnelPair, MSG_INITIATION, MSG_RESPONSE, MSG_TRANSPORT, of_type, receiver_of,
                   counter_of, seal_raw)

JITTER = REKEY_TIMEOUT_JITTER_MAX


def _transports(side):
    return of_type(side.sent, MSG_TRANSPORT)


def _keepalives(side):
    return [d for d in _transports(side) if len(d) == 32]


def _initiations(side):
    return of_type(side.sent, MSG_INITIATION)


def test_timing_knobs_start_at_the_whitepaper_values():
    timing = TunnelPair().a.device.timing
    assert (timing.rekey_after_time, timing.reject_after_time, timing.rekey_attempt_time,
            timing.rekey_timeout, timing.keepalive_timeout) == (120.0, 180.0, 90.0, 5.0, 10.0)
    assert timing.rekey_after_messages == 1 << 60
    assert timing.reject_after_messages == (1 << 64) - (1 << 13) - 1


# ------------------------------------------------------------- keepalives

def test_a_keepalive_follows_keepalive_timeout_after_data_was_received_and_none_sent():
    pair = TunnelPair()
    pair.establish(0.0)                 # b received a's ping at 0 and sent nothing back
    pair.tick(KEEPALIVE_TIMEOUT - 0.001)
    assert pair.b.sent == []
    pair.tick(KEEPALIVE_TIMEOUT)
    assert [len(d) for d in pair.b.sent] == [32]
    pair.flush(KEEPALIVE_TIMEOUT)
    assert pair.a.delivered == [] and pair.a.drops == []
    pair.advance(100.0)                 # one keepalive answers one burst
    assert len(pair.b.sent) == 1


def test_no_keepalive_is_sent_when_data_went_back_in_time():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.send_ping(pair.b, 3.0)
    pair.tick(KEEPALIVE_TIMEOUT + 1.0)
    assert _keepalives(pair.b) == []


def test_data_received_while_a_keepalive_is_pending_asks_for_another_one():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.send_ping(pair.a, 3.0)
    pair.tick(KEEPALIVE_TIMEOUT)
    assert len(_keepalives(pair.b)) == 1
    pair.tick(2 * KEEPALIVE_TIMEOUT - 0.001)
    assert len(_keepalives(pair.b)) == 1
    pair.tick(2 * KEEPALIVE_TIMEOUT)
    assert len(_keepalives(pair.b)) == 2


def test_a_keepalive_is_not_answered_with_a_keepalive():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.advance(1000.0)
    # b answers a's ping once; a never answers b's keepalive.
    assert len(_keepalives(pair.b)) == 1
    assert _keepalives(pair.a) == []


def test_persistent_keepalive_is_sent_every_interval_of_silence():
    pair = TunnelPair(a_keepalive=25)
    pair.tick(0.0)                      # the first keepalive starts the handshake
    pair.flush(0.0)
    assert pair.a.peer.current is not None
    pair.clear()
    pair.tick(24.999)
    assert pair.a.sent == []
    for n in (1, 2, 3):
        pair.tick(25.0 * n)
        assert len(_keepalives(pair.a)) == n
        pair.flush(25.0 * n)
    assert pair.b.delivered == []


def test_traffic_restarts_the_persistent_keepalive_interval():
    pair = TunnelPair(a_keepalive=25)
    pair.tick(0.0)
    pair.flush(0.0)
    pair.clear()
    # A keepalive from b reaches a at 10: the interval restarts there.
    pair.receive(pair.a, seal_raw(pair.b, b""), pair.b.addr, 10.0)
    pair.tick(25.0)
    assert _keepalives(pair.a) == []
    pair.tick(35.0)
    assert len(_keepalives(pair.a)) == 1


def test_persistent_keepalive_of_a_peer_without_session_starts_a_handshake():
    pair = TunnelPair(b_keepalive=15)
    assert pair.b.device.next_deadline() == 0.0
    pair.tick(0.0)
    assert len(_initiations(pair.b)) == 1
    assert HANDSHAKE_INITIATED in pair.b.events


def test_persistent_keepalive_waits_for_an_endpoint():
    pair = TunnelPair(b_keepalive=15, b_knows_endpoint=False)
    assert pair.b.device.next_deadline() is None
    pair.send_ping(pair.a, 1.0)         # b learns a's endpoint from the handshake
    assert pair.b.peer.endpoint == pair.a.addr
    assert pair.b.peer.timers.persistent_keepalive == 1.0 + 15.0


# ------------------------------------------------------ new handshake on silence

def _quiet_tunnel():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.advance(20.0)                  # b's keepalive for the establishing ping
    pair.clear()
    return pair


def test_a_new_handshake_starts_after_keepalive_plus_rekey_timeout_when_sent_data_got_no_answer():
    pair = _quiet_tunnel()
    pair.b.link.drop_all = True
    pair.send_ping(pair.a, 30.0)
    due = 30.0 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT
    deadline = pair.a.device.next_deadline()
    assert due <= deadline < due + JITTER
    pair.tick(deadline - 0.001)
    assert _initiations(pair.a) == []
    pair.tick(deadline)
    assert len(_initiations(pair.a)) == 1


def test_an_answer_cancels_the_new_handshake():
    pair = _quiet_tunnel()
    pair.send_ping(pair.a, 30.0)
    pair.advance(30.0 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 1.0)
    assert len(_keepalives(pair.b)) == 1     # the answer
    assert _initiations(pair.a) == []


def test_a_keepalive_sent_does_not_arm_the_new_handshake():
    pair = TunnelPair(a_keepalive=25)
    pair.tick(0.0)
    pair.flush(0.0)
    pair.tick(25.0)
    assert len(_keepalives(pair.a)) == 2
    assert pair.a.peer.timers.new_handshake is None


# ----------------------------------------------------- retransmit and give up

def _initiation_times(pair, until):
    """Tick a at each of its deadlines up to `until`; the times it sent an
    initiation, after checking nothing went out just before each."""
    times = []
    while True:
        deadline = pair.a.device.next_deadline()
        if deadline is None or deadline > until:
            return times
        before = len(_initiations(pair.a))
        pair.tick(deadline - 0.0005)
        assert len(_initiations(pair.a)) == before
        pair.tick(deadline)
        pair.flush(deadline)
        if len(_initiations(pair.a)) > before:
            times.append(deadline)


def test_the_initiation_is_retransmitted_every_rekey_timeout_plus_jitter_while_responses_are_lost():
    pair = TunnelPair()
    pair.b.link.drop_types = (MSG_RESPONSE,)
    pair.send_ping(pair.a, 0.0)
    times = [0.0] + _initiation_times(pair, 60.0)
    assert len(times) >= 11
    for earlier, later in zip(times, times[1:]):
        assert REKEY_TIMEOUT <= later - earlier < REKEY_TIMEOUT + JITTER
    # Every retry is a fresh initiation: a new sender index each time.
    senders = [d[4:8] for d in _initiations(pair.a)]
    assert len(set(senders)) == len(senders)
    assert pair.b.delivered == []


def test_the_handshake_gives_up_after_rekey_attempt_time_and_drops_staged_packets():
    pair = TunnelPair()
    pair.b.link.drop_types = (MSG_RESPONSE,)
    pair.send_ping(pair.a, 0.0)
    pair.send_ping(pair.a, 1.0)
    times = _initiation_times(pair, 200.0)
    assert pair.a.events.count(HANDSHAKE_GAVE_UP) == 1
    last = times[-1]
    assert last < REKEY_ATTEMPT_TIME + REKEY_TIMEOUT + JITTER
    assert pair.a.peer.staged == []
    assert pair.a.peer.timers.retransmit_handshake is None
    # The give-up came one retransmit period after the last try.
    assert pair.a.peer.timers.zero_key_material is not None
    gave_up_at = pair.a.peer.timers.zero_key_material - 3 * REJECT_AFTER_TIME
    assert REKEY_ATTEMPT_TIME <= gave_up_at < REKEY_ATTEMPT_TIME + 2 * (REKEY_TIMEOUT + JITTER)
    assert REKEY_TIMEOUT <= gave_up_at - last < REKEY_TIMEOUT + JITTER
    # Nothing more is tried until a packet asks for it.
    count = len(_initiations(pair.a))
    pair.tick(gave_up_at + 60.0)
    assert len(_initiations(pair.a)) == count
    assert pair.b.delivered == []


def test_a_packet_after_giving_up_starts_a_new_handshake():
    pair = TunnelPair()
    pair.b.link.drop_all = True
    pair.send_ping(pair.a, 0.0)
    _initiation_times(pair, 200.0)
    assert HANDSHAKE_GAVE_UP in pair.a.events
    pair.b.link.heal()
    pair.clear()
    packet = pair.send_ping(pair.a, 300.0)
    assert len(_initiations(pair.a)) == 1
    assert pair.b.delivered == [packet]
    assert pair.a.events == [HANDSHAKE_INITIATED, HANDSHAKE_COMPLETE]


def test_a_completed_handshake_stops_the_retransmits():
    pair = TunnelPair()
    pair.b.link.drop_count = 2          # the first two responses are lost
    packet = pair.send_ping(pair.a, 0.0)
    pair.advance(60.0)
    assert len(_initiations(pair.a)) == 3
    assert pair.b.delivered == [packet]
    assert pair.a.peer.timers.retransmit_handshake is None


# ------------------------------------------------------------------ rekeying

def test_the_initiator_rekeys_on_send_after_rekey_after_time():
    pair = TunnelPair()
    pair.establish(0.0)
    old = pair.a.peer.current
    pair.send_ping(pair.a, REKEY_AFTER_TIME - 1.0)
    assert _initiations(pair.a) == []
    packet = pair.send_ping(pair.a, REKEY_AFTER_TIME + 0.5)
    # The packet still goes out on the old key, then the handshake starts.
    kinds = [d[0] for d in pair.a.sent]
    assert kinds[kinds.index(MSG_INITIATION) - 1] == MSG_TRANSPORT
    assert pair.b.delivered[-1] == packet
    assert pair.a.peer.current is not old and pair.a.peer.previous is old
    assert pair.a.peer.current.created == REKEY_AFTER_TIME + 0.5


def test_the_responder_does_not_rekey_by_time_on_send():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.send_ping(pair.b, REKEY_AFTER_TIME + 10.0)
    assert _initiations(pair.b) == [] and _initiations(pair.a) == []
    assert len(pair.a.delivered) == 1


def test_the_initiator_rekeys_after_rekey_after_messages():
    pair = TunnelPair()
    pair.a.device.timing.rekey_after_messages = 5
    pair.establish(0.0)                 # counter 0
    for n in range(1, 5):
        pair.send_ping(pair.a, 10.0)
        assert _initiations(pair.a) == [], n
    pair.send_ping(pair.a, 10.0)        # counter 5: the sixth message
    assert len(_initiations(pair.a)) == 1
    assert pair.a.peer.current.send_counter < 5 and pair.a.peer.previous.send_counter == 6


def test_the_responder_rekeys_after_rekey_after_messages_too():
    pair = TunnelPair()
    pair.b.device.timing.rekey_after_messages = 3
    pair.establish(0.0)
    for n in range(4):
        pair.send_ping(pair.b, 10.0)
    assert len(_initiations(pair.b)) == 1
    assert pair.b.peer.current.initiator
    assert len(pair.a.delivered) == 4


def test_a_rekey_is_not_started_twice_within_rekey_timeout():
    pair = TunnelPair()
    pair.a.device.timing.rekey_after_messages = 1
    pair.establish(0.0)
    pair.a.link.drop_types = (MSG_INITIATION,)
    for n in range(10):
        pair.send_ping(pair.a, 10.0 + n * 0.1)
    assert len(_initiations(pair.a)) == 1
    assert len(pair.b.delivered) == 10


# --------------------------------------------------------------- rejecting

def test_no_packet_is_sent_with_a_key_older_than_reject_after_time():
    pair = TunnelPair()
    pair.establish(0.0)
    old_remote = pair.a.peer.current.remote_index
    pair.a.link.hold = True
    pair.send_ping(pair.a, REJECT_AFTER_TIME)
    assert [d[0] for d in pair.a.link.held] == [MSG_INITIATION]
    assert len(pair.a.peer.staged) == 1
    pair.a.link.hold = False
    pair.release(pair.a, REJECT_AFTER_TIME)
    assert len(pair.b.delivered) == 1
    for datagram in _transports(pair.a):
        assert receiver_of(datagram) != old_remote


def test_the_responder_does_not_send_with_a_key_older_than_reject_after_time_either():
    pair = TunnelPair()
    pair.establish(0.0)
    packet = pair.send_ping(pair.b, REJECT_AFTER_TIME + 1.0)
    assert pair.b.sent[0][0] == MSG_INITIATION
    assert pair.a.delivered == [packet]


def test_a_packet_received_on_a_key_older_than_reject_after_time_is_dropped_as_session_expired():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.b.link.hold = True
    pair.send_ping(pair.b, 100.0)
    pair.send_ping(pair.b, 100.0)
    early, late = pair.b.link.held
    pair.receive(pair.a, early, pair.b.addr, REJECT_AFTER_TIME - 0.01)
    assert len(pair.a.delivered) == 1
    pair.receive(pair.a, late, pair.b.addr, REJECT_AFTER_TIME)
    assert pair.a.drops == [drops.SESSION_EXPIRED]
    assert len(pair.a.delivered) == 1


def test_no_packet_is_sent_with_a_key_that_reached_reject_after_messages():
    pair = TunnelPair()
    pair.a.device.timing.reject_after_messages = 4
    pair.establish(0.0)                 # counter 0
    old_remote = pair.a.peer.current.remote_index
    pair.a.link.hold = True
    for n in range(3):                  # counters 1..3
        pair.send_ping(pair.a, 10.0)
    assert [counter_of(d) for d in pair.a.link.held] == [1, 2, 3]
    pair.send_ping(pair.a, 10.0)
    assert pair.a.link.held[-1][0] == MSG_INITIATION
    assert len(pair.a.peer.staged) == 1
    pair.a.link.hold = False
    pair.release(pair.a, 10.0)
    assert len(pair.b.delivered) == 4
    for datagram in _transports(pair.a):
        assert receiver_of(datagram) != old_remote or counter_of(datagram) < 4


def test_a_received_counter_at_reject_after_messages_is_not_delivered():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.b.device.timing.reject_after_messages = 4
    pair.receive(pair.b, seal_raw(pair.a, pair.ping(pair.a), counter=3), pair.a.addr, 1.0)
    assert len(pair.b.delivered) == 1
    pair.receive(pair.b, seal_raw(pair.a, pair.ping(pair.a), counter=4), pair.a.addr, 1.0)
    assert len(pair.b.delivered) == 1
    assert len(pair.b.drops) == 1


def test_a_received_counter_at_reject_after_messages_is_reported_as_session_expired():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.b.device.timing.reject_after_messages = 4
    pair.receive(pair.b, seal_raw(pair.a, pair.ping(pair.a), counter=4), pair.a.addr, 1.0)
    assert pair.b.drops == [drops.SESSION_EXPIRED]


def test_keys_are_zeroed_after_three_times_reject_after_time_of_silence():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.advance(3 * REJECT_AFTER_TIME - 0.01)
    assert SESSIONS_EXPIRED not in pair.a.events + pair.b.events
    assert pair.a.peer.current is not None
    pair.advance(3 * REJECT_AFTER_TIME)
    assert pair.a.events.count(SESSIONS_EXPIRED) == 1
    assert pair.b.events.count(SESSIONS_EXPIRED) == 1
    for side in (pair.a, pair.b):
        peer = side.peer
        assert peer.current is None and peer.previous is None and peer.next is None
        assert side.device.index_table == {}
        assert side.device.next_deadline() is None
    pair.clear()
    packet = pair.send_ping(pair.a, 600.0)     # and a new packet starts over
    assert pair.b.delivered == [packet]


def test_a_new_session_postpones_zeroing_the_keys():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.send_ping(pair.a, REKEY_AFTER_TIME + 1.0)     # rekeys
    pair.advance(3 * REJECT_AFTER_TIME + 1.0)
    assert SESSIONS_EXPIRED not in pair.a.events
    assert pair.a.peer.current is not None


def test_the_initiator_rekeys_when_receiving_on_a_key_near_reject_after_time():
    pair = TunnelPair()
    pair.establish(0.0)
    limit = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
    pair.send_ping(pair.b, limit - 0.5)
    assert _initiations(pair.a) == []
    pair.send_ping(pair.b, limit + 0.5)
    assert len(_initiations(pair.a)) == 1
    assert pair.a.peer.current.created == limit + 0.5
    assert len(pair.a.delivered) == 2


def test_the_last_minute_handshake_is_sent_only_once_per_session():
    pair = TunnelPair()
    pair.establish(0.0)
    limit = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
    pair.a.link.drop_types = (MSG_INITIATION,)
    pair.send_ping(pair.b, limit + 0.5)
    pair.send_ping(pair.b, limit + 0.5 + 2 * REKEY_TIMEOUT)
    assert len(_initiations(pair.a)) == 1


def test_the_responder_does_not_rekey_when_receiving_on_an_old_key():
    pair = TunnelPair()
    pair.establish(0.0)
    pair.send_ping(pair.a, REJECT_AFTER_TIME - 2.0)
    # a rekeys (it sends on an old key); b only answers.
    assert _initiations(pair.b) == []


def test_next_deadline_is_the_earliest_pending_timer():
    pair = TunnelPair()
    assert pair.a.device.next_deadline() is None
    pair.establish(0.0)
    assert pair.b.device.next_deadline() == KEEPALIVE_TIMEOUT
    assert KEEPALIVE_TIMEOUT + REKEY_TIMEOUT <= pair.a.device.next_deadline()
    assert pair.a.device.next_deadline() < KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + JITTER
