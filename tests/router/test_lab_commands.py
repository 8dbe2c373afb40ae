"""`vpnspot lab up|down|status`: idempotent, and a dead keeper's lab is swept."""

import os
import signal
import subprocess
import sys

import pytest

from vpnspot_router.lab import netns

pytestmark = pytest.mark.interop


def vpnspot_lab(state, *args):
    env = dict(os.environ, VPNSPOT_LAB_STATE=state)
    return subprocess.run([sys.executable, "-m", "vpnspot_router", "lab", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_lab_up_twice_status_down_twice_leaves_nothing(tmp_path):
    state = str(tmp_path / "lab.json")
    try:
        first = vpnspot_lab(state, "up")
        assert first.returncode == 0, first.stderr
        prefix = first.stdout.split("prefix ")[1].split(")")[0]
        assert vpnspot_lab(state, "up").stdout.startswith("lab already up")
        assert vpnspot_lab(state, "status").returncode == 0
        assert len([n for n in netns.list_namespaces() if n.startswith(prefix)]) == 6
    finally:
        assert vpnspot_lab(state, "down").returncode == 0
    assert vpnspot_lab(state, "down").returncode == 0
    assert vpnspot_lab(state, "status").returncode == 3
    assert not [n for n in netns.list_namespaces() if n.startswith(prefix)]


def test_a_lab_whose_keeper_died_is_swept_by_the_next_up(tmp_path):
    state = str(tmp_path / "lab.json")
    try:
        first = vpnspot_lab(state, "up")
        assert first.returncode == 0, first.stderr
        old = first.stdout.split("prefix ")[1].split(")")[0]
        pid = int(first.stdout.split("keeper pid ")[1].split(",")[0])
        os.kill(pid, signal.SIGKILL)
        netns.wait_for(lambda: not netns.pid_alive(pid), timeout=5, what="the keeper to die")
        second = vpnspot_lab(state, "up")
        assert second.returncode == 0, second.stderr
        assert not [n for n in netns.list_namespaces() if n.startswith(old)]
    finally:
        vpnspot_lab(state, "down")
