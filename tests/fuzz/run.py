"""The fuzz campaign: every parser that takes outside input, a set number of inputs each.

    .venv/bin/python tests/fuzz/run.py                    full campaign (issue 11's counts)
    .venv/bin/python tests/fuzz/run.py --smoke            a few thousand inputs per target
    .venv/bin/python tests/fuzz/run.py --target wg. --inputs 50000 --jobs 2
    .venv/bin/python tests/fuzz/run.py --list
    .venv/bin/python tests/fuzz/run.py --replay wg.transport.after FILE
    .venv/bin/python tests/fuzz/run.py --summary OUT [OUT...]   table of earlier runs

Run the full campaign with `nice -n 19`: it takes about two hours of CPU
(`--jobs 2` spreads the targets over two cores).

Targets come from tests/fuzz/targets_*.py (see registry.py for how to add
one). Each target runs in its own worker process, so a target that hangs
or exhausts memory is reported and the others still run. The engine is
atheris (libFuzzer, coverage-guided over vpnspot_router's bytecode) when it
is installed, else a mutation engine without coverage (--engine random);
--smoke uses the mutation engine unless told otherwise. The output says
which engine ran.

A failure is an exception other than the target's documented error types,
an invariant a target checks (AssertionError), or an input that takes
longer than SLOW_INPUT seconds. Per target the output shows inputs tried,
failures (distinct kinds in brackets) and time; each failing input is
minimized and saved under OUT/crashes/ with a traceback, to become a
regression test. libFuzzer's log and the growing corpus are in OUT/ too.
Exit status: 0 when every target reached its count with no failure.
"""

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(os.path.dirname(HERE))
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

SMOKE_INPUTS = 2000
SLOW_INPUT = 2.0            # seconds: a parser this slow on one input is a DoS
STATUS_EVERY = 2000         # inputs between progress writes of a worker
MINIMIZE_RUNS = 3000
DEFAULT_OUT = os.path.join(os.environ.get("TMPDIR", "/tmp"), "vpnspot-fuzz")


def have_atheris():
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- the worker

class Runner:
    """Counts inputs and failures for one target; writes progress to a JSON file."""

    def __init__(self, target, inputs, out, engine):
        self.target = target
        self.inputs = inputs
        self.out = out
        self.engine = engine
        self.tried = 0
        self.failures = {}          # signature -> {"count", "message", "file"}
        self.started = time.time()
        self.status_path = os.path.join(out, "%s.json" % target.name)
        self.crash_dir = os.path.join(out, "crashes")

    def one(self, data):
        self.tried += 1
        t0 = time.perf_counter()
        try:
            self.target.check(data)
        except self.target.expected:
            pass
        except Exception as e:          # noqa: BLE001 - every escape is what we count
            self.failed(data, e)
        elapsed = time.perf_counter() - t0
        if elapsed > SLOW_INPUT:
            self.failed(data, TimeoutError("one input took %.1f s" % elapsed))
        if self.tried % STATUS_EVERY == 0:
            self.write_status(done=False)

    def failed(self, data, exc):
        sig = signature(exc)
        entry = self.failures.get(sig)
        if entry is None:
            entry = self.failures[sig] = {"count": 0, "message": _short(exc), "file": None,
                                          "inputs": [data]}
            entry["traceback"] = "".join(traceback.format_exception(type(exc), exc,
                                                                    exc.__traceback__))[-3000:]
            burst = getattr(exc, "burst", None)
            if burst is not None:
                entry["burst"] = [b.hex() for b in burst]
        entry["count"] += 1

    def write_status(self, done):
        failures = {}
        for sig, f in self.failures.items():
            failures[sig] = {k: v for k, v in f.items() if k != "inputs"}
        status = {"target": self.target.name, "engine": self.engine, "inputs": self.tried,
                  "goal": self.inputs, "failures": sum(f["count"] for f in self.failures.values()),
                  "kinds": failures, "seconds": round(time.time() - self.started, 1), "done": done}
        tmp = self.status_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(status, f, indent=1)
        os.replace(tmp, self.status_path)

    def finish(self):
        """Minimize and save each failure, write the final status."""
        if self.failures:
            os.makedirs(self.crash_dir, exist_ok=True)
        for sig, entry in self.failures.items():
            data = entry["inputs"][0]
            if "burst" not in entry:
                data = minimize(self.target, data, sig)
            name = "%s-%s" % (self.target.name, hashlib.sha256(sig.encode()).hexdigest()[:10])
            path = os.path.join(self.crash_dir, name + ".bin")
            with open(path, "wb") as f:
                f.write(data)
            with open(os.path.join(self.crash_dir, name + ".txt"), "w") as f:
                f.write("target: %s\nsignature: %s\nminimized input: %r\n\n%s\n"
                        % (self.target.name, sig, data, entry["traceback"]))
                if "burst" in entry:
                    f.write("\nthe inputs of the burst (hex), in order:\n%s\n"
                            % "\n".join(entry["burst"]))
            entry["file"] = path
            entry["minimized"] = repr(data)[:400]
            entry.pop("burst", None)
        self.write_status(done=True)


