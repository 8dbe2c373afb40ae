"""Runtime gate: the core's own tests (tests/core/) pass under real MicroPython.

Data flow:
  tests/core/*.py --ast--> one pytest item per module-level `def test_...()`
  first item asks  --> one MicroPython run per module (runner.py, wasm),
                       all modules at once, spread over the CPU cores
  mp_driver.py     --> one "@mp-result {...}" line per test
  each item        --> passes, fails with the MicroPython traceback, or is
                       expected to fail (KNOWN_FAILING) / left out (skipped)

Nothing is imported from tests/core/ on this side: modules are parsed, so a
module that only MicroPython cannot import still yields one item per test.

What stays out of MicroPython, and why, is written in exactly two places:
a module's own `CPYTHON_ONLY = "reason"`, or LEFT_OUT / KNOWN_FAILING below.
A module importing pytest or hypothesis must say CPYTHON_ONLY; this file
fails it otherwise, rather than guess. conftest.py prints the counts.

Tests run with PureProvider and mp_driver.TestOnlyRandom seeded from
VPNSPOT_MP_SEED (default below) and the test's name: a failure message
names the seed, and rerunning with it reproduces the same random bytes.
"""

import ast
import concurrent.futures
import json
import os
import pathlib
import threading

import pytest

import runner

CORE_TESTS_DIR = runner.PROJECT_DIR / "tests" / "core"
DRIVER = "tests/micropython/mp_driver.py"
SEED = os.environ.get("VPNSPOT_MP_SEED", "vpnspot-core-tests")
# Each test module gets this long in one MicroPython run; the suite as a
# whole is meant to stay within two or three minutes on two cores.
MODULE_TIMEOUT = float(os.environ.get("VPNSPOT_MP_MODULE_TIMEOUT", "240"))
# The WASI build's garbage collector corrupts memory whenever it runs, so
# mp_driver turns it off and restarts (a fresh interpreter, a fresh heap)
# once half the heap is used or a test runs out of it. The heap must hold
# everything one test allocates: a handshake takes about 25 MiB, the
# hungriest test (90 s of handshake retries in test_timers.py) about
# 300 MiB. Pages are touched only as they are used.
HEAPSIZE = os.environ.get("VPNSPOT_MP_HEAPSIZE", "512M")

# Modules ("test_x.py") or tests ("test_x.py::test_y") kept out of
# MicroPython, beyond those declaring CPYTHON_ONLY, with the reason.
LEFT_OUT = {
}

# Modules or tests that run under MicroPython but are known to fail there,
# with the reason and the fix that is pending. An entry that starts passing
# (or whose module becomes CPYTHON_ONLY) fails the suite, so this list
# cannot go stale.
KNOWN_FAILING = {}

PYTEST_ONLY_IMPORTS = ("pytest", "hypothesis", "_pytest")


class CoreTest(object):
    def __init__(self, module_file, name, line, params):
        self.module_file = module_file
        self.name = name
        self.line = line
        self.params = params

    @property
    def key(self):
        return "%s::%s" % (self.module_file, self.name)

    @property
    def spec(self):
        """The driver's argument: the name, plus ':provider' when the test
        takes the provider as its one parameter."""
        return self.name + (":provider" if self.params == ["provider"] else "")


class CoreModule(object):
    def __init__(self, path):
        self.path = path
        self.file = path.name
        self.dotted = "core." + path.stem     # the name pytest gives it too
        self.cpython_only = None
        self.pytest_import_line = None
        self.parse_error = None
        self.tests = []


def discover():
    """Every tests/core/*.py, parsed with ast (never imported)."""
    modules = []
    for path in sorted(CORE_TESTS_DIR.glob("*.py")):
        module = CoreModule(path)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as e:
            module.parse_error = "%s:%s: %s" % (path.name, e.lineno, e.msg)
            modules.append(module)
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "CPYTHON_ONLY" for t in node.targets):
                value = node.value
                module.cpython_only = (value.value if isinstance(value, ast.Constant)
                                       else ast.unparse(value))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and node.name.startswith("test"):
                params = [a.arg for a in node.args.posonlyargs + node.args.args
                          + node.args.kwonlyargs]
                if node.args.vararg or node.args.kwarg:
                    params.append("*")
                module.tests.append(CoreTest(path.name, node.name, node.lineno, params))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            if any(n.split(".")[0] in PYTEST_ONLY_IMPORTS for n in names):
                module.pytest_import_line = node.lineno
                break
        modules.append(module)
    return modules


