"""Runs named core test functions inside MicroPython and prints one result line each.

Owns: the MicroPython side of tests/micropython/test_core_under_micropython.py.
That file (CPython) decides which tests run; this one only runs them:

  micropython mp_driver.py MODULE SEED TEST [TEST...]

imports MODULE (e.g. core.test_replay, with /input/tests and /input on
sys.path, the same names pytest gives tests/core/ modules), then for each
TEST calls the module-level function with no arguments (or with the provider
when its one parameter is written `TEST:provider`), and prints

  @mp-result {"test": ..., "status": "pass"|"fail"|"error", "seconds": ...,
              "allocated_kib": ..., "detail": ...}

"fail" is an AssertionError, "error" any other exception; detail is the
MicroPython traceback. A module that does not import gives one line for the
test "<import>" and exit status 3. The last line is "@mp-done N".

Memory: this WASI build's garbage collector frees objects that are still in
use (most likely a frame or big integer referenced only from a WebAssembly
local, which its stack scan cannot see), so a collection mid-run corrupts
memory: both the automatic one on
a full heap and an explicit gc.collect() under a large frame crash. This
driver therefore turns the collector off (gc.disable(): a full heap then
raises MemoryError instead of collecting) and starts over instead:
- before each test, once about half the heap is used, it prints
  "@mp-restart" and stops; the caller starts a fresh interpreter for the
  tests that are left;
- a test that fails while the heap is nearly full (MemoryError, or anything
  a broad `except` made of it) is not reported but retried the same way,
  unless it was the first test of a fresh heap.
Usage is estimated from micropython.mem_total() (a counter) and the heap
size the runner passes in MICROPYTHON_HEAPSIZE, because gc.mem_free() walks
the whole heap (about 0.1 s per call per 256 MiB); that walk is paid only
after a failure.

Provider: every test gets a fresh PureProvider whose random source is
TestOnlyRandom seeded with SEED and the test's name, installed through
pair.use_provider() and as vpnspot_router.crypto.default_provider, so a
test's random draws do not depend on which tests ran before it.

Keep this file MicroPython-compatible (it is also valid CPython, which helps
when debugging a failure on both sides).
"""

import gc
import hashlib
import io
import json
import sys
import time

RESULT_PREFIX = "@mp-result "
DONE_PREFIX = "@mp-done "
RESTART_LINE = "@mp-restart"


class TestOnlyRandom(object):
    """FOR TESTS ONLY. NOT A SECURE RANDOM SOURCE.

    SHA-256 in counter mode over a seed everybody can read: the bytes look
    random but anyone who knows the seed predicts every one of them. It
    exists because the WASI MicroPython build has no entropy (os.urandom
    raises) and because tests must reproduce: a failure names its seed.
    Never hand it to a provider that protects real traffic.
    """

    def __init__(self, seed):
        if isinstance(seed, str):
            seed = seed.encode()
        self._seed = bytes(seed)
        self._counter = 0
        self._buffer = b""

    def __call__(self, n):
        while len(self._buffer) < n:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._buffer += block
            self._counter += 1
        out = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return out


def _ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def _elapsed_ms(start):
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(time.ticks_ms(), start)
    return _ms() - start


def _traceback(exc):
    buf = io.StringIO()
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, buf)
    else:
        import traceback
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=buf)
    return buf.getvalue()


def _report(test, status, ms, detail, allocated=0):
    # One line per test, written before the next test starts, so a crash of
    # the interpreter still leaves the results of the tests before it.
    print(RESULT_PREFIX + json.dumps({"test": test, "status": status, "seconds": ms / 1000.0,
                                      "allocated_kib": allocated // 1024, "detail": detail}))


def _heap_bytes():
    import os
    text = (os.getenv("MICROPYTHON_HEAPSIZE") or "").strip().upper()
    scale = {"K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024}
    try:
        if text and text[-1] in scale:
            return int(text[:-1]) * scale[text[-1]]
        if text:
            return int(text)
    except ValueError:
        pass
    return gc.mem_free() + gc.mem_alloc()


def _allocated_so_far():
    """Bytes requested from the heap since start: cheap, never collects."""
    try:
        import micropython
        return micropython.mem_total()
    except (ImportError, AttributeError):
        return gc.mem_alloc()


def _install_provider(seed, test):
    from vpnspot_router.crypto.pure import PureProvider
    import vpnspot_router.crypto as crypto_package
    provider = PureProvider(TestOnlyRandom("%s|%s" % (seed, test)))
    crypto_package.default_provider = lambda: provider
    # pair.py may be loaded under more than one name (core.pair,
    # tests.core.pair); every copy must hand out the same provider.
    for module in list(sys.modules.values()):
        hook = getattr(module, "use_provider", None)
        if hook is not None and callable(hook):
            hook(provider)
    return provider


def main(argv):
    if len(argv) < 3:
        print("usage: mp_driver.py MODULE SEED TEST[:provider] [...]")
        return 2
    gc.disable()    # see "Memory" above: collecting is what crashes
    module_name, seed, specs = argv[1], argv[2], argv[3:]
    for path in ("/input", "/input/tests"):
        if path not in sys.path:
            sys.path.insert(0, path)

    # The provider goes in before the import too: modules may build objects
    # at import time from default_provider().
    _install_provider(seed, "<import>")
    start = _ms()
    try:
        module = __import__(module_name, None, None, ["__name__"])
    except BaseException as exc:  # a SyntaxError or SystemExit must not hide the report either
        _report("<import>", "error", _elapsed_ms(start), _traceback(exc))
        print(DONE_PREFIX + "0")
        return 3

    heap = _heap_bytes()
    ran = 0
    for spec in specs:
        # mem_total() counts bytes asked for since start; blocks are rounded
        # up to 16 bytes, which costs about a fifth more: add half again.
        if ran and _allocated_so_far() * 3 // 2 > heap // 2:
            print(RESTART_LINE)
            break
        name, _, param = spec.partition(":")
        fn = getattr(module, name, None)
        provider = _install_provider(seed, name)
        if fn is None:
            _report(name, "error", 0, "no function %s in %s" % (name, module_name))
            continue
        before = _allocated_so_far()
        start = _ms()
        status = "pass"
        try:
            if param:
                fn(provider)
            else:
                fn()
        except MemoryError:
            # Nothing that allocates is safe here: say so with a ready-made
            # string and let the caller start over.
            status = None
        except AssertionError as exc:
            status = "fail"
            detail = exc
        except Exception as exc:
            status = "error"
            detail = exc
        if status is None or (status != "pass" and gc.mem_free() < heap // 8):
            if ran == 0 and status is not None:
                _report(name, status, _elapsed_ms(start),
                        "the heap was nearly full when this test failed, on a fresh "
                        "interpreter: raise VPNSPOT_MP_HEAPSIZE\n" + _traceback(detail))
            print(RESTART_LINE)
            break
        _report(name, status, _elapsed_ms(start), "" if status == "pass" else _traceback(detail),
                _allocated_so_far() - before)
        detail = None
        ran += 1
    print(DONE_PREFIX + str(ran))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
