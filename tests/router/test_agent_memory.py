"""The always-on agent holds only what it needs (issue 12, memory).

In the household lab, enrolled with the reference service, connected, its
telemetry report sent and under load from the LAN, `vpnspot agent` with
the userspace data plane has imported none of: ssl, http.client, email
and the API schema (its provider calls run in forked children), pyroute2,
bottle, pyserial, the web UI and the console (their commands' modules),
importlib.metadata, hashlib's libcrypto, logging.handlers. Asked through
the control request "memory" (driver.memory_report). RSS is printed, not
asserted: the structure is what CI can hold steady; the figures are in
README's performance section and tests/bench/agent_memory.py.
tests/vm/test_agent_kernel_memory.py checks the kernel-mode agent.
"""

import importlib.util
import os

import pytest

pytestmark = pytest.mark.interop

_BENCH = os.path.join(os.path.dirname(__file__), "..", "bench", "agent_memory.py")
_spec = importlib.util.spec_from_file_location("agent_memory", _BENCH)
agent_memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agent_memory)

REPORT_TIMING = {"VPNSPOT_REPORT_TIMING": "period=3,first_jitter=1,base_delay=1"}


def test_the_connected_userspace_agent_under_load_holds_no_heavy_module():
    result = agent_memory.measure_userspace(
        seconds=2, quiet=1.0, env=REPORT_TIMING,
        until=lambda requests: any(r["path"] == "/v1/reports" for r in requests))
    print("\n[agent memory, userspace] RSS idle %.1f MB, under load %.1f MB, peak %.1f MB; "
          "%d modules; load %s" % (result["rss_idle_mb"], result["rss_load_mb"], result["hwm_mb"],
                                   result["modules"], result["load"]))
    assert result["data_plane"] == "userspace"
    # Every provider call went through a forked child, and each arrived.
    assert {"GET /v1/servers", "PUT /v1/device/key", "POST /v1/reports"} <= set(result["requests"])
    assert all(v for v in result["load"].values()), result["load"]
    assert result["heavy_modules"] == []
