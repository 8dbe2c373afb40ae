"""Sliding replay window for transport counters (RFC 6479 behaviour).

Accepts each counter at most once; a counter REPLAY_WINDOW_SIZE or more
behind the newest seen is refused, so reordering inside the window is
tolerated. The bitmap is one Python int: bit i stands for counter
`newest - i`. Checking is separate from marking so a packet is marked only
after it authenticated: a forged packet must not burn a counter.
"""

from .constants import REPLAY_WINDOW_SIZE, REJECT_AFTER_MESSAGES


class ReplayWindow:
    def __init__(self, size=REPLAY_WINDOW_SIZE):
        self.size = size
        self.mask = (1 << size) - 1
        self.newest = -1
        self.bits = 0

    def check(self, counter):
        """True if `counter` may be accepted (not too old, not seen)."""
        if counter >= REJECT_AFTER_MESSAGES:
            return False
        if counter > self.newest:
            return True
        back = self.newest - counter
        if back >= self.size:
            return False
        return not (self.bits >> back) & 1

    def mark(self, counter):
        """Record `counter` as seen; call only after check() and authentication."""
        if counter > self.newest:
            shift = counter - self.newest
            if shift >= self.size:
                self.bits = 1
            else:
                self.bits = ((self.bits << shift) | 1) & self.mask
            self.newest = counter
        else:
            self.bits |= 1 << (self.newest - counter)
