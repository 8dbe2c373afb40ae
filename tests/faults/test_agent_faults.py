"""Faults in the router itself: a full runtime tmpfs, a read-only run
directory, a second agent started beside the first, memory pressure.

Each runs in the household lab with the WAN capture tally asserting 0
leaks. Mount tricks happen in a private mount namespace of the agent
(`unshare -m`, see household.in_private_mounts), so the machine's own
mounts are never touched; files inside it are reached with
`nsenter -t AGENT_PID -m`. Missing tools make these tests fail, never skip.
"""

import re
import signal
import time

import pytest

from vpnspot_router.lab import netns
from vpnspot_router.lab import topology as T

from .household import (agent_argv, finish, in_private_mounts, kill_switch_on, lan_traffic_fails,
                        make_house, rss_kib, start_agent)

pytestmark = pytest.mark.interop


@pytest.fixture
def house(lab):
    return make_house(lab)


def in_agent_mounts(house, script, check=True):
    """Run a shell script in the agent's mount namespace (host network)."""
    return netns._run(["nsenter", "-t", str(house.agent.pid), "-m", "sh", "-c", script],
                      check=check)


def test_a_full_runtime_tmpfs_fails_status_writes_gracefully_and_the_tunnel_keeps_forwarding(house):
    run = house.run_dir
    start_agent(house, wrap=in_private_mounts("mount -t tmpfs -o size=128k vpnspot-run %s" % run))
    probe = house.start_probe()
    capture = house.start_capture()
    assert '"state": "running"' in in_agent_mounts(house, "cat %s/agent.json" % run).stdout
    # Fill the tmpfs to the last block, as a log or a stray file would.
    in_agent_mounts(house, "dd if=/dev/zero of=%s/fill bs=4k 2>/dev/null || true; "
                           "df -k %s | tail -1" % (run, run))
    before_full = house.agent_log().count("cannot write status file")
    full_at = time.time()
    for _ in range(3):
        house.agent.send_signal(signal.SIGUSR1)     # status now: each write must fail
        time.sleep(0.4)
    failures = house.agent_log().count("cannot write status file") - before_full
    assert failures >= 3, house.agent_log()[-2000:]
    assert house.agent.poll() is None
    assert probe.wait_reply_after(time.time(), timeout=3) < 3
    assert house.http_from_lan().get("ok")
    # Space comes back: the next write succeeds and the file is whole.
    in_agent_mounts(house, "rm -f %s/fill" % run)
    house.agent.send_signal(signal.SIGUSR1)
    netns.wait_for(lambda: '"running": true' in in_agent_mounts(
        house, "cat %s/tunnel.json" % run, check=False).stdout
        and float(re.search(r'"time": ([0-9.]+)', in_agent_mounts(
            house, "cat %s/tunnel.json" % run).stdout).group(1)) > full_at,
        timeout=5, what="a status write after space came back")
    print("\n[tmpfs full] %d status writes failed (logged), probe replies throughout" % failures)
    finish(capture, "runtime tmpfs full")


def test_a_read_only_run_directory_is_reported_and_the_kill_switch_and_tunnel_hold(house):
    run = house.run_dir
    start_agent(house, wrap=in_private_mounts("mount -t tmpfs -o size=64k,ro vpnspot-run %s" % run))
    capture = house.start_capture()
    netns.wait_for(lambda: "cannot write status file" in house.agent_log(), timeout=5,
                   what="the agent to report its read-only run directory")
    assert "Read-only file system" in house.agent_log()
    assert house.agent.poll() is None
    assert kill_switch_on(house)
    assert house.http_from_lan().get("ok")
    house.agent.send_signal(signal.SIGKILL)
    house.agent.wait(timeout=5)
    lan_traffic_fails(house)
    finish(capture, "run directory read-only")


def test_a_second_agent_beside_the_first_does_not_disturb_it(house):
    first = start_agent(house)
    probe = house.start_probe()
    capture = house.start_capture()
    second = house.lab.run("router", *agent_argv(house), check=False, timeout=30)
    print("\n[two agents] second exited %d: %s" % (second.returncode, second.stderr.strip()[-300:]))
    assert second.returncode != 0
    assert first.poll() is None
    assert kill_switch_on(house)
    assert probe.wait_reply_after(time.time(), timeout=3) < 3
    finish(capture, "two agents at once")


def test_a_second_agent_refuses_with_a_clear_message_and_leaves_the_status_alone(house):
    first = start_agent(house)
    second = house.lab.run("router", *agent_argv(house), check=False, timeout=30)
    assert second.returncode != 0
    status = house.status()
    assert status["pid"] == first.pid and status["state"] == "connected", status
    assert "already running" in second.stderr, second.stderr
    assert str(first.pid) in second.stderr, second.stderr


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, pid))


def test_under_a_memory_limit_the_agent_keeps_serving_or_fails_closed(house):
    # The limit is put on the running agent (prlimit --pid): just above what
    # it has mapped now, so any growth under the load below must fail.
    start_agent(house)
    pid = house.agent.pid
    probe = house.start_probe()
    capture = house.start_capture()
    size = vm_kib(pid, "VmSize")
    limit = (size + 4 * 1024) * 1024
    house.lab.run("router", "prlimit", "--pid", str(pid), "--as=%d:%d" % (limit, limit))
    rss_before = rss_kib(pid)
    result = house.lab.tcp_transfer("lan", "site", T.SITE, 8 * 1024 * 1024, timeout=60)
    alive = house.agent.poll() is None
    print("\n[memory limit] address space capped at %d KiB (VmSize was %d KiB); RSS %d -> %s KiB; "
          "agent %s" % (limit // 1024, size, rss_before, rss_kib(pid) if alive else "-",
                        "alive" if alive else "exited %s" % house.agent.returncode))
    assert kill_switch_on(house)
    if alive:
        assert result.received_sha256 == result.sent_sha256
        assert probe.wait_reply_after(time.time(), timeout=3) < 3
        assert vm_kib(pid, "VmSize") * 1024 <= limit
    else:
        lan_traffic_fails(house)
    finish(capture, "memory limit")


def test_an_agent_that_cannot_get_memory_to_start_fails_closed(house):
    # Boot order: the kill switch is loaded before the agent runs (procd's
    # `vpnspot killswitch apply`). In 48 MiB of address space the agent
    # cannot finish starting (here its link-setup child fails); whatever
    # step fails, it must exit non-zero and leave the kill switch in place.
    assert house.vpnspot("killswitch", "apply", "--settings", house.settings).returncode == 0
    capture = house.start_capture()
    proc = house.lab.run("router", "prlimit", "--as=%d" % (48 * 1024 * 1024), "--",
                         *agent_argv(house), check=False, timeout=30)
    print("\n[no memory at start] agent exited %d: %s"
          % (proc.returncode, (proc.stderr.strip().splitlines() or ["(nothing)"])[-1]))
    assert proc.returncode != 0
    assert kill_switch_on(house)
    lan_traffic_fails(house)
    finish(capture, "no memory to start", expect_wireguard=False)