MODULES = discover()


def _left_out_reason(module):
    if module.cpython_only is not None:
        return "CPYTHON_ONLY: %s" % module.cpython_only
    return LEFT_OUT.get(module.file)


def _runnable(module):
    return (module.parse_error is None and _left_out_reason(module) is None
            and module.pytest_import_line is None)


def _params():
    out = []
    for module in MODULES:
        reason = _left_out_reason(module)
        if reason is not None:
            out.append(pytest.param(module, None, id=module.file,
                                    marks=pytest.mark.skip(reason="left out of MicroPython: "
                                                           + reason)))
            continue
        if not module.tests and not module.file.startswith("test_"):
            continue    # a helper such as pair.py, imported by the tests themselves
        if module.parse_error is not None or module.pytest_import_line is not None \
                or not module.tests:
            out.append(pytest.param(module, None, id=module.file))
            continue
        for test in module.tests:
            marks = ()
            if test.key in LEFT_OUT:
                marks = pytest.mark.skip(reason="left out of MicroPython: " + LEFT_OUT[test.key])
            out.append(pytest.param(module, test, id=test.key, marks=marks))
    return out


# ------------------------------------------------------------- running

def _driver_args(module, tests):
    return [module.dotted, SEED] + [t.spec for t in tests]


def run_module(module, tests):
    """Run `tests` of one module under MicroPython. Returns (results by test
    name, number of wasm runs, seconds). A run that dies (trap, timeout)
    charges the test that was running and resumes with the next one."""
    results = {}
    runs = 0
    seconds = 0.0
    remaining = list(tests)
    while remaining:
        outcome = runner.run(DRIVER, _driver_args(module, remaining),
                             heapsize=HEAPSIZE, timeout=MODULE_TIMEOUT)
        runs += 1
        seconds += outcome.seconds
        printed = []
        done = restart = False
        for line in outcome.stdout.splitlines():
            if line == "@mp-restart":
                restart = True
            elif line.startswith("@mp-result "):
                result = json.loads(line[len("@mp-result "):])
                result["output"] = "\n".join(printed)
                printed = []
                results[result["test"]] = result
            elif line.startswith("@mp-done "):
                done = True
            else:
                printed.append(line)
        if "<import>" in results:
            failure = results.pop("<import>")
            for test in remaining:
                results[test.name] = dict(failure, test=test.name,
                                          detail="importing %s failed under MicroPython:\n%s"
                                          % (module.file, failure["detail"]))
            break
        unreported = [t for t in remaining if t.name not in results]
        if not unreported:
            break
        if restart and len(unreported) < len(remaining):
            remaining = unreported
            continue
        # The interpreter died: blame the first test without a result.
        victim = unreported[0]
        hint = ""
        if restart:
            hint = ("\nIt ran out of the %s heap on a fresh interpreter: raise "
                    "VPNSPOT_MP_HEAPSIZE." % HEAPSIZE)
        elif outcome.exit_code == runner.TRAP_EXIT:
            hint = ("\nA memory fault in this WASI build usually means its garbage collector "
                    "ran, which mp_driver.py is meant to prevent (see its docstring).")
        results[victim.name] = {
            "test": victim.name, "status": "crashed", "seconds": outcome.seconds,
            "output": "\n".join(printed),
            "detail": "MicroPython exited with status %d before reporting this test.\n%s%s"
                      % (outcome.exit_code, outcome.stderr.strip(), hint)}
        remaining = unreported[1:]
    return results, runs, seconds


_lock = threading.Lock()
_futures = {}


def _selected_keys(session):
    """The core tests this pytest session will report (after -k, node ids...)."""
    keys = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        test = callspec.params.get("test") if callspec is not None else None
        if isinstance(test, CoreTest):
            keys.add(test.key)
    return keys


