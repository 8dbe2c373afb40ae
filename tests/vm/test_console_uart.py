"""`vpnspot console` on the router VM's second emulated UART, driven from
this machine by `vpnspot-console`, as a technician's USB-serial adapter
would: a real 16550 driver, tty line discipline and termios settings in the
guest kernel, and qemu's pty on the host (tests/vm/conftest.py boots the VM;
RouterVM gives it ttyS1 for this).

The console runs with the real backend over a configuration directory of
its own under /xfer, so the test can read what it wrote; no agent runs.
"""

import json
import os
import subprocess
import sys

import pytest


from .conftest import PYTHON, REPO

HOUSEHOLD = "config vpnspot 'main'\n\toption region 'nl-ams'\n\toption mtu '1400'\n"
PROVISIONING = "config provider 'provider'\n\toption name 'Example ISP'\n\tlist lock 'kill_switch'\n"


def technician(pty, *words, timeout=90):
    """vpnspot-console PTY WORDS... on this machine: (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "vpnspot_router.console.client", pty,
                           "--timeout", "60"] + list(words),
                          capture_output=True, text=True, timeout=timeout, cwd=str(REPO))
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def uart_console(vm_env):
    vm = vm_env.vm
    base = os.path.join(vm.xfer_dir, "console")
    os.makedirs(base, exist_ok=True)
    for name, text in (("vpnspot", HOUSEHOLD), ("provisioning", PROVISIONING)):
        with open(os.path.join(base, name), "w") as f:
            f.write(text)
    started = vm_env.run(
        "cd %s && nohup %s -m vpnspot_router console --tty /dev/ttyS1 --config /xfer/console/vpnspot "
        "--provisioning /xfer/console/provisioning --run-dir /xfer/console/run "
        "--state /xfer/console/state >/xfer/console/log 2>&1 & echo $! > /xfer/console/pid"
        % (REPO, PYTHON))
    assert started.ok, started.output
    try:
        yield vm.console_pty, base
    finally:
        vm_env.run("kill $(cat /xfer/console/pid) 2>/dev/null")


def test_the_console_answers_a_technician_on_the_vm_s_real_emulated_uart(uart_console):
    pty, base = uart_console
    log = os.path.join(base, "log")

    def diagnose(what):
        with open(log, errors="replace") as f:
            return "%s\nconsole log in the VM:\n%s" % (what, f.read()[-3000:])

    code, out, err = technician(pty, "status")
    assert code == 0, diagnose(out + err)
    # No agent runs in the VM: the console says so instead of pretending.
    assert "not running" in out, diagnose(out)

    code, out, err = technician(pty, "diag", "--json")
    assert code == 0, diagnose(out + err)
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["status"] == "ok"
    checks = dict((c["name"], c) for c in answer["data"]["checks"])
    assert checks["settings"]["result"] == "PASS"
    assert checks["agent"]["result"] == "FAIL"
    # The VM's kernel has the module, so the decision is kernel WireGuard.
    assert checks["crypto engine"]["hint"].startswith("kernel/kernel: "), checks["crypto engine"]

    code, out, err = technician(pty, "config", "get", "mtu")
    assert code == 0, diagnose(out + err)
    assert out.split() == ["mtu", "1400", "[household]"], out

    code, out, err = technician(pty, "config", "set", "kill_switch", "0")
    assert code == 1 and "locked by your provider Example ISP" in out + err
