"""The technician's interactive `vpnspot-console` session, on a real terminal.

The client runs as its own process on a pty (so readline and its history
are live, as on a laptop), talking to the router side over another pty.
"""

import os
import pty
import select
import subprocess
import sys
import time

from tests.console.helpers import PtyConsole


def _read_until(fd, marker, timeout=15.0):
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out:
        assert time.monotonic() < deadline, "no %r in %r" % (marker, out[-400:])
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def test_an_interactive_session_answers_commands_and_keeps_their_history(tmp_path):
    con = PtyConsole()
    master, slave = pty.openpty()
    env = dict(os.environ, HOME=str(tmp_path), TERM="dumb")
    proc = subprocess.Popen([sys.executable, "-m", "vpnspot_router.console.client", con.path,
                             "--timeout", "10"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    try:
        prompt = b"vpnspot@" + os.path.basename(con.path).encode() + b"> "
        assert b"connected to the VPN Spot console" in _read_until(master, prompt)
        os.write(master, b"status\r")
        assert b"state:" in _read_until(master, prompt)
        os.write(master, b"config get mtu\r")
        assert b"mtu" in _read_until(master, prompt)
        os.write(master, b"exit\r")
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        con.close()
    with open(os.path.join(str(tmp_path), ".vpnspot_console_history")) as f:
        history = f.read().splitlines()
    assert "status" in history and "config get mtu" in history
