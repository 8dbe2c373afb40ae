"""Bandwidth accounting (core/accounting.py): totals across counter resets
and wraps, hourly and daily buckets, reporting periods, and checkpoints no
more often than configured."""

from vpnspot_router.core.accounting import Accounting, CHECKPOINT, REPORT_DUE, HOUR, DAY

T0 = 1700000000 - 1700000000 % DAY      # midnight UTC, so buckets are easy to read


def _kinds(actions):
    return [a.kind for a in actions]


def _raises(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return
    raise AssertionError("no ValueError from %r" % (args,))


def test_totals_are_the_sum_of_counter_increases():
    acc = Accounting()
    acc.observe(0, 0, T0, "wg0:1")
    acc.observe(1000, 50, T0 + 10, "wg0:1")
    acc.observe(3000, 70, T0 + 20, "wg0:1")
    assert (acc.total_rx, acc.total_tx) == (3000, 70)


def test_the_first_reading_of_a_new_device_counts_from_zero():
    acc = Accounting()
    acc.observe(500, 40, T0, "wg0:1")
    assert (acc.total_rx, acc.total_tx) == (500, 40)


def test_a_counter_reset_counts_the_new_counter_from_zero():
    acc = Accounting()
    acc.observe(0, 0, T0, "wg0:1")
    acc.observe(10000, 10000, T0 + 10, "wg0:1")
    acc.observe(300, 200, T0 + 20, "wg0:1")        # the tunnel device was recreated
    acc.observe(400, 250, T0 + 30, "wg0:1")
    assert (acc.total_rx, acc.total_tx) == (10400, 10250)
    assert acc.resets == 2                          # rx and tx each


def test_a_new_source_is_a_reset_even_when_the_counter_grew():
    acc = Accounting()
    acc.observe(0, 0, T0, "wg0:1")
    acc.observe(1000, 1000, T0 + 10, "wg0:1")
    acc.observe(5000, 5000, T0 + 20, "wg0:2")
    assert (acc.total_rx, acc.total_tx) == (6000, 6000)


def test_a_32_bit_counter_wrap_is_counted_as_a_wrap():
    acc = Accounting(counter_bits=32)
    top = (1 << 32) - 1000
    acc.observe(top, top, T0, "eth")
    acc.observe(500, 0, T0 + 1, "eth")
    assert acc.total_rx == top + 1500 and acc.total_tx == top + 1000
    assert acc.wraps == 2 and acc.resets == 0


def test_a_32_bit_decrease_too_large_for_a_wrap_is_a_reset():
    acc = Accounting(counter_bits=32, max_rate_bytes_per_s=1000)
    acc.observe(0, 0, T0, "eth")
    acc.observe(1 << 20, 0, T0 + 10, "eth")
    acc.observe(100, 0, T0 + 11, "eth")             # wrapping would mean ~4 GB in 1 s
    assert acc.total_rx == (1 << 20) + 100 and acc.resets == 1 and acc.wraps == 0


def test_64_bit_counters_never_wrap_so_a_decrease_is_a_reset():
    acc = Accounting(counter_bits=64)
    top = (1 << 64) - 10
    acc.observe(top, 0, T0, "wg")
    acc.observe(5, 0, T0 + 1, "wg")
    assert acc.total_rx == top + 5 and acc.resets == 1 and acc.wraps == 0


def test_hourly_and_daily_buckets_hold_24_hours_and_30_days():
    acc = Accounting(checkpoint_minutes=10 ** 6, report_period_minutes=10 ** 6)
    rx = 0
    acc.observe(0, 0, T0, "wg")
    for h in range(1, 24 * 40):
        rx += h
        acc.observe(rx, 0, T0 + h * HOUR, "wg")
    now = T0 + (24 * 40 - 1) * HOUR
    hourly = acc.hourly(now)
    assert len(hourly) == 24 and hourly[-1] == (now - now % HOUR, 24 * 40 - 1, 0)
    assert [b[1] for b in hourly] == list(range(24 * 40 - 24, 24 * 40))
    daily = acc.daily(now)
    assert len(daily) == 30 and daily[-1][0] == now - now % DAY
    last_day = now // DAY - T0 // DAY
    assert daily[-1][1] == sum(range(last_day * 24, last_day * 24 + 24))
    assert len(acc.hours) <= 24 and len(acc.days) <= 30


def test_quiet_hours_show_as_zero_in_the_chart():
    acc = Accounting()
    acc.observe(0, 0, T0, "wg")
    acc.observe(100, 10, T0 + 60, "wg")
    acc.observe(300, 10, T0 + 5 * HOUR, "wg")
    hourly = acc.hourly(T0 + 5 * HOUR)
    assert [(b[1], b[2]) for b in hourly[-6:]] == [(100, 10), (0, 0), (0, 0), (0, 0), (0, 0), (200, 0)]


def test_a_reporting_period_ends_with_its_totals_and_the_next_starts_from_zero():
    acc = Accounting(report_period_minutes=60, checkpoint_minutes=10 ** 6)
    assert acc.observe(0, 0, T0, "wg") == []
    assert acc.observe(700, 70, T0 + 1800, "wg") == []
    actions = acc.observe(1000, 100, T0 + 3600, "wg")
    assert _kinds(actions) == [REPORT_DUE]
    r = actions[0]
    assert (r.period_start, r.period_end, r.rx_bytes, r.tx_bytes) == (T0, T0 + 3600, 1000, 100)
    r2 = acc.observe(1500, 100, T0 + 7200, "wg")[0]
    assert (r2.period_start, r2.rx_bytes, r2.tx_bytes) == (T0 + 3600, 500, 0)


def test_checkpoints_come_at_most_every_n_minutes():
    acc = Accounting(checkpoint_minutes=15, report_period_minutes=10 ** 6)
    times = []
    rx = 0
    for second in range(0, 3 * 3600 + 1, 10):
        rx += 12345
        for a in acc.observe(rx, rx, T0 + second, "wg"):
            if a.kind == CHECKPOINT:
                times.append(second)
    assert times == [900 * i for i in range(1, 13)]


def test_a_checkpoint_interval_of_one_minute_is_respected_too():
    acc = Accounting(checkpoint_minutes=1, report_period_minutes=10 ** 6)
    acc.observe(0, 0, T0, "wg")
    assert acc.observe(1, 1, T0 + 59, "wg") == []
    assert _kinds(acc.observe(2, 2, T0 + 60, "wg")) == [CHECKPOINT]


def test_a_clean_shutdown_flushes_unsaved_totals_once():
    acc = Accounting()
    acc.observe(0, 0, T0, "wg")
    acc.observe(10, 10, T0 + 5, "wg")
    assert _kinds(acc.flush(T0 + 6)) == [CHECKPOINT]
    assert acc.flush(T0 + 7) == []


def test_a_restored_checkpoint_picks_up_traffic_counted_since_it_on_the_same_device():
    acc = Accounting(checkpoint_minutes=15)
    acc.observe(0, 0, T0, "wg0:7")
    data = None
    for a in acc.observe(5000, 600, T0 + 900, "wg0:7"):
        if a.kind == CHECKPOINT:
            data = a.data
    assert data is not None
    acc.observe(9000, 900, T0 + 1000, "wg0:7")      # then the agent is killed
    again = Accounting(checkpoint_minutes=15)
    again.restore(data)
    assert (again.total_rx, again.total_tx) == (5000, 600)
    again.observe(9500, 950, T0 + 1100, "wg0:7")    # the device outlived the agent
    assert (again.total_rx, again.total_tx) == (9500, 950)
    assert again.hourly(T0 + 1100)[-1][1:] == (9500, 950)


def test_a_restored_checkpoint_with_a_new_device_counts_the_new_counter_whole():
    acc = Accounting()
    acc.observe(5000, 600, T0, "wg0:7")
    data = acc.flush(T0 + 1)[0].data
    again = Accounting()
    again.restore(data)
    again.observe(100, 10, T0 + 60, "wg0:8")
    assert (again.total_rx, again.total_tx) == (5100, 610)


def test_a_restored_checkpoint_continues_the_reporting_period():
    acc = Accounting(report_period_minutes=60)
    acc.observe(0, 0, T0, "wg")
    acc.observe(100, 100, T0 + 600, "wg")
    data = acc.flush(T0 + 600)[0].data
    again = Accounting(report_period_minutes=60)
    again.restore(data)
    r = again.observe(300, 100, T0 + 3600, "wg")
    reports = [a for a in r if a.kind == REPORT_DUE]
    assert len(reports) == 1 and reports[0].period_start == T0 and reports[0].rx_bytes == 300


def test_a_damaged_checkpoint_is_refused_and_changes_nothing():
    acc = Accounting()
    acc.observe(0, 0, T0, "wg")
    acc.observe(100, 100, T0 + 1, "wg")
    good = acc.flush(T0 + 1)[0].data
    for bad in (good[:-3], b"", b"{}", good.replace(b'"v": 1', b'"v": 2'),
                good.replace(b'"total": [100, 100]', b'"total": [-1, 100]'),
                good.replace(b'"total": [100, 100]', b'"total": ["100", 100]'),
                good.replace(b'"source": "wg"', b'"source": ["wg"]')):
        fresh = Accounting()
        fresh.observe(7, 7, T0, "x")
        _raises(fresh.restore, bad)
        assert (fresh.total_rx, fresh.source) == (7, "x"), bad


def test_a_clock_that_jumps_back_never_makes_a_negative_period():
    acc = Accounting(report_period_minutes=60, checkpoint_minutes=15)
    acc.observe(0, 0, T0, "wg")
    acc.observe(100, 0, T0 + 600, "wg")
    assert acc.observe(200, 0, 1000, "wg") == []        # NTP not yet synced after a reboot
    actions = acc.observe(300, 0, 1000 + 3600, "wg")
    r = [a for a in actions if a.kind == REPORT_DUE][0]
    assert r.period_start == 1000 and r.period_end > r.period_start and r.rx_bytes == 300
    assert acc.total_rx == 300


def test_bad_readings_are_refused():
    acc = Accounting()
    _raises(acc.observe, -1, 0, T0, "wg")
    _raises(acc.observe, 0, 0, T0, ("wg", 1))
    _raises(Accounting, 15, 60, 16)
