"""The replay window (replay.py) on its own and behind Device: each counter
once, reordering inside the window, nothing at or beyond its size."""

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.constants import REPLAY_WINDOW_SIZE, REJECT_AFTER_MESSAGES
from vpnspot_router.core.wireguard.replay import ReplayWindow

from .pair import TunnelPair, seal_raw

SIZE = REPLAY_WINDOW_SIZE


def _accept(window, counter):
    """check, and mark when accepted (what Device does after authentication)."""
    if window.check(counter):
        window.mark(counter)
        return True
    return False


def test_the_first_counter_is_accepted_whatever_it_is():
    for first in (0, 1, 5000, SIZE * 3):
        assert _accept(ReplayWindow(), first)


def test_a_duplicate_counter_is_refused():
    window = ReplayWindow()
    assert _accept(window, 0) and _accept(window, 1)
    assert not _accept(window, 0) and not _accept(window, 1)


def test_check_alone_does_not_consume_a_counter():
    window = ReplayWindow()
    assert window.check(7) and window.check(7)
    window.mark(7)
    assert not window.check(7)


def test_reordered_counters_within_the_window_are_each_accepted_once():
    window = ReplayWindow()
    order = [5, 3, 9, 0, 1, 8, 2, 7, 4, 6]
    assert [_accept(window, c) for c in order] == [True] * 10
    assert [_accept(window, c) for c in order] == [False] * 10


def test_the_window_edges_are_size_minus_one_accepted_and_size_refused():
    newest = SIZE + 100
    window = ReplayWindow()
    assert _accept(window, newest)
    assert _accept(window, newest - (SIZE - 1))
    assert not _accept(window, newest - (SIZE - 1))
    assert not _accept(window, newest - SIZE)
    assert not _accept(window, newest - SIZE - 1)
    assert not _accept(window, 0)


def test_a_counter_older_than_the_window_is_refused():
    window = ReplayWindow()
    assert _accept(window, 10)
    assert _accept(window, 10 + SIZE + 5)
    assert not _accept(window, 11)          # never seen, but too old now


def test_a_jump_larger_than_the_window_forgets_the_old_bits():
    window = ReplayWindow()
    for c in range(50):
        assert _accept(window, c)
    jump = 49 + SIZE * 2
    assert _accept(window, jump)
    assert window.bits == 1
    # Everything just behind the new newest is fresh.
    assert _accept(window, jump - 1) and _accept(window, jump - (SIZE - 1))
    assert not _accept(window, jump)


def test_sliding_forward_by_less_than_the_window_keeps_the_seen_bits():
    window = ReplayWindow()
    assert _accept(window, 100) and _accept(window, 98)
    assert _accept(window, 100 + SIZE - 3)
    assert not _accept(window, 100) and not _accept(window, 98)
    assert _accept(window, 99)
    assert not _accept(window, 97)          # slid out of the window


def test_a_small_window_behaves_the_same():
    window = ReplayWindow(size=4)
    assert [_accept(window, c) for c in (3, 0, 1, 3, 4, 0, 2)] == \
        [True, True, True, False, True, False, True]


def test_counters_at_reject_after_messages_are_refused():
    window = ReplayWindow()
    assert not window.check(REJECT_AFTER_MESSAGES)
    assert _accept(window, REJECT_AFTER_MESSAGES - 1)


# ------------------------------------------------------------- through Device

def _sent(pair, counter, now=1.0):
    out = pair.receive(pair.b, seal_raw(pair.a, pair.ping(pair.a), counter=counter),
                       pair.a.addr, now)
    return [a.reason for a in out if a.kind == 3]


def test_device_drops_a_replayed_transport_packet():
    pair = TunnelPair()
    pair.establish(0.0)
    datagram = seal_raw(pair.a, pair.ping(pair.a))
    pair.receive(pair.b, datagram, pair.a.addr, 1.0)
    pair.receive(pair.b, datagram, pair.a.addr, 2.0)
    assert len(pair.b.delivered) == 1 and pair.b.drops == [drops.REPLAYED]


def test_device_window_edges_and_jumps():
    pair = TunnelPair()
    pair.establish(0.0)                     # counter 0 seen
    newest = 3 * SIZE
    assert _sent(pair, newest) == []
    assert _sent(pair, newest - (SIZE - 1)) == []
    assert _sent(pair, newest - SIZE) == [drops.REPLAYED]
    assert _sent(pair, newest - 7) == []
    assert _sent(pair, newest - 7) == [drops.REPLAYED]
    assert _sent(pair, 1) == [drops.REPLAYED]
    assert _sent(pair, newest + 2 * SIZE) == []
    assert _sent(pair, newest + 1) == [drops.REPLAYED]
    assert len(pair.b.delivered) == 4
