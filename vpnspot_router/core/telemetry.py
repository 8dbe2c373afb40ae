"""Provider-bound reports: the ONLY code that builds them, and their queue.

Owns the whitelist of what VPN Spot may learn about a household's router,
the canonical JSON bytes of a report, and the bounded queue that sends
reports with jitter, retries them with backoff and survives reboots (the
adapter persists `ReportQueue.to_bytes()` through store.py).

The whitelist (WHITELIST below; keep the README section "What the agent
reports" and provider/openapi.yaml's TelemetryReport schema in sync):

  schema          int   always 1
  report_id       str   32 lower-case hex digits, random per report; the
                        server stores a report once per id (idempotent retry)
  seq             int   0.. ; +1 per report, so the provider sees gaps
  hardware_model  str   1..64  letters, digits, space and . , _ - + ( ) /
  os_name         str   1..32  letters, digits, space and . _ - +
  os_version      str   1..32  letters, digits and . _ - +
  agent_version   str   1..32  letters, digits and . _ - +
  period_start    int   unix seconds, the start of the reporting period
  period_end      int   unix seconds, > period_start, at most 31 days later
  rx_bytes        int   0..2**63-1, bytes received through the tunnel in the period
  tx_bytes        int   0..2**63-1, bytes sent through the tunnel in the period

The device token authenticates the request (an HTTP header set by the
provider client); it is not payload, so it is not in the whitelist and a
report built here can never carry it.

A report is refused (TelemetryError) when a key is missing or extra, a value
has the wrong type (bool is not int; str subclasses are not str), a string
is too long or holds a character outside its field's alphabet, or a string
looks like an identifier of a household: an IPv4 address (four dot-separated
numbers), an IPv6 address (':' is outside every alphabet), a MAC address
(six hex pairs, three hex quads, or twelve hex digits in a row), an email
address ('@' is outside every alphabet) or a DNS name (a lower-case word with
two or more dots whose last label is letters only, or ending in a common suffix such as .lan, .local,
.home, .com). The checks are a fence around fields that should only ever
hold a board name and version numbers from the hardware probe.

Exception tree:  ValueError -> TelemetryError.
"""

import json

SCHEMA_VERSION = 1
MAX_PERIOD = 31 * 86400
MAX_BYTES = (1 << 63) - 1
MAX_INT = (1 << 53) - 1            # exact in every JSON reader

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_HEX = "0123456789abcdef"
_MODEL_CHARS = _LETTERS + _DIGITS + " .,_-+()/"
_NAME_CHARS = _LETTERS + _DIGITS + " ._-+"
_VERSION_CHARS = _LETTERS + _DIGITS + "._-+"

# Suffixes that make a dotted word a DNS name, whatever its case.
_DNS_SUFFIXES = (".lan", ".local", ".home", ".internal", ".localdomain", ".arpa", ".home.arpa",
                 ".com", ".net", ".org", ".io", ".de", ".uk", ".fr", ".nl", ".eu", ".info", ".box",
                 ".router", ".fritz.box", ".intranet", ".corp", ".localhost")


class TelemetryError(ValueError):
    """A report that may not leave the router, and why."""


def _string(max_len, alphabet):
    return ("str", max_len, alphabet)


def _integer(low, high):
    return ("int", low, high)


WHITELIST = {
    "schema": _integer(SCHEMA_VERSION, SCHEMA_VERSION),
    "report_id": ("id", 32, _HEX),
    "seq": _integer(0, MAX_INT),
    "hardware_model": _string(64, _MODEL_CHARS),
    "os_name": _string(32, _NAME_CHARS),
    "os_version": _string(32, _VERSION_CHARS),
    "agent_version": _string(32, _VERSION_CHARS),
    "period_start": _integer(0, MAX_INT),
    "period_end": _integer(0, MAX_INT),
    "rx_bytes": _integer(0, MAX_BYTES),
    "tx_bytes": _integer(0, MAX_BYTES),
}
KEYS = sorted(WHITELIST)
IDENTITY_KEYS = ("hardware_model", "os_name", "os_version", "agent_version")


def _looks_like_ipv4(word):
    # Punctuation separates like '.', so "pc-192.168.1.10" is caught too.
    cleaned = []
    for ch in word:
        cleaned.append(ch if ch in _DIGITS or ch in _LETTERS else ".")
    parts = "".join(cleaned).split(".")
    run = 0
    for p in parts:
        if p and len(p) <= 3 and _all_in(p, _DIGITS):
            run += 1
            if run >= 4:
                return True
        else:
            run = 0
    return False


def _looks_like_mac(word):
    low = word.lower()
    for sep in ("-", ".", "_"):
        groups = low.split(sep)
        for size, count in ((2, 6), (4, 3)):
            run = 0
            for g in groups:
                if len(g) == size and _all_in(g, _HEX):
                    run += 1
                    if run >= count:
                        return True
                else:
                    run = 0
    run = 0
    for ch in low:
        run = run + 1 if ch in _HEX else 0
        if run >= 12:
            return True
    return False


