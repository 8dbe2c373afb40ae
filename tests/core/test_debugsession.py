"""Debug session policy (core/debugsession.py): nothing is kept unless a
session is open; it ends by close, expiry or reboot and takes its data
with it; only its opener sees or exports it."""

from vpnspot_router.core import debugsession
from vpnspot_router.core.debugsession import DebugSession, DebugSessionError, PURGE, OPEN, CLOSED

T0 = 1700000000


class CountingRandom:
    def __init__(self):
        self.calls = 0

    def __call__(self, n):
        self.calls += 1
        return bytes([(self.calls * 7 + i) & 0xFF for i in range(n)])


def _refused(fn, *args):
    try:
        fn(*args)
    except DebugSessionError as e:
        return str(e)
    raise AssertionError("no DebugSessionError from %r" % (args,))


def test_nothing_is_kept_while_no_session_is_open():
    d = DebugSession(CountingRandom())
    assert d.record(T0, "handshake", "endpoint 203.0.113.10:51820") is False
    assert d.entries == [] and d.size == 0


def test_an_open_session_keeps_entries_for_its_opener():
    d = DebugSession(CountingRandom())
    token = d.open(T0)
    assert d.state == OPEN and d.expires_at == T0 + debugsession.DEFAULT_TTL
    assert d.record(T0 + 1, "handshake", "endpoint 203.0.113.10:51820")
    assert d.show(token, T0 + 2) == [(T0 + 1, "handshake", "endpoint 203.0.113.10:51820")]


def test_the_time_limit_defaults_to_30_minutes_and_is_at_most_24_hours():
    assert debugsession.DEFAULT_TTL == 1800 and debugsession.MAX_TTL == 86400
    d = DebugSession(CountingRandom())
    assert "at most 24 hours" in _refused(d.open, T0, 86401)
    _refused(d.open, T0, 0)
    _refused(d.open, T0, -5)
    _refused(d.open, T0, 1.5)
    assert d.state == CLOSED
    d.open(T0, 86400)
    assert d.expires_at == T0 + 86400


def test_expiry_purges_everything():
    d = DebugSession(CountingRandom())
    token = d.open(T0, 60)
    d.record(T0 + 1, "error", "trace with 192.168.77.10")
    assert d.tick(T0 + 59) == []
    assert d.record(T0 + 60, "late", "after the deadline") is False
    actions = d.tick(T0 + 60)
    assert [a.kind for a in actions] == [PURGE] and actions[0].reason == "expired"
    assert d.state == CLOSED and d.entries == [] and d.token is None
    assert "no debug session" in _refused(d.show, token, T0 + 61)


def test_an_entry_after_the_deadline_is_refused_even_before_the_tick():
    d = DebugSession(CountingRandom())
    token = d.open(T0, 60)
    assert d.record(T0 + 60, "x", "y") is False
    assert "ended" in _refused(d.show, token, T0 + 60)


def test_closing_purges_everything_and_a_new_session_starts_empty():
    d = DebugSession(CountingRandom())
    token = d.open(T0)
    d.record(T0 + 1, "x", "old secret")
    assert [a.reason for a in d.close(token, T0 + 2)] == ["closed"]
    assert d.entries == []
    token2 = d.open(T0 + 3)
    assert token2 != token
    assert d.show(token2, T0 + 4) == []


def test_a_reboot_purges_any_leftover_copy():
    d = DebugSession(CountingRandom())
    actions = d.boot()
    assert [a.reason for a in actions] == ["reboot"] and d.state == CLOSED


def test_only_the_opener_can_see_export_extend_or_close():
    d = DebugSession(CountingRandom())
    token = d.open(T0)
    d.record(T0 + 1, "x", "detail")
    for fn in (d.show, d.export, d.close, d.extend):
        assert "belongs to whoever opened it" in _refused(fn, "0" * 32, T0 + 2)
        _refused(fn, None, T0 + 2)
        _refused(fn, token[:-1], T0 + 2)
    assert d.state == OPEN and len(d.entries) == 1


