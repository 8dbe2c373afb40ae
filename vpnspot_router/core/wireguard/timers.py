"""The per-peer timer rules of whitepaper section 6, as stored timestamps.

Nothing here sleeps or reads a clock: each hook records when something must
happen, `due(now)` says which deadlines passed, and device.tick() acts on
them. Hook names follow the event they must be called after; the rules
match wireguard-go's timers.go so both ends of a tunnel agree:

  data_sent                      a data packet (not a keepalive) went out: expect an
                                 answer within KEEPALIVE + REKEY_TIMEOUT, else rehandshake
  data_received                  a data packet arrived: answer with a keepalive within
                                 KEEPALIVE_TIMEOUT unless data goes back first
  any_authenticated_packet_sent  cancels the pending keepalive (the packet acknowledges)
  any_authenticated_packet_received  cancels the pending rehandshake
  any_authenticated_packet_traversal restarts the persistent keepalive interval
  handshake_initiated            retransmit after REKEY_TIMEOUT + jitter
  handshake_complete             stop retransmitting, reset the attempt count
  session_derived                zero all keys after REJECT_AFTER_TIME * 3 of silence
"""

from .constants import (REKEY_AFTER_MESSAGES, REJECT_AFTER_MESSAGES, REKEY_AFTER_TIME,
                        REJECT_AFTER_TIME, REKEY_ATTEMPT_TIME, REKEY_TIMEOUT,
                        KEEPALIVE_TIMEOUT, COOKIE_REFRESH_TIME, REKEY_TIMEOUT_JITTER_MAX)

RETRANSMIT_HANDSHAKE = "retransmit-handshake"
SEND_KEEPALIVE = "send-keepalive"
NEW_HANDSHAKE = "new-handshake"
ZERO_KEY_MATERIAL = "zero-key-material"
PERSISTENT_KEEPALIVE = "persistent-keepalive"


class Timing:
    """The protocol's time and message limits, one object per device so a
    test (or a lab demo) can shorten them without touching the constants."""

    def __init__(self):
        self.rekey_after_messages = REKEY_AFTER_MESSAGES
        self.reject_after_messages = REJECT_AFTER_MESSAGES
        self.rekey_after_time = REKEY_AFTER_TIME
        self.reject_after_time = REJECT_AFTER_TIME
        self.rekey_attempt_time = REKEY_ATTEMPT_TIME
        self.rekey_timeout = REKEY_TIMEOUT
        self.keepalive_timeout = KEEPALIVE_TIMEOUT
        self.cookie_refresh_time = COOKIE_REFRESH_TIME
        self.jitter_max = REKEY_TIMEOUT_JITTER_MAX

    def max_handshake_attempts(self):
        return int(self.rekey_attempt_time / self.rekey_timeout)


class Timers:
    def __init__(self, timing, jitter):
        self.timing = timing
        self.jitter = jitter            # callable -> seconds in [0, timing.jitter_max)
        self.retransmit_handshake = None
        self.send_keepalive = None
        self.new_handshake = None
        self.zero_key_material = None
        self.persistent_keepalive = None
        self.need_another_keepalive = False
        self.handshake_attempts = 0

    # --- hooks ---
    def data_sent(self, now):
        if self.new_handshake is None:
            t = self.timing
            self.new_handshake = now + t.keepalive_timeout + t.rekey_timeout + self.jitter()

    def data_received(self, now):
        if self.send_keepalive is None:
            self.send_keepalive = now + self.timing.keepalive_timeout
        else:
            self.need_another_keepalive = True

    def any_authenticated_packet_sent(self):
        self.send_keepalive = None

    def any_authenticated_packet_received(self):
        self.new_handshake = None

    def any_authenticated_packet_traversal(self, now, interval):
        if interval:
            self.persistent_keepalive = now + interval

    def handshake_initiated(self, now):
        self.retransmit_handshake = now + self.timing.rekey_timeout + self.jitter()

    def handshake_complete(self):
        self.retransmit_handshake = None
        self.handshake_attempts = 0

    def session_derived(self, now):
        self.zero_key_material = now + self.timing.reject_after_time * 3

    def stop_all(self):
        self.retransmit_handshake = None
        self.send_keepalive = None
        self.new_handshake = None
        self.zero_key_material = None
        self.persistent_keepalive = None
        self.need_another_keepalive = False

    # --- expiry ---
    def due(self, now):
        """Names of the timers whose deadline passed, each cleared."""
        fired = []
        if self.retransmit_handshake is not None and now >= self.retransmit_handshake:
            self.retransmit_handshake = None
            fired.append(RETRANSMIT_HANDSHAKE)
        if self.send_keepalive is not None and now >= self.send_keepalive:
            self.send_keepalive = None
            fired.append(SEND_KEEPALIVE)
        if self.new_handshake is not None and now >= self.new_handshake:
            self.new_handshake = None
            fired.append(NEW_HANDSHAKE)
        if self.zero_key_material is not None and now >= self.zero_key_material:
            self.zero_key_material = None
            fired.append(ZERO_KEY_MATERIAL)
        if self.persistent_keepalive is not None and now >= self.persistent_keepalive:
            self.persistent_keepalive = None
            fired.append(PERSISTENT_KEEPALIVE)
        return fired

    def next_deadline(self):
        best = None
        for t in (self.retransmit_handshake, self.send_keepalive, self.new_handshake,
                  self.zero_key_material, self.persistent_keepalive):
            if t is not None and (best is None or t < best):
                best = t
        return best