def _looks_like_dns_name(word):
    if word.count(".") >= 2 and word == word.lower():
        # "host.home.lan" is a name; "22.03.0-rc1" is not: a top-level
        # domain is letters only.
        last = word.split(".")[-1]
        if len(last) >= 2 and _all_in(last, _LETTERS):
            return True
    low = word.lower()
    for suffix in _DNS_SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix):
            return True
    return False


def _all_in(text, alphabet):
    for ch in text:
        if ch not in alphabet:
            return False
    return True


def _check_value(key, value):
    rule = WHITELIST.get(key)
    if rule is None:
        raise TelemetryError("%r is not a reportable field; a report holds only %s"
                             % (str(key)[:40], ", ".join(KEYS)))
    kind = rule[0]
    if kind == "int":
        if type(value) is not int:
            raise TelemetryError("%s must be a whole number, not %s" % (key, type(value).__name__))
        if value < rule[1] or value > rule[2]:
            raise TelemetryError("%s is out of range (%d..%d)" % (key, rule[1], rule[2]))
        return
    if type(value) is not str:
        raise TelemetryError("%s must be text, not %s" % (key, type(value).__name__))
    if kind == "id":
        if len(value) != rule[1] or not _all_in(value, rule[2]):
            raise TelemetryError("%s must be %d lower-case hex digits" % (key, rule[1]))
        return
    if not value or len(value) > rule[1]:
        raise TelemetryError("%s must be 1 to %d characters" % (key, rule[1]))
    for ch in value:
        if ch not in rule[2]:
            # The character is not echoed: it may be part of what must not leak.
            raise TelemetryError("%s holds a character outside its alphabet" % key)
    if value != value.strip() or "  " in value:
        raise TelemetryError("%s has stray spaces" % key)
    for word in value.replace(",", " ").replace("(", " ").replace(")", " ").replace("/", " ").split(" "):
        if _looks_like_ipv4(word):
            raise TelemetryError("%s looks like it holds an IP address" % key)
        if _looks_like_mac(word):
            raise TelemetryError("%s looks like it holds a MAC address" % key)
        if _looks_like_dns_name(word):
            raise TelemetryError("%s looks like it holds a host or domain name" % key)


def check_fields(fields):
    """Raise TelemetryError unless `fields` is a dict with exactly the
    whitelisted keys, each value within its rule."""
    if type(fields) is not dict:
        raise TelemetryError("a report is built from a dict of fields")
    for key in fields:
        if type(key) is not str or key not in WHITELIST:
            raise TelemetryError("%r is not a reportable field; a report holds only %s"
                                 % (str(key)[:40], ", ".join(KEYS)))
    for key in KEYS:
        if key not in fields:
            raise TelemetryError("%s is missing" % key)
        _check_value(key, fields[key])
    if fields["period_end"] <= fields["period_start"]:
        raise TelemetryError("period_end must be after period_start")
    if fields["period_end"] - fields["period_start"] > MAX_PERIOD:
        raise TelemetryError("a period is at most 31 days")


def _encode(fields):
    # Canonical: sorted keys, no spaces, ASCII only. Built by hand so the
    # bytes are the same in CPython and MicroPython (whose json.dumps has no
    # sort_keys); every value was checked, so json.dumps of each is plain.
    parts = []
    for key in KEYS:
        parts.append('"%s":%s' % (key, json.dumps(fields[key])))
    return ("{" + ",".join(parts) + "}").encode()


def build_report(fields):
    """Checked fields -> the report's JSON bytes, or TelemetryError."""
    check_fields(fields)
    return _encode(fields)


def check_report(data):
    """Raise TelemetryError unless `data` is exactly what build_report would
    produce: the last check before bytes leave for the provider, and what the
    privacy tests apply to every captured payload."""
    if type(data) is not bytes:
        raise TelemetryError("a report is bytes")
    try:
        fields = json.loads(data)
    except ValueError:
        raise TelemetryError("not JSON")
    check_fields(fields)
    if _encode(fields) != data:
        # Duplicate keys, extra spaces, reordered or escaped text: anything
        # that could hide a second meaning in the bytes.
        raise TelemetryError("not in the canonical form build_report writes")
    return fields


def new_report_id(random_bytes):
    return "".join(["%02x" % b for b in random_bytes(16)])


class Identity:
    """What the router is: from the hardware probe and the package version."""

    def __init__(self, hardware_model, os_name, os_version, agent_version):
        self.hardware_model = hardware_model
        self.os_name = os_name
        self.os_version = os_version
        self.agent_version = agent_version
        for key in IDENTITY_KEYS:
            _check_value(key, getattr(self, key))


# -- the queue -----------------------------------------------------------

class QueuedReport:
    def __init__(self, report_id, seq, body, attempts, next_attempt):
        self.report_id = report_id
        self.seq = seq
        self.body = body
        self.attempts = attempts
        self.next_attempt = next_attempt

    def __repr__(self):
        return "QueuedReport(seq=%d, attempts=%d, next=%d)" % (self.seq, self.attempts, self.next_attempt)


