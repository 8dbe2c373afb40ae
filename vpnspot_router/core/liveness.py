"""Active liveness of the current server: when the tunnel sends and hears
nothing, ask the server itself.

Owns: when to probe the server in use through the tunnel, how long to wait
for each answer, and when enough unanswered probes make the server dead.
Sans-IO and MicroPython-portable: every entry point takes `now` (seconds,
monotonic) and returns actions; the driver (driver.py) sends the probe (an
ICMP echo to the server's tunnel-side address) and reports back. The
supervisor (core/supervisor.py) owns one Liveness per connected tunnel and
turns DeclareDead into a failover. Keep the README section "The
supervisor" in sync with the defaults in supervisor.Timing.

Why probe at all: watching the tunnel's counters cannot tell a dead server
from one-way traffic (an upload, a camera stream) quickly. A live WireGuard
peer that only receives answers with a keepalive after KEEPALIVE_TIMEOUT
(10 s), so a passive limit must be about 15 s or it fails over from
healthy servers. A probe is answered by a live server within one round
trip whatever the household's traffic does, so silence after it is a
strong signal within a second.

Policy:
  - quiet: data went out (tx_progress) and nothing came back (no
    rx_progress) since `quiet_since`;
  - quiet for probe_after seconds -> SendProbe(seq);
  - any probe reply or any rx progress -> the server is alive: failures
    reset, the next quiet period starts over;
  - no reply within the probe timeout -> one failure, the next probe at
    once; `failures` failures in a row -> DeclareDead(why);
  - the probe timeout is max(timeout, RTT_FACTOR x round trip), the round
    trip taken from earlier replies, so a slow path (satellite, a far
    server) is not mistaken for a dead one;
  - only a server that has answered a probe on this tunnel can be declared
    dead by probes: one that filters them (or has no probe address) is
    left to the supervisor's passive dead_after. start() sends one probe
    right after the handshake to learn this; after CALIBRATION_TRIES
    unanswered probes and no answer ever, probing stops for the tunnel.
"""

SEND_PROBE = 1
DECLARE_DEAD = 2

RTT_FACTOR = 3
CALIBRATION_TRIES = 3


class SendProbe:
    """Send probe number `seq` now; answer with probe_sent(), then
    probe_reply() or probe_timeout()."""
    kind = SEND_PROBE

    def __init__(self, seq):
        self.seq = seq

    def __repr__(self):
        return "SendProbe(%d)" % self.seq


class DeclareDead:
    kind = DECLARE_DEAD

    def __init__(self, why):
        self.why = why

    def __repr__(self):
        return "DeclareDead(%r)" % self.why


class Liveness:
    def __init__(self, probe_after, timeout, failures, first_seq=1):
        self.probe_after = probe_after
        self.timeout = timeout
        self.failures_needed = failures
        self.first_seq = first_seq      # numbers below belong to earlier tunnels
        self.seq = first_seq - 1        # the last probe asked for
        self.answering = False          # a probe was answered on this tunnel
        self.unanswered = 0             # probes without an answer, in a row
        self.rtt = None                 # seconds, rises at once and decays slowly
        self.quiet_since = None
        self.outstanding = None         # seq of the probe in flight
        self.sent_at = None
        self.dead = False
        self.probes = 0
        self.replies = 0

    def _probe(self, now):
        self.seq += 1
        self.outstanding = self.seq
        self.sent_at = now              # until probe_sent() gives the real time
        self.probes += 1
        return [SendProbe(self.seq)]

    def _alive(self):
        # Proof of life settles any probe still in flight too: its answer
        # no longer decides anything.
        self.unanswered = 0
        self.quiet_since = None
        self.outstanding = None

    def wait(self):
        """Seconds a probe may go unanswered before it counts as failed."""
        if self.rtt is None:
            return self.timeout
        return max(self.timeout, RTT_FACTOR * self.rtt)

    def _given_up(self):
        return not self.answering and self.unanswered >= CALIBRATION_TRIES

    # -- events ------------------------------------------------------------

    def start(self, now):
        """The tunnel completed its handshake: one probe to learn whether
        this server answers probes at all."""
        return self._probe(now)

    def rx_progress(self, now):
        """Bytes came back through the tunnel: the server is alive."""
        self._alive()
        return []

    def tx_progress(self, now):
        """Bytes went out through the tunnel."""
        if self.quiet_since is None:
            self.quiet_since = now
        return []

    def probe_sent(self, now, seq):
        if seq == self.outstanding:
            self.sent_at = now
        return []

    def probe_reply(self, now, seq):
        """Any reply proves the path, even one to an earlier probe; only the
        one in flight gives a round trip."""
        if seq == self.outstanding:
            sample = now - self.sent_at
            if self.rtt is None or sample > self.rtt:
                self.rtt = sample
            else:
                self.rtt = (7 * self.rtt + sample) / 8
            self.outstanding = None
        elif seq > self.seq or seq < self.first_seq:
            return []                   # not one of this tunnel's probes
        self.answering = True
        self.replies += 1
        self._alive()
        return []

    def probe_timeout(self, now, seq):
        """Probe `seq` went unanswered (or could not be sent)."""
        if seq != self.outstanding or self.dead:
            return []
        self.outstanding = None
        self.unanswered += 1
        if self.answering and self.unanswered >= self.failures_needed:
            self.dead = True
            return [DeclareDead("%d probes unanswered (%.1f s each) after %.1f s without a reply"
                                % (self.unanswered, self.wait(),
                                   now - self.quiet_since if self.quiet_since is not None
                                   else 0.0))]
        if self.answering and self.quiet_since is not None:
            return self._probe(now)     # the next one at once: the clock is running
        return []

    def tick(self, now):
        if self.dead:
            return []
        if self.outstanding is not None:
            if now - self.sent_at >= self.wait():
                return self.probe_timeout(now, self.outstanding)
            return []
        if self.quiet_since is not None and now - self.quiet_since >= self.probe_after \
                and not self._given_up():
            return self._probe(now)
        return []

    def next_wakeup(self):
        """When tick() next has something to decide, or None."""
        if self.dead:
            return None
        if self.outstanding is not None:
            return self.sent_at + self.wait()
        if self.quiet_since is not None and not self._given_up():
            return self.quiet_since + self.probe_after
        return None
