"""The fuzz campaign's smoke run, for CI: every registered target takes a few
thousand inputs with no failure, and the harness itself notices failures.

The full campaign (a million inputs per WireGuard/IP target, a hundred
thousand for each other) is `nice -n 19 .venv/bin/python tests/fuzz/run.py`;
it takes about two hours of CPU and is not part of the test suite.
The smoke run uses the mutation engine (no coverage instrumentation: it is
ten times faster per input, which keeps this file under a minute); one
target also runs under atheris so the coverage-guided engine is known to
work here.
"""

import json
import os
import subprocess
import sys

import pytest

CPYTHON_ONLY = "subprocesses, atheris"

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(os.path.dirname(HERE))
RUN = os.path.join(HERE, "run.py")
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

from tests.fuzz import registry, run  # noqa: E402

TARGETS = sorted(registry.load_all())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz")
    report = out / "results.json"
    proc = subprocess.run([sys.executable, RUN, "--smoke", "--engine", "random", "--jobs", "2",
                           "--out", str(out), "--json", str(report)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=300)
    results = json.loads(report.read_text())
    return proc, {r["target"]: r for r in results["results"]}, out


def test_every_parser_that_takes_outside_input_has_a_fuzz_target():
    groups = {name.split(".")[0] for name in TARGETS}
    assert {"wg", "ip", "conf", "uci", "hw", "provider", "state", "web", "console"} <= groups
    kinds = {name.rsplit(".", 1)[0] for name in TARGETS if name.startswith("wg.")}
    assert {"wg.initiation", "wg.response", "wg.cookie_reply", "wg.transport"} <= kinds
    for kind in kinds - {"wg.receive_datagrams"}:
        assert kind + ".before" in TARGETS and kind + ".after" in TARGETS, kind


def test_the_smoke_run_exits_zero_and_prints_a_total(smoke):
    proc, _, _ = smoke
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "total: %d targets" % len(TARGETS) in proc.stdout


@pytest.mark.parametrize("name", TARGETS)
def test_a_target_takes_its_smoke_inputs_without_failure(smoke, name):
    _, results, _ = smoke
    r = results[name]
    assert r["inputs"] >= run.SMOKE_INPUTS and r["failures"] == 0, r


def test_the_summary_of_a_run_lists_every_target_with_its_count(smoke):
    _, _, out = smoke
    proc = subprocess.run([sys.executable, RUN, "--summary", str(out)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=60)
    # Smoke counts are below the campaign's goals, so the summary says so.
    assert proc.returncode == 1 and "below the input goal" in proc.stdout
    for name in TARGETS:
        assert "\n%s " % name in proc.stdout


def test_the_coverage_guided_engine_runs_a_target(tmp_path):
    pytest.importorskip("atheris", reason="atheris is in the test extra; install it with "
                                          "`pip install -e .[test]`")
    proc = subprocess.run([sys.executable, RUN, "--engine", "atheris", "--target", "wg.transport.after",
                           "--inputs", "500", "--out", str(tmp_path)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "engine: atheris" in proc.stdout
    status = json.loads((tmp_path / "wg.transport.after.json").read_text())
    assert status["inputs"] == 500 and status["failures"] == 0 and status["done"]


# -- the harness notices what it is there to notice ---------------------------

def _target(check, expected=()):
    return registry.Target("test.only", check, expected=expected)


def test_an_undocumented_exception_is_counted_minimized_and_saved(tmp_path):
    def check(data):
        if b"\xff" in data:
            raise KeyError("boom")
        if b"\xfe" in data:
            raise ValueError("documented")
    runner = run.Runner(_target(check, (ValueError,)), 4, str(tmp_path), "random")
    for data in (b"ok", b"\xfe", b"abc\xffdef", b"\xff\xff"):
        runner.one(data)
    runner.finish()
    status = json.loads((tmp_path / "test.only.json").read_text())
    assert status["inputs"] == 4 and status["failures"] == 2
    (kind,) = status["kinds"].values()
    with open(kind["file"], "rb") as f:
        assert f.read() == b"\xff"


def test_an_input_slower_than_the_limit_is_a_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "SLOW_INPUT", 0.0)
    runner = run.Runner(_target(lambda data: None), 1, str(tmp_path), "random")
    runner.one(b"x")
    assert list(runner.failures) and list(runner.failures)[0].startswith("TimeoutError")


def test_a_tunnel_broken_by_fuzzed_inputs_is_reported_with_the_inputs():
    from tests.fuzz import targets_wireguard as wg

    def breaks_the_tunnel(world, r, now):
        world.pair.b.device.remove_peer(world.pair.a.device.public_key)
    world = wg.World(established=True, feeds_a=False)
    with pytest.raises(wg.LivenessError) as info:
        for i in range(wg.BURST):
            world.step(bytes([i % 256]), breaks_the_tunnel)
    assert len(info.value.burst) == wg.BURST


def test_a_quiet_burst_leaves_the_tunnel_working():
    from tests.fuzz import targets_wireguard as wg
    for established in (False, True):
        for feeds_a in (False, True):
            world = wg.World(established, feeds_a)
            for i in range(wg.BURST):
                world.step(b"", lambda world, r, now: None)