def _unit(random_bytes):
    """A fraction in [0, 1) from 4 injected random bytes."""
    b = random_bytes(4)
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) / 4294967296.0


class ReportQueue:
    """Reports waiting to be accepted by the provider, oldest first.

    Sans-IO: the caller asks due(now) for the report to send, sends it, and
    tells the queue accepted(report_id) or failed(report_id, now). Times are
    seconds. Bounded: when full, the oldest report is dropped (counted in
    `dropped`), because a router that cannot reach the provider for weeks
    must not fill its flash. `changed` is True when the adapter should
    persist to_bytes().

    First send: period end + a random delay in [0, first_jitter), so routers
    do not all report at the top of the hour. Retries: base_delay * 2**n,
    capped at max_delay, times a random factor in [0.5, 1.5).
    """

    def __init__(self, random_bytes, capacity=64, first_jitter=300, base_delay=60,
                 max_delay=6 * 3600):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.random_bytes = random_bytes
        self.capacity = capacity
        self.first_jitter = first_jitter
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.items = []
        self.next_seq = 0
        self.dropped = 0
        self.changed = False

    def add(self, identity, period_start, period_end, rx_bytes, tx_bytes, now):
        """Build the next report (TelemetryError if anything is off) and queue it."""
        fields = {
            "schema": SCHEMA_VERSION,
            "report_id": new_report_id(self.random_bytes),
            "seq": self.next_seq,
            "hardware_model": identity.hardware_model,
            "os_name": identity.os_name,
            "os_version": identity.os_version,
            "agent_version": identity.agent_version,
            "period_start": period_start,
            "period_end": period_end,
            "rx_bytes": rx_bytes,
            "tx_bytes": tx_bytes,
        }
        body = build_report(fields)
        delay = int(self.first_jitter * _unit(self.random_bytes))
        item = QueuedReport(fields["report_id"], self.next_seq, body, 0, now + delay)
        self.next_seq += 1
        self.items.append(item)
        while len(self.items) > self.capacity:
            self.items.pop(0)
            self.dropped += 1
        self.changed = True
        return item

    def due(self, now):
        """The oldest report whose time has come, or None. One at a time, in
        order, so the provider sees sequence numbers ascend."""
        if self.items and self.items[0].next_attempt <= now:
            return self.items[0]
        return None

    def next_wakeup(self):
        return self.items[0].next_attempt if self.items else None

    def _find(self, report_id):
        for item in self.items:
            if item.report_id == report_id:
                return item
        return None

    def accepted(self, report_id):
        """The provider stored it (or had it already: same id). Unknown ids are ignored."""
        item = self._find(report_id)
        if item is not None:
            self.items.remove(item)
            self.changed = True

    def failed(self, report_id, now):
        item = self._find(report_id)
        if item is None:
            return None
        delay = self.base_delay
        n = 0
        while n < item.attempts and delay < self.max_delay:
            delay *= 2
            n += 1
        delay = min(delay, self.max_delay)
        item.attempts += 1
        item.next_attempt = now + int(delay * (0.5 + _unit(self.random_bytes)))
        self.changed = True
        return item.next_attempt

    # -- persistence (bytes for the store adapter) -----------------------

    def to_bytes(self):
        self.changed = False
        items = []
        for it in self.items:
            items.append([it.report_id, it.seq, it.body.decode(), it.attempts, it.next_attempt])
        return json.dumps({"v": 1, "next_seq": self.next_seq, "dropped": self.dropped,
                           "items": items}).encode()

    def restore(self, data):
        """Load what to_bytes wrote; ValueError (queue unchanged) if it is damaged.
        Every body is checked again, so a tampered file cannot smuggle a payload."""
        try:
            state = json.loads(data)
            if state.get("v") != 1:
                raise ValueError("unknown queue version")
            items = []
            for rid, seq, body, attempts, next_attempt in state["items"]:
                body = body.encode()
                fields = check_report(body)
                if fields["report_id"] != rid or fields["seq"] != seq:
                    raise ValueError("a queued report does not match its entry")
                if type(attempts) is not int or type(next_attempt) is not int:
                    raise ValueError("bad retry state")
                items.append(QueuedReport(rid, seq, body, attempts, next_attempt))
            next_seq = state["next_seq"]
            dropped = state["dropped"]
            if type(next_seq) is not int or type(dropped) is not int:
                raise ValueError("bad counters")
            for it in items:
                if it.seq >= next_seq:
                    raise ValueError("a queued report is newer than the sequence counter")
        except (KeyError, TypeError, IndexError, AttributeError, RuntimeError) as e:
            # AttributeError: a file that is JSON but not the queue's shape (a
            # list, a number, a body that is not text); RuntimeError: nesting
            # deeper than the stack (CPython's RecursionError is one; MicroPython
            # has no such name). Both are damage, like the others.
            raise ValueError("the report queue file is damaged (%s)" % type(e).__name__)
        self.items = items[-self.capacity:]
        self.dropped = dropped + len(items) - len(self.items)
        self.next_seq = next_seq
        self.changed = False
