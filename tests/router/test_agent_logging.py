"""The agent's log: stderr by default (procd hands it to logd on OpenWrt),
the system log with --syslog, and never a LAN or destination address.

The syslog tests bind a unix datagram socket at a temporary path and give
it to the agent with --syslog-socket, standing in for /dev/log: what
arrives there is exactly what a syslog daemon would receive. The lab test
runs the household (lab/topology.py) with real LAN traffic of every kind
while the agent logs, then searches every line for the addresses and names
the LAN used; it needs root and the lab's tools, and FAILS when they are
missing.
"""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from vpnspot_router import agent as agent_mod
from vpnspot_router.lab import netns
from vpnspot_router.lab import topology as T

DAEMON_INFO = "<30>"        # facility daemon (3) * 8 + severity info (6)
DAEMON_WARNING = "<28>"


def bound_syslog(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.0)
    return sock


def drain(sock):
    lines = []
    while True:
        try:
            lines.append(sock.recv(65536).decode("utf-8", "replace").rstrip("\0"))
        except (BlockingIOError, InterruptedError):
            return lines


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    if agent_mod._log_handler is not None:
        root.removeHandler(agent_mod._log_handler)
        agent_mod._log_handler.close()
        agent_mod._log_handler = None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_with_syslog_the_lines_reach_the_syslog_socket_as_daemon_messages(tmp_path, restore_logging):
    sock = bound_syslog(tmp_path / "log")
    agent_mod.setup_logging(True, str(tmp_path / "log"))
    agent_mod.log.info("kill switch on")
    agent_mod.log.warning("tunnel down")
    lines = drain(sock)
    pid = os.getpid()
    assert lines == ["%svpnspot[%d]: INFO kill switch on" % (DAEMON_INFO, pid),
                     "%svpnspot[%d]: WARNING tunnel down" % (DAEMON_WARNING, pid)]


def test_a_syslog_daemon_that_stops_reading_costs_lines_but_never_blocks_the_agent(tmp_path,
                                                                                  restore_logging):
    sock = bound_syslog(tmp_path / "log")           # bound, never read: its queue fills
    handler = agent_mod.setup_logging(True, str(tmp_path / "log"))
    started = time.monotonic()
    for i in range(500):
        agent_mod.log.info("line %d", i)
    assert time.monotonic() - started < 2.0
    assert handler.dropped > 0
    assert len(drain(sock)) + handler.dropped == 500


def test_with_syslog_but_no_syslog_socket_the_agent_logs_to_stderr_and_says_why(tmp_path):
    missing = tmp_path / "no-such-log"
    proc = subprocess.run(
        [sys.executable, "-m", "vpnspot_router", "agent", "--syslog", "--syslog-socket", str(missing),
         "--wg-config", str(tmp_path / "wg.conf"), "--settings", str(tmp_path / "settings"),
         "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=30)
    assert ("WARNING cannot log to syslog at %s (No such file or directory); logging to stderr "
            "instead" % missing) in proc.stderr
    # The agent went on to its own checks (and refused the missing config).
    assert proc.returncode == agent_mod.EXIT_USAGE
    assert "cannot read the settings file" in proc.stderr


# ------------------------------------------------------------------ in the lab

LAN_AND_DESTINATIONS = (T.LAN_CLIENT, T.LAN_CLIENT6, T.SITE, T.SITE6, T.SITE_NAME, T.ISP_ANSWER,
                        T.ISP, T.ISP6, "192.168.77.", "fd77:1::", "fd77:200:")


@pytest.mark.interop
def test_the_agents_syslog_lines_hold_no_lan_or_destination_address(lab, tmp_path):
    missing = T.missing_tools()
    if missing:
        pytest.fail("the lab cannot run: missing tools %s; run vpnspot_router/lab/setup.sh"
                    % ", ".join(missing), pytrace=False)
    house = T.Household(lab)
    path = os.path.join(lab.tmpdir, "syslog")
    sock = bound_syslog(path)
    sock.settimeout(0.2)
    lines = []
    done = threading.Event()

    def syslogd():
        while not done.is_set():
            try:
                lines.append(sock.recv(65536).decode("utf-8", "replace").rstrip("\0"))
            except (socket.timeout, BlockingIOError, InterruptedError):
                pass
    reader = threading.Thread(target=syslogd, daemon=True)
    reader.start()
    env = dict(os.environ, VPNSPOT_WG_TIMING="keepalive_timeout=1,rekey_timeout=1")
    house.agent = lab.popen("router", [sys.executable, "-m", "vpnspot_router", "agent", "--syslog",
                                       "--syslog-socket", path, "--wg-config", house.wg_config,
                                       "--settings", house.settings, "--run-dir", house.run_dir],
                            env=env)
    netns.wait_for(house._tunnel_exists, timeout=15, what="the agent's tunnel interface")
    house.wait_connected()
    # Every kind of LAN traffic, to the site and to the ISP.
    assert house.http_from_lan().get("ok")
    assert house.http_from_lan(T.SITE6).get("ok")
    assert house.ping_from_lan(T.SITE, count=2)
    for args in ((T.ISP, T.SITE_NAME), (T.ISP, T.SITE_NAME, "tcp"), (T.ISP6, T.SITE_NAME, "aaaa")):
        assert house.lan_probe("dns", *args).get("ok"), args
    house.lan_probe("tcp", T.ISP, "853")
    # Events that log: a reload (the tunnel reopens and handshakes again), a stop.
    house.agent.send_signal(signal.SIGHUP)
    netns.wait_for(lambda: house.status().get("reloads") == 1, timeout=10, what="the reload")
    house.wait_connected()
    assert house.ping_from_lan(T.SITE6, count=2)
    house.agent.send_signal(signal.SIGTERM)
    assert house.agent.wait(timeout=10) == 0
    done.set()
    reader.join(timeout=5)
    print("\n[syslog] %d lines received; for example:\n  %s" % (len(lines), "\n  ".join(lines[:6])))
    prefix = re.compile(r"^<\d+>vpnspot\[%d\]: (INFO|WARNING|ERROR) " % house.agent.pid)
    assert lines and all(prefix.match(line) for line in lines), lines
    text = "\n".join(lines)
    for needle in ("kill switch on", "handshake-complete", "reload", "stopped"):
        assert needle in text, "no %r in the syslog lines" % needle
    found = [n for n in LAN_AND_DESTINATIONS
             if re.search(r"(?<![0-9a-f.:])%s(?![0-9])" % re.escape(n), text)]
    assert not found, "LAN or destination addresses in the log: %s" % found
    # With --syslog nothing of the log went to stderr.
    assert "vpnspot[" not in house.agent_log()
