"""Bandwidth totals from tunnel byte counters: the only traffic figures the
agent keeps, and the only ones it reports (through telemetry.py).

Owns: turning raw rx/tx counter readings into totals that survive counter
resets, counter wraps and agent restarts; hourly buckets for the last 24 h
and daily buckets for the last 30 days (the web UI's chart); the reporting
period; and when a checkpoint is worth a flash write.

Sans-IO. The adapter calls observe(rx, tx, now, source) with the tunnel
device's counters (whenever it likes; every few seconds is fine) and acts
on what comes back:

  Checkpoint(data)   write `data` (bytes) through store.py; at most one per
                     checkpoint_minutes while counting, so flash sees about
                     100 small writes a day at the default 15 minutes
  ReportDue(start, end, rx, tx)
                     one reporting period is complete: hand it to
                     telemetry.ReportQueue.add

Counters. `source` names the counter's owner (e.g. interface index and
creation time); when it changes, or the counter goes down by more than a
wrap explains, the counter restarted from 0 and its whole value is new
traffic. The first reading ever (no checkpoint) counts whole too: a new
device's counters start at 0. Without a source, a device recreated since
the checkpoint whose counters already passed the saved readings is taken
for the same device (an undercount), so adapters should pass one. A decrease counts as a wrap only for counter_bits 32 (kernel
counters on 32-bit platforms) and only when the wrapped delta is below
max_rate_bytes_per_s times the elapsed time; 64-bit counters do not wrap
in a router's lifetime, so for them a decrease is always a reset.

What can be lost: traffic between the last checkpoint and a power cut,
unless the tunnel device outlived the agent (then its counters still hold
it and the restored raw readings pick it up).

Time is wall-clock seconds (buckets are UTC hours and days). A clock that
jumps backwards (no RTC until NTP) restarts the checkpoint and period timers
instead of producing negative periods.

Keep telemetry.py's rx_bytes/tx_bytes meaning and the README's "What the
agent reports" in sync with period totals here.
"""

import json

CHECKPOINT = 1
REPORT_DUE = 2

HOUR = 3600
DAY = 86400
HOURS_KEPT = 24
DAYS_KEPT = 30


class Checkpoint:
    kind = CHECKPOINT

    def __init__(self, data):
        self.data = data

    def __repr__(self):
        return "Checkpoint(%d bytes)" % len(self.data)


class ReportDue:
    kind = REPORT_DUE

    def __init__(self, period_start, period_end, rx_bytes, tx_bytes):
        self.period_start = period_start
        self.period_end = period_end
        self.rx_bytes = rx_bytes
        self.tx_bytes = tx_bytes

    def __repr__(self):
        return "ReportDue(%d..%d rx=%d tx=%d)" % (self.period_start, self.period_end,
                                                 self.rx_bytes, self.tx_bytes)


def _add_bucket(buckets, key, rx, tx, keep):
    """buckets: [[key, rx, tx], ...] ascending; keep only the last `keep` keys."""
    if buckets and buckets[-1][0] == key:
        buckets[-1][1] += rx
        buckets[-1][2] += tx
    else:
        # A key older than the newest (clock went back) joins the newest bucket
        # rather than reordering history.
        if buckets and key < buckets[-1][0]:
            buckets[-1][1] += rx
            buckets[-1][2] += tx
            return
        buckets.append([key, rx, tx])
    while buckets and buckets[0][0] <= key - keep:
        buckets.pop(0)


