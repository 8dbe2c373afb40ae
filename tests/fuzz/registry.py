"""The registry of fuzz targets: every parser that takes outside input, by name.

Owns the Target record and `register`, nothing else. Target modules are the
files `tests/fuzz/targets_*.py`; run.py imports every one of them, so a new
parser (web UI forms, console lines, ...) joins the campaign by adding such
a file that calls `register(...)` at import time. No other file changes.

A target is one function `check(data)` taking fuzzer bytes. It turns the
bytes into the parser's input (text, JSON, a WireGuard datagram ...), calls
the parser, and returns normally when the parser answered the way its
documentation promises: a result, or one of the `expected` exceptions (the
module's documented error type, e.g. ConfigError). Anything else it raises
is a failure, and so is an AssertionError from an invariant the target
checks (a round trip that changed the text, a tunnel that stopped
carrying packets).

Fields:
  name      dotted, group first: wg.*, ip.* (1,000,000 inputs in the
            campaign), anything else (100,000)
  check     the function above
  expected  tuple of exception types that are documented answers
  seeds     a few valid inputs to start from (bytes), so the fuzzer begins
            inside the grammar instead of having to discover it
  max_len   the longest input the fuzzer generates
  setup     optional function called once per worker process before the
            first input (builds state such as an established tunnel)
"""

WIRE_GROUPS = ("wg", "ip")
WIRE_INPUTS = 1000000
OTHER_INPUTS = 100000

TARGETS = {}


class Target:
    def __init__(self, name, check, expected=(), seeds=(), max_len=4096, setup=None, doc=""):
        self.name = name
        self.check = check
        self.expected = tuple(expected)
        self.seeds = [bytes(s) for s in seeds]
        self.max_len = max_len
        self.setup = setup
        self.doc = doc

    @property
    def group(self):
        return self.name.split(".", 1)[0]

    @property
    def campaign_inputs(self):
        """Inputs per target in the full campaign (issue 11's targets)."""
        return WIRE_INPUTS if self.group in WIRE_GROUPS else OTHER_INPUTS


def register(name, check, expected=(), seeds=(), max_len=4096, setup=None, doc=""):
    if name in TARGETS:
        raise ValueError("fuzz target %r registered twice" % name)
    target = Target(name, check, expected, seeds, max_len, setup, doc)
    TARGETS[name] = target
    return target


def load_all():
    """Import every targets_*.py beside this file; returns TARGETS."""
    import importlib
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    for fname in sorted(os.listdir(here)):
        if fname.startswith("targets_") and fname.endswith(".py"):
            importlib.import_module("tests.fuzz." + fname[:-3])
    return TARGETS


class Bytes:
    """Reads fuzzer bytes as a sequence of small decisions; past the end
    every read returns zeros, so any input is a complete recipe."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int(self, nbytes):
        n = 0
        for _ in range(nbytes):
            n = (n << 8) | self.byte()
        return n

    def choice(self, options):
        return options[self.byte() % len(options)]

    def take(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def rest(self):
        chunk = self.data[self.pos:]
        self.pos = len(self.data)
        return chunk
