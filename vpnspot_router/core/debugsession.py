"""The debug session policy: when the agent may keep diagnostic detail, and
for how long.

Owns the rules of issue 5's debug sessions as a state machine:
  - a session is opened explicitly (CLI, web UI, console), with a time limit:
    DEFAULT_TTL (30 min) unless told, never more than MAX_TTL (24 h);
  - while it is open, record() keeps entries (handshake events, endpoint
    addresses, error traces) in a bounded in-RAM buffer; while it is closed,
    record() keeps nothing, so callers may call it unconditionally;
  - close, expiry (tick) and a reboot (a new DebugSession) purge everything;
  - entries are shown and exported only to whoever holds the session's
    token (the person who opened it) and only on request; nothing here
    sends anything anywhere;
  - that a session is open, from where (opened_by: "web UI", "console",
    "command line"), since when and until when is no secret from any
    administrator (summary()), and any administrator may end it
    (end(now)): a session whose opener signed out or went away must not
    go on recording until its time limit. Ending needs no token because
    it only ever deletes.

Sans-IO: time comes in as `now` (seconds), the token's randomness from the
injected random_bytes. Each transition returns actions for the adapter
(the future tmpfs mirror): Purge() means delete every copy of the entries.

States and events (TRANSITIONS is the table; anything else raises
DebugSessionError and changes nothing):

  CLOSED --open-->  OPEN
  OPEN   --close--> CLOSED   (purge; close(token) by its opener, end() by any administrator)
  OPEN   --expire-> CLOSED   (purge; from tick(now) once now >= expires_at)
  OPEN   --extend-> OPEN     (new deadline, still at most MAX_TTL from now)

Keep the README's debug-session paragraph in sync with the limits here.
"""

CLOSED = "closed"
OPEN = "open"

DEFAULT_TTL = 30 * 60
MAX_TTL = 24 * 3600
MAX_ENTRIES = 2000
MAX_BYTES = 256 * 1024
MAX_ENTRY_CHARS = 1000

TRANSITIONS = {
    (CLOSED, "open"): OPEN,
    (OPEN, "close"): CLOSED,
    (OPEN, "expire"): CLOSED,
    (OPEN, "extend"): OPEN,
}

PURGE = 1


class Purge:
    """Delete every copy of the session's entries (RAM mirror, tmpfs)."""
    kind = PURGE

    def __init__(self, reason):
        self.reason = reason        # "closed", "expired" or "reboot"

    def __repr__(self):
        return "Purge(%s)" % self.reason


class DebugSessionError(ValueError):
    """A request the policy refuses; the message says why, for the person asking."""


class DebugSession:
    def __init__(self, random_bytes, max_entries=MAX_ENTRIES, max_bytes=MAX_BYTES):
        self.random_bytes = random_bytes
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.state = CLOSED
        self.token = None
        self.opened_at = None
        self.expires_at = None
        self.opened_by = None       # where it was opened, for every administrator to see
        self.entries = []           # (time, category, text)
        self.size = 0
        self.dropped = 0

    def boot(self):
        """Call at agent start: nothing from before a reboot may survive it,
        so the adapter purges any tmpfs copy whatever the state."""
        self._purge()
        self.state = CLOSED
        return [Purge("reboot")]

    def _go(self, event):
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            if self.state == OPEN and event == "open":
                raise DebugSessionError("a debug session is already open until %d; close it first"
                                        % self.expires_at)
            raise DebugSessionError("no debug session is open")
        self.state = target

    def _ttl(self, ttl):
        if ttl is None:
            return DEFAULT_TTL
        if type(ttl) is not int or ttl <= 0:
            raise DebugSessionError("the time limit is a whole number of seconds above 0")
        if ttl > MAX_TTL:
            raise DebugSessionError("a debug session lasts at most 24 hours (%d s); asked for %d s"
                                    % (MAX_TTL, ttl))
        return ttl

    def open(self, now, ttl=None, opened_by=None):
        """Open a session; returns its token (hex), which show/export require."""
        ttl = self._ttl(ttl)
        if opened_by is not None and (type(opened_by) is not str or not opened_by
                                      or len(opened_by) > 32):
            raise DebugSessionError("opened_by names where the session was opened "
                                    "(1 to 32 characters)")
        self._go("open")
        self.token = "".join(["%02x" % b for b in self.random_bytes(16)])
        self.opened_at = now
        self.expires_at = now + ttl
        self.opened_by = opened_by
        return self.token

    def extend(self, token, now, ttl=None):
        self._check_token(token)
        ttl = self._ttl(ttl)
        self._go("extend")
        self.expires_at = now + ttl
        return self.expires_at

    def close(self, token, now):
        self._check_token(token)
        self._go("close")
        self._purge()
        return [Purge("closed")]

    def end(self, now):
        """Any administrator ends the session, whoever opened it; its data
        is deleted. Raises DebugSessionError when none is open."""
        self._go("close")
        self._purge()
        return [Purge("closed")]

    def summary(self, now):
        """What every administrator may see: never the entries themselves."""
        if not self.is_open(now):
            return {"open": False, "opened_by": None, "opened_ago": None, "expires_in": None,
                    "entries": 0}
        return {"open": True, "opened_by": self.opened_by, "opened_ago": now - self.opened_at,
                "expires_in": self.expires_at - now, "entries": len(self.entries)}

    def tick(self, now):
        if self.state == OPEN and now >= self.expires_at:
            self._go("expire")
            self._purge()
            return [Purge("expired")]
        return []

    def is_open(self, now):
        return self.state == OPEN and now < self.expires_at

    def record(self, now, category, text):
        """Keep one entry if a session is open; returns whether it was kept."""
        if not self.is_open(now):
            return False
        text = str(text)[:MAX_ENTRY_CHARS]
        entry = (now, str(category)[:32], text)
        self.entries.append(entry)
        self.size += len(text) + len(entry[1])
        while len(self.entries) > self.max_entries or self.size > self.max_bytes:
            old = self.entries.pop(0)
            self.size -= len(old[2]) + len(old[1])
            self.dropped += 1
        return True

    def show(self, token, now):
        """The entries, oldest first, for the person who opened the session."""
        self._check_token(token)
        if not self.is_open(now):
            raise DebugSessionError("the debug session has ended; its data is gone")
        return list(self.entries)

    def export(self, token, now):
        """Text for an explicit export by the session's owner."""
        entries = self.show(token, now)
        lines = ["# vpnspot debug session export: %d entries, %d dropped, opened at %d, expires at %d"
                 % (len(entries), self.dropped, self.opened_at, self.expires_at)]
        for t, category, text in entries:
            lines.append("%d %s %s" % (t, category, text.replace("\n", "\\n")))
        return "\n".join(lines) + "\n"

    def _check_token(self, token):
        if self.state != OPEN:
            raise DebugSessionError("no debug session is open")
        if type(token) is not str or not _same(token, self.token):
            raise DebugSessionError("this debug session belongs to whoever opened it")

    def _purge(self):
        self.entries = []
        self.size = 0
        self.dropped = 0
        self.token = None
        self.opened_at = None
        self.expires_at = None
        self.opened_by = None


def _same(a, b):
    """Compare without stopping at the first difference."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= ord(a[i]) ^ ord(b[i])
    return diff == 0
