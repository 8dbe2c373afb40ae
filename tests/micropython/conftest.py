"""Prints the MicroPython gate's counts at the end of a run.

The numbers come from the reports of test_core_under_micropython.py's items
(their user properties carry the MicroPython timings), so they describe
exactly what ran: how many core tests passed, failed or are known to fail
under MicroPython, what was left out and why, and how long the wasm runs took.
"""

import collections

GATE_FILE = "test_core_under_micropython.py::test_core_test_passes_under_micropython"


def pytest_terminal_summary(terminalreporter):
    counts = collections.Counter()
    left_out = []
    module_time = {}
    for outcome in ("passed", "failed", "xfailed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if GATE_FILE not in getattr(report, "nodeid", ""):
                continue
            if outcome == "skipped":
                # Skips are recorded at setup; longrepr is (file, line, reason).
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
                reason = reason.replace("Skipped: ", "").replace("left out of MicroPython: ", "")
                left_out.append("%s (%s)" % (report.nodeid.split("[", 1)[-1].rstrip("]"), reason))
            elif report.when == "call" or outcome == "failed":
                counts[outcome] += 1
            props = dict(getattr(report, "user_properties", ()))
            if "mp_module" in props:
                module_time[props["mp_module"]] = (props["mp_module_runs"],
                                                   props["mp_module_seconds"])
    if not counts and not left_out:
        return
    terminalreporter.section("core tests under MicroPython")
    terminalreporter.write_line(
        "%d passed, %d failed, %d known to fail, %d left out; "
        "%d modules in %d wasm runs, %.1f s of MicroPython time"
        % (counts["passed"], counts["failed"], counts["xfailed"], len(left_out),
           len(module_time), sum(r for r, _ in module_time.values()),
           sum(s for _, s in module_time.values())))
    for module, (runs, seconds) in sorted(module_time.items()):
        terminalreporter.write_line("  %-40s %5.1f s in %d run(s)" % (module, seconds, runs))
    for entry in left_out:
        terminalreporter.write_line("  left out: " + entry)