def signature(exc):
    """Exception type + the innermost frame in project code: one per bug."""
    where = "?"
    tb = exc.__traceback__
    while tb is not None:
        fname = tb.tb_frame.f_code.co_filename
        if "vpnspot_router" in fname or "tests" + os.sep + "fuzz" in fname:
            where = "%s:%d" % (os.path.relpath(fname, PROJECT), tb.tb_lineno)
        tb = tb.tb_next
    return "%s@%s" % (type(exc).__name__, where)


def _short(exc):
    text = "%s: %s" % (type(exc).__name__, exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _same_failure(target, data, sig):
    try:
        target.check(data)
    except target.expected:
        return False
    except Exception as e:              # noqa: BLE001
        return signature(e) == sig
    return False


def minimize(target, data, sig):
    """Shortest input (by chunk removal, then byte simplification) that still
    fails the same way; bounded by MINIMIZE_RUNS calls."""
    budget = [MINIMIZE_RUNS]

    def fails(candidate):
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        return _same_failure(target, candidate, sig)

    if not fails(data):
        return data                     # stateful: depends on what came before
    chunk = max(1, len(data) // 2)
    while chunk >= 1 and budget[0] > 0:
        i = 0
        while i < len(data) and budget[0] > 0:
            candidate = data[:i] + data[i + chunk:]
            if fails(candidate):
                data = candidate
            else:
                i += chunk
        chunk //= 2
    for i in range(len(data)):
        if budget[0] <= 0:
            break
        if data[i] != 0x30:
            candidate = data[:i] + b"0" + data[i + 1:]
            if fails(candidate):
                data = candidate
    return data


def run_worker(args):
    if args.engine == "atheris":
        import atheris
        # Coverage feedback from the project's code only: the harness and
        # the standard library would drown it.
        with atheris.instrument_imports(include=["vpnspot_router"]):
            from tests.fuzz import registry
            registry.load_all()
    else:
        from tests.fuzz import registry
        registry.load_all()
    target = registry.TARGETS[args.worker]
    if target.setup is not None:
        target.setup()
    runner = Runner(target, args.inputs, args.out, args.engine)
    runner.write_status(done=False)
    if args.engine == "atheris":
        corpus = os.path.join(args.out, "corpus", target.name)
        os.makedirs(corpus, exist_ok=True)
        for i, seed in enumerate(target.seeds):
            with open(os.path.join(corpus, "seed-%d" % i), "wb") as f:
                f.write(seed)

        def one(data):
            runner.one(data)
            if runner.tried >= runner.inputs:
                runner.finish()
                sys.stdout.flush()
                os._exit(0)
        atheris.Setup([sys.argv[0], "-runs=%d" % (args.inputs * 10), "-max_len=%d" % target.max_len,
                       "-seed=%d" % args.seed, "-rss_limit_mb=3072", "-timeout=60",
                       "-print_final_stats=0", corpus], one)
        atheris.Fuzz()
        runner.finish()             # only if libFuzzer stopped early (e.g. -runs)
    else:
        rng = random.Random(args.seed)
        pool = list(target.seeds) or [b""]
        while runner.tried < runner.inputs:
            data = mutate(rng, pool, target.max_len)
            runner.one(data)
            if len(pool) < 256 and rng.random() < 0.01:
                pool.append(data)
        runner.finish()
    return 0


def mutate(rng, pool, max_len):
    """Seed-based mutation without coverage feedback (the engine when atheris
    is missing, and the smoke test's fallback)."""
    data = bytearray(rng.choice(pool))
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        if op == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[rng.randrange(len(data))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        elif op == 2:
            at = rng.randint(0, len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 3 and data:
            at = rng.randrange(len(data))
            del data[at:at + rng.randint(1, 32)]
        elif op == 4:
            other = rng.choice(pool)
            if other:
                a = rng.randrange(len(other))
                at = rng.randint(0, len(data))
                data[at:at] = other[a:a + rng.randint(1, 64)]
        elif op == 5 and data:
            at = rng.randrange(len(data))
            data[at:at] = data[at:at + rng.randint(1, 64)] * rng.randint(1, 8)
        else:
            data = bytearray(rng.randrange(256) for _ in range(rng.randint(0, 64))) + data
    return bytes(data[:max_len])


# ---------------------------------------------------------------- the parent

def select(targets, names):
    if not names:
        return sorted(targets)
    chosen = []
    for want in names:
        hits = [n for n in sorted(targets) if n == want or (want.endswith(".") and n.startswith(want))
                or n.startswith(want + ".")]
        if not hits:
            raise SystemExit("no fuzz target %r; see --list" % want)
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def start(name, inputs, args, engine):
    os.makedirs(args.out, exist_ok=True)
    status = os.path.join(args.out, "%s.json" % name)
    if os.path.exists(status):
        os.unlink(status)
    log = open(os.path.join(args.out, "%s.log" % name), "wb")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--inputs", str(inputs),
           "--out", args.out, "--engine", engine, "--seed", str(args.seed)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT)
    return proc, log, status


def result_of(name, status_path, returncode):
    try:
        with open(status_path) as f:
            status = json.load(f)
    except (OSError, ValueError):
        status = {"target": name, "inputs": 0, "failures": 0, "kinds": {}, "seconds": 0, "done": False}
    if not status.get("done"):
        # The worker died (hang past libFuzzer's -timeout, out of memory, a
        # crash in C): the inputs counted so far stand, and the death is a failure.
        status["failures"] = status.get("failures", 0) + 1
        status.setdefault("kinds", {})["worker died (exit %s); see %s.log" % (returncode, name)] = {
            "count": 1, "message": "no final status"}
    return status


def print_row(status, goal):
    kinds = status.get("kinds", {})
    mark = "ok" if status["failures"] == 0 and status["inputs"] >= goal else "FAIL"
    if status["failures"] == 0 and not status.get("done", True):
        mark = "still running"
    print("%-28s %10d %9d %8.1f s  %s%s" % (status["target"], status["inputs"], status["failures"],
                                            status["seconds"], mark,
                                            ("  [%s]" % "; ".join(sorted(kinds))) if kinds else ""),
          flush=True)


def run_campaign(args):
    from tests.fuzz import registry
    targets = registry.load_all()
    names = select(targets, args.target)
    # The smoke run checks every target and the harness in seconds; coverage
    # instrumentation costs ten times that, so it belongs to the campaign.
    engine = args.engine or ("random" if args.smoke or not have_atheris() else "atheris")
    if args.list:
        for n in names:
            t = targets[n]
            print("%-28s %9d  %s" % (n, t.campaign_inputs, t.doc))
        return 0
    print("engine: %s%s; output: %s" % (engine, " (coverage-guided, libFuzzer)" if engine == "atheris"
                                        else " (mutation, no coverage feedback)", args.out))
    print("%-28s %10s %9s %10s" % ("target", "inputs", "failures", "time"), flush=True)
    goals = {}
    for n in names:
        goals[n] = args.inputs or (SMOKE_INPUTS if args.smoke else targets[n].campaign_inputs)
    pending = list(names)
    running = []
    results = []
    t0 = time.time()
    while pending or running:
        while pending and len(running) < args.jobs:
            n = pending.pop(0)
            proc, log, status = start(n, goals[n], args, engine)
            running.append((n, proc, log, status))
        time.sleep(0.05)
        for entry in list(running):
            n, proc, log, status = entry
            if proc.poll() is None:
                continue
            log.close()
            running.remove(entry)
            res = result_of(n, status, proc.returncode)
            results.append(res)
            print_row(res, goals[n])
    total_inputs = sum(r["inputs"] for r in results)
    total_fail = sum(r["failures"] for r in results)
    short = [r["target"] for r in results if r["inputs"] < goals[r["target"]]]
    print("total: %d targets, %d inputs, %d failures, %.0f s%s"
          % (len(results), total_inputs, total_fail, time.time() - t0,
             ("; below the input goal: " + ", ".join(short)) if short else ""))
    for r in results:
        for sig, k in sorted(r.get("kinds", {}).items()):
            print("  %s %s: %s x%d%s" % (r["target"], sig, k.get("message", ""), k.get("count", 1),
                                         ("\n    saved: %s\n    minimized: %s" % (k["file"], k.get("minimized")))
                                         if k.get("file") else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"engine": engine, "results": results}, f, indent=1)
    return 0 if total_fail == 0 and not short else 1


def summary(args):
    """The table from the status files workers left in OUT directories: for
    a campaign stopped early or spread over several runs. With several
    directories the newest finished status of each target counts."""
    from tests.fuzz import registry
    targets = registry.load_all()
    best = {}
    for out in args.summary:
        for fname in sorted(os.listdir(out)):
            if not fname.endswith(".json") or fname[:-5] not in targets:
                continue
            with open(os.path.join(out, fname)) as f:
                status = json.load(f)
            status["mtime"] = os.path.getmtime(os.path.join(out, fname))
            old = best.get(status["target"])
            if old is None or (status["done"], status["mtime"]) > (old["done"], old["mtime"]):
                best[status["target"]] = status
    print("%-28s %10s %9s %10s" % ("target", "inputs", "failures", "time"))
    short = []
    for name in sorted(targets):
        status = best.get(name)
        goal = targets[name].campaign_inputs
        if status is None:
            print("%-28s %10s" % (name, "not run"))
            short.append(name)
            continue
        print_row(status, goal)
        if status["inputs"] < goal:
            short.append(name)
    total = sum(s["inputs"] for s in best.values())
    fails = sum(s["failures"] for s in best.values())
    print("total: %d targets, %d inputs, %d failures%s"
          % (len(best), total, fails, ("; below the input goal: " + ", ".join(short)) if short else ""))
    return 0 if fails == 0 and not short else 1


def replay(args):
    from tests.fuzz import registry
    target = registry.load_all()[args.replay[0]]
    with open(args.replay[1], "rb") as f:
        data = f.read()
    if target.setup is not None:
        target.setup()
    try:
        target.check(data)
    except target.expected as e:
        print("documented answer: %s" % _short(e))
        return 0
    print("no failure: the input is handled")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", action="append", help="a target name or a prefix such as wg. (repeatable)")
    p.add_argument("--inputs", type=int, help="inputs per target (default: the campaign's goal)")
    p.add_argument("--smoke", action="store_true",
                   help="%d inputs per target with the mutation engine, for CI" % SMOKE_INPUTS)
    p.add_argument("--engine", choices=("atheris", "random"), help="default: atheris if installed")
    p.add_argument("--jobs", type=int, default=1, help="targets run at once (default 1)")
    p.add_argument("--out", default=DEFAULT_OUT, help="logs, corpus, crashes (default %(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--list", action="store_true", help="list the targets and their goals")
    p.add_argument("--replay", nargs=2, metavar=("TARGET", "FILE"), help="run one saved input")
    p.add_argument("--summary", nargs="+", metavar="OUT", help="print the table from earlier runs' OUT dirs")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return run_worker(args)
    if args.replay:
        return replay(args)
    if args.summary:
        return summary(args)
    return run_campaign(args)


if __name__ == "__main__":
    sys.exit(main())