def test_a_second_open_is_refused_while_one_is_open():
    d = DebugSession(CountingRandom())
    d.open(T0)
    assert "already open" in _refused(d.open, T0 + 1)


def test_closing_with_nothing_open_is_refused():
    d = DebugSession(CountingRandom())
    assert "no debug session" in _refused(d.close, "x", T0)


def test_extend_moves_the_deadline_within_the_maximum():
    d = DebugSession(CountingRandom())
    token = d.open(T0, 60)
    assert d.extend(token, T0 + 30, 600) == T0 + 630
    assert d.tick(T0 + 100) == []
    _refused(d.extend, token, T0 + 40, 86401)
    assert d.expires_at == T0 + 630


def test_the_buffer_is_bounded_by_entries_and_bytes_dropping_the_oldest():
    d = DebugSession(CountingRandom(), max_entries=3, max_bytes=10 ** 6)
    token = d.open(T0)
    for i in range(5):
        d.record(T0 + i, "n", str(i))
    assert [e[2] for e in d.show(token, T0 + 9)] == ["2", "3", "4"] and d.dropped == 2
    d2 = DebugSession(CountingRandom(), max_entries=100, max_bytes=2500)
    token2 = d2.open(T0)
    for i in range(10):
        d2.record(T0, "c", "x" * 5000)             # each entry is cut to 1000 characters
    assert d2.size <= 2500 and len(d2.entries) == 2
    assert len(d2.entries[0][2]) == debugsession.MAX_ENTRY_CHARS


def test_export_is_text_of_the_entries_on_request():
    d = DebugSession(CountingRandom())
    token = d.open(T0)
    d.record(T0 + 1, "handshake", "two\nlines")
    text = d.export(token, T0 + 2)
    lines = text.split("\n")
    assert lines[0].startswith("# vpnspot debug session export: 1 entries")
    assert lines[1] == "%d handshake two\\nlines" % (T0 + 1)
    assert text.endswith("\n")


def test_illegal_events_are_not_in_the_transition_table():
    assert (CLOSED, "close") not in debugsession.TRANSITIONS
    assert (OPEN, "open") not in debugsession.TRANSITIONS
    assert debugsession.TRANSITIONS[(OPEN, "expire")] == CLOSED


def test_any_administrator_ends_a_session_without_its_token_and_its_data_goes():
    # The web UI's opener signed out: whoever administers the router next
    # (another browser, the console, the command line) ends it.
    d = DebugSession(CountingRandom())
    d.open(T0, 3600, "web UI")
    d.record(T0 + 1, "lan-neighbour", "192.168.77.10 lladdr 02:11:22:33:44:55")
    actions = d.end(T0 + 2)
    assert [a.kind for a in actions] == [PURGE]
    assert d.state == CLOSED and d.entries == [] and d.token is None and d.opened_by is None
    assert d.record(T0 + 3, "lan-neighbour", "kept?") is False
    assert "no debug session is open" in _refused(d.end, T0 + 4)


def test_every_administrator_sees_that_a_session_is_open_but_not_what_it_holds():
    d = DebugSession(CountingRandom())
    assert d.summary(T0) == {"open": False, "opened_by": None, "opened_ago": None,
                             "expires_in": None, "entries": 0}
    d.open(T0, 600, "console")
    d.record(T0 + 5, "log", "secret detail 192.168.77.10")
    summary = d.summary(T0 + 10)
    assert summary == {"open": True, "opened_by": "console", "opened_ago": 10,
                       "expires_in": 590, "entries": 1}
    assert "192.168.77.10" not in repr(summary)
    assert d.summary(T0 + 600)["open"] is False


def test_where_a_session_was_opened_is_a_short_name():
    d = DebugSession(CountingRandom())
    _refused(d.open, T0, 60, "")
    _refused(d.open, T0, 60, "x" * 33)
    _refused(d.open, T0, 60, 5)
    assert d.state == CLOSED