def _results_for(module, session):
    # The first item to ask starts every module's selected tests at once;
    # wasmtime releases the GIL while guest code runs, so the runs use all
    # cores.
    with _lock:
        if not _futures:
            selected = _selected_keys(session)
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
            for m in MODULES:
                if _runnable(m):
                    wanted = [t for t in m.tests if t.key in selected and t.key not in LEFT_OUT]
                    if wanted:
                        _futures[m.file] = pool.submit(run_module, m, wanted)
            pool.shutdown(wait=False)
    return _futures[module.file].result()


def _describe(module, test, result):
    text = "%s:%d %s under MicroPython (seed %r, %.2f s):\n%s" % (
        "tests/core/" + module.file, test.line, result["status"].upper(), SEED,
        result["seconds"], result["detail"].rstrip())
    if result.get("output"):
        text += "\n--- printed by the test ---\n" + result["output"]
    return text


# --------------------------------------------------------------- tests

def test_the_core_tests_exist_and_some_run_under_micropython():
    assert MODULES, "no test modules found in %s" % CORE_TESTS_DIR
    runnable = [t for m in MODULES if _runnable(m) for t in m.tests if t.key not in LEFT_OUT]
    assert runnable, "every core test is left out of MicroPython: the gate would prove nothing"


def test_every_left_out_or_known_failing_entry_names_a_real_module_or_test():
    known = set()
    for m in MODULES:
        known.add(m.file)
        known.update(t.key for t in m.tests)
    stale = sorted(k for k in list(LEFT_OUT) + list(KNOWN_FAILING) if k not in known)
    assert not stale, "entries naming nothing in tests/core/ (remove them): %s" % stale
    cpython_only = set(m.file for m in MODULES if m.cpython_only is not None)
    redundant = sorted(k for k in list(LEFT_OUT) + list(KNOWN_FAILING)
                       if k.split("::")[0] in cpython_only)
    assert not redundant, ("entries for modules that now declare CPYTHON_ONLY "
                           "(remove them): %s" % redundant)


@pytest.mark.parametrize("module, test", _params())
def test_core_test_passes_under_micropython(module, test, record_property, request):
    if module.parse_error is not None:
        pytest.fail("tests/core/%s does not parse: %s" % (module.file, module.parse_error),
                    pytrace=False)
    if module.pytest_import_line is not None:
        pytest.fail("tests/core/%s:%d imports pytest or hypothesis, which MicroPython lacks, "
                    "but the module does not say so: add a module-level "
                    "CPYTHON_ONLY = \"<why it cannot run under MicroPython>\"."
                    % (module.file, module.pytest_import_line), pytrace=False)
    if test is None:
        pytest.fail("tests/core/%s has no module-level test functions; MicroPython runs "
                    "only plain `def test_...()` functions" % module.file, pytrace=False)
    if test.params not in ([], ["provider"]):
        pytest.fail("tests/core/%s:%d %s takes (%s): under MicroPython a core test is a plain "
                    "function with no parameters, or one named provider. Make it plain, or "
                    "mark the module CPYTHON_ONLY." % (module.file, test.line, test.name,
                                                       ", ".join(test.params)), pytrace=False)
    results, runs, seconds = _results_for(module, request.session)
    result = results.get(test.name)
    assert result is not None, "mp_driver.py reported nothing for %s" % test.key
    record_property("mp_seconds", result["seconds"])
    record_property("mp_module", module.file)
    record_property("mp_module_runs", runs)
    record_property("mp_module_seconds", seconds)
    reason = KNOWN_FAILING.get(test.key) or KNOWN_FAILING.get(module.file)
    if result["status"] == "pass":
        if reason is not None:
            pytest.fail("%s passes under MicroPython now: remove its KNOWN_FAILING entry in %s"
                        % (test.key, pathlib.Path(__file__).name), pytrace=False)
        return
    if reason is not None:
        pytest.xfail("known to fail under MicroPython: %s" % reason)
    pytest.fail(_describe(module, test, result), pytrace=False)