class Accounting:
    def __init__(self, checkpoint_minutes=15, report_period_minutes=1440, counter_bits=64,
                 max_rate_bytes_per_s=10 ** 10 // 8 * 2):
        if counter_bits not in (32, 64):
            raise ValueError("counter_bits is 32 or 64")
        self.checkpoint_interval = checkpoint_minutes * 60
        self.period = report_period_minutes * 60
        self.counter_bits = counter_bits
        self.max_rate = max_rate_bytes_per_s
        self.total_rx = 0
        self.total_tx = 0
        self.period_start = None
        self.period_rx = 0
        self.period_tx = 0
        self.hours = []
        self.days = []
        self.last_rx = None         # raw counter readings, None before the first
        self.last_tx = None
        self.source = None
        self.last_seen = None
        self.last_checkpoint = None
        self.dirty = False
        self.resets = 0
        self.wraps = 0

    def _delta(self, cur, last, elapsed):
        if cur >= last:
            return cur - last
        if self.counter_bits == 32:
            wrapped = cur + (1 << 32) - last
            if wrapped <= self.max_rate * max(elapsed, 1):
                self.wraps += 1
                return wrapped
        self.resets += 1
        return cur

    def observe(self, rx, tx, now, source=None):
        """New counter readings -> list of actions (Checkpoint, ReportDue)."""
        if rx < 0 or tx < 0:
            raise ValueError("byte counters are never negative")
        if source is not None and type(source) is not str and type(source) is not int:
            # It goes through JSON in checkpoints; a tuple would come back a
            # list, differ, and count the whole counter a second time.
            raise ValueError("source is a str or an int")
        actions = []
        if self.period_start is None or now < self.period_start:
            self.period_start = now
        if self.last_checkpoint is None or now < self.last_checkpoint:
            self.last_checkpoint = now
        if self.last_rx is None or source != self.source:
            # A counter not seen before started at 0 when its device was
            # created, so all of it is traffic not yet counted.
            if self.last_rx is not None:
                self.resets += 1
            d_rx, d_tx = rx, tx
        else:
            elapsed = now - self.last_seen if self.last_seen is not None else 0
            d_rx = self._delta(rx, self.last_rx, elapsed)
            d_tx = self._delta(tx, self.last_tx, elapsed)
        self.last_rx, self.last_tx, self.source, self.last_seen = rx, tx, source, now
        if d_rx or d_tx:
            self.total_rx += d_rx
            self.total_tx += d_tx
            self.period_rx += d_rx
            self.period_tx += d_tx
            _add_bucket(self.hours, now // HOUR, d_rx, d_tx, HOURS_KEPT)
            _add_bucket(self.days, now // DAY, d_rx, d_tx, DAYS_KEPT)
        self.dirty = True           # raw readings changed even when no bytes moved
        if now - self.period_start >= self.period:
            actions.append(ReportDue(self.period_start, now, self.period_rx, self.period_tx))
            self.period_start = now
            self.period_rx = 0
            self.period_tx = 0
        if now - self.last_checkpoint >= self.checkpoint_interval:
            actions.append(self._checkpoint(now))
        return actions

    def flush(self, now):
        """A clean shutdown: checkpoint now if anything is unsaved."""
        if not self.dirty:
            return []
        return [self._checkpoint(now)]

    def _checkpoint(self, now):
        self.last_checkpoint = now
        self.dirty = False
        return Checkpoint(self.to_bytes(now))

    def to_bytes(self, now):
        return json.dumps({
            "v": 1, "saved_at": now,
            "total": [self.total_rx, self.total_tx],
            "last": [self.last_rx, self.last_tx], "source": self.source,
            "period": [self.period_start, self.period_rx, self.period_tx],
            "hours": self.hours, "days": self.days,
        }).encode()

    def restore(self, data):
        """Continue from a checkpoint; ValueError (nothing changed) if damaged."""
        try:
            state = json.loads(data)
            if state["v"] != 1:
                raise ValueError("unknown checkpoint version")
            total_rx, total_tx = state["total"]
            last_rx, last_tx = state["last"]
            period_start, period_rx, period_tx = state["period"]
            hours = [[int(k), int(r), int(t)] for k, r, t in state["hours"]]
            days = [[int(k), int(r), int(t)] for k, r, t in state["days"]]
            numbers = [total_rx, total_tx, period_rx, period_tx]
            if last_rx is not None:
                numbers += [last_rx, last_tx]
            for n in numbers:
                if type(n) is not int or n < 0:
                    raise ValueError("a total is not a byte count")
            if period_start is not None and type(period_start) is not int:
                raise ValueError("bad period start")
            source = state["source"]
            if source is not None and type(source) is not str and type(source) is not int:
                raise ValueError("bad counter source")
            saved_at = state["saved_at"]
            if type(saved_at) is not int and type(saved_at) is not float:
                # It becomes last_seen/last_checkpoint, compared with `now`.
                raise ValueError("bad save time")
        except (KeyError, TypeError, IndexError, OverflowError, RuntimeError) as e:
            # OverflowError: int() of an infinite bucket key (JSON allows
            # Infinity); RuntimeError: nesting deeper than the stack (CPython's
            # RecursionError is one; MicroPython has no such name).
            raise ValueError("the accounting checkpoint is damaged (%s)" % type(e).__name__)
        self.total_rx, self.total_tx = total_rx, total_tx
        self.last_rx, self.last_tx = last_rx, last_tx
        self.source = source
        self.period_start, self.period_rx, self.period_tx = period_start, period_rx, period_tx
        self.hours = hours[-HOURS_KEPT:]
        self.days = days[-DAYS_KEPT:]
        self.last_seen = saved_at
        self.last_checkpoint = saved_at
        self.dirty = False

    def hourly(self, now):
        """[(hour_start, rx, tx)] for the 24 hours up to now, zeros included."""
        return _series(self.hours, now // HOUR, HOURS_KEPT, HOUR)

    def daily(self, now):
        return _series(self.days, now // DAY, DAYS_KEPT, DAY)


def _series(buckets, current, keep, size):
    by_key = {}
    for k, rx, tx in buckets:
        by_key[k] = (rx, tx)
    out = []
    for k in range(current - keep + 1, current + 1):
        rx, tx = by_key.get(k, (0, 0))
        out.append((k * size, rx, tx))
    return out
