"""Active liveness (core/liveness.py): when to probe the server in use,
how long to wait, when it is dead - and one-way traffic that must never
make a live server dead."""

from vpnspot_router.core import liveness as L


def kinds(actions):
    return [a.kind for a in actions]


def answering(now=0.0):
    """A Liveness whose server answered the probe sent after the handshake."""
    lv = L.Liveness(1.0, 0.5, 2)
    acts = lv.start(now)
    assert kinds(acts) == [L.SEND_PROBE]
    lv.probe_sent(now, acts[0].seq)
    assert lv.probe_reply(now + 0.02, acts[0].seq) == []
    assert lv.answering and lv.outstanding is None
    return lv


def run(lv, start, end, step, answer, tx=True, rx=False):
    """Drive lv every `step` seconds from start to end: data goes out (tx),
    replies come back (rx); each probe is answered after `answer` seconds
    or never (None). Returns the actions seen, with their times."""
    seen = []
    pending = []
    t = start
    while t < end:
        for due, seq in list(pending):
            if due <= t:
                pending.remove((due, seq))
                seen += [(t, a) for a in lv.probe_reply(t, seq)]
        if tx:
            lv.tx_progress(t)
        if rx:
            lv.rx_progress(t)
        for a in lv.tick(t):
            seen.append((t, a))
            if a.kind == L.SEND_PROBE:
                lv.probe_sent(t, a.seq)
                if answer is not None:
                    pending.append((t + answer, a.seq))
        t = round(t + step, 6)
    return seen


def test_the_first_probe_goes_out_right_after_the_handshake():
    lv = L.Liveness(1.0, 0.5, 2, first_seq=7)
    acts = lv.start(3.0)
    assert kinds(acts) == [L.SEND_PROBE] and acts[0].seq == 7


def test_two_way_traffic_needs_no_probes():
    lv = answering()
    seen = run(lv, 1.0, 60.0, 0.2, None, tx=True, rx=True)
    assert seen == []


def test_an_idle_tunnel_is_never_probed():
    lv = answering()
    seen = run(lv, 1.0, 60.0, 0.2, None, tx=False, rx=False)
    assert seen == []


def test_one_way_traffic_with_answered_probes_never_declares_the_server_dead():
    lv = answering()
    seen = run(lv, 1.0, 120.0, 0.2, 0.03, tx=True, rx=False)
    assert L.DECLARE_DEAD not in [a.kind for _, a in seen]
    probes = [t for t, a in seen if a.kind == L.SEND_PROBE]
    # One probe per quiet second or so, never a flood.
    assert 50 <= len(probes) <= 120, len(probes)
    assert not lv.dead and lv.unanswered == 0


def test_one_way_traffic_on_a_slow_path_is_not_mistaken_for_a_dead_server():
    lv = L.Liveness(1.0, 0.5, 2)
    a = lv.start(0.0)[0]
    lv.probe_sent(0.0, a.seq)
    lv.probe_reply(0.7, a.seq)              # a satellite round trip
    assert lv.wait() >= 3 * 0.7 - 1e-9
    seen = run(lv, 1.0, 60.0, 0.1, 0.9, tx=True, rx=False)
    assert L.DECLARE_DEAD not in [a.kind for _, a in seen]


def test_sent_data_without_replies_declares_the_server_dead_after_two_unanswered_probes():
    lv = answering()
    seen = run(lv, 10.0, 20.0, 0.1, None, tx=True, rx=False)
    times = [(t, a.kind) for t, a in seen]
    assert times[0] == (11.0, L.SEND_PROBE)          # quiet for probe_after
    assert times[1] == (11.5, L.SEND_PROBE)          # the first went unanswered
    assert times[2][1] == L.DECLARE_DEAD and times[2][0] == 12.0
    assert len(times) == 3                           # nothing after the verdict
    assert "2 probes unanswered" in seen[2][1].why
    assert lv.next_wakeup() is None


def test_a_late_reply_or_any_returning_traffic_resets_the_failures():
    lv = answering()
    lv.tx_progress(10.0)
    p1 = lv.tick(11.0)[0]
    lv.probe_sent(11.0, p1.seq)
    p2 = lv.tick(11.5)[0]                            # p1 timed out
    assert p2.seq == p1.seq + 1 and lv.unanswered == 1
    assert lv.probe_reply(11.6, p1.seq) == []        # late, but proof of life
    assert lv.unanswered == 0 and lv.quiet_since is None
    lv.tx_progress(12.0)
    assert lv.tick(12.9) == []
    lv.rx_progress(12.95)                            # the household's traffic came back
    assert lv.tick(13.5) == [] and lv.quiet_since is None


def test_a_server_that_never_answers_probes_is_left_to_the_passive_limit():
    lv = L.Liveness(1.0, 0.5, 2)
    a = lv.start(0.0)[0]
    lv.probe_sent(0.0, a.seq)
    seen = run(lv, 0.1, 60.0, 0.1, None, tx=True, rx=False)
    assert L.DECLARE_DEAD not in [a.kind for _, a in seen]
    assert lv.probes == L.CALIBRATION_TRIES          # then it stops asking
    assert not lv.answering and lv.next_wakeup() is None


def test_a_probe_that_could_not_be_sent_counts_as_unanswered():
    lv = answering()
    lv.tx_progress(5.0)
    p1 = lv.tick(6.0)[0]
    p2 = lv.probe_timeout(6.0, p1.seq)[0]            # e.g. no route: the next at once
    acts = lv.probe_timeout(6.0, p2.seq)
    assert kinds(acts) == [L.DECLARE_DEAD]


def test_replies_to_other_probes_are_ignored():
    lv = L.Liveness(1.0, 0.5, 2, first_seq=10)
    a = lv.start(0.0)[0]
    assert lv.probe_reply(0.1, 9) == [] and not lv.answering     # an earlier tunnel's
    assert lv.probe_reply(0.1, 11) == [] and not lv.answering    # never sent
    lv.probe_reply(0.1, a.seq)
    assert lv.answering


def test_next_wakeup_names_the_next_decision():
    lv = answering()
    assert lv.next_wakeup() is None
    lv.tx_progress(4.0)
    assert lv.next_wakeup() == 5.0
    p = lv.tick(5.0)[0]
    lv.probe_sent(5.1, p.seq)
    assert abs(lv.next_wakeup() - 5.6) < 1e-9
