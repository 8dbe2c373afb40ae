"""Helpers shared by the leak, fault and bound tests that run in the household lab.

Owns: starting the agent under a wrapper (a private mount namespace, a
memory limit), reading its tunnel status and memory, and the assertions
every lab scenario ends with: the WAN capture tally shows nothing leaked,
and LAN traffic cannot get out while the tunnel is down. They mirror
tests/router/test_leaks.py, whose conventions (shortened timers, bounds
stated in those units) these tests keep.
"""

import json
import os
import signal
import sys

import pytest

from vpnspot_router.lab import netns
from vpnspot_router.lab import pcap
from vpnspot_router.lab import topology as T

TIMING = {"rekey_timeout": 1, "keepalive_timeout": 1}
REKEY_TIMEOUT = TIMING["rekey_timeout"]
# One REKEY_TIMEOUT, the protocol's jitter of at most 1/3 s, and 0.5 s for
# the processes involved (the same bound as tests/router/test_leaks.py).
RECOVERY_BOUND = REKEY_TIMEOUT + 1.0 / 3 + 0.5


def make_house(lab):
    missing = T.missing_tools()
    if missing:
        pytest.fail("household lab tests cannot run: missing tools %s; run vpnspot_router/lab/setup.sh"
                    % ", ".join(missing), pytrace=False)
    return T.Household(lab)


def agent_argv(house, run_dir=None):
    return [sys.executable, "-m", "vpnspot_router", "agent", "--wg-config", house.wg_config,
            "--settings", house.settings, "--run-dir", run_dir or house.run_dir]


def start_agent(house, wrap=(), run_dir=None, timing=TIMING, wait_tunnel=True, wait_handshake=True):
    """Start the agent in the router namespace behind `wrap` (an argv prefix
    that ends by exec'ing the agent, so the Popen's pid is the agent's)."""
    env = dict(os.environ)
    env["VPNSPOT_WG_TIMING"] = ",".join("%s=%s" % kv for kv in sorted(timing.items()))
    house.agent = house.lab.popen("router", list(wrap) + agent_argv(house, run_dir), env=env)
    if wait_tunnel:
        netns.wait_for(house._tunnel_exists, timeout=20, what="the agent's tunnel interface")
    if wait_handshake:
        house.wait_connected(timeout=20)
    return house.agent


def in_private_mounts(script):
    """A wrapper: run `script` (sh) in a private mount namespace, then exec
    the agent's argv (given to sh as "$@")."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-ec", script + '\nexec "$@"', "sh"]


def finish(capture, scenario, expect_wireguard=True):
    """Stop the capture, print the tally, assert nothing leaked."""
    tally = capture.stop()
    print("\n[%s] %s" % (scenario, pcap.tally_text(tally)))
    assert tally["leaked"] == 0, "%s: packets leaked on the WAN:\n  %s" % (
        scenario, "\n  ".join(tally["leak_examples"]))
    if expect_wireguard:
        # Proves the capture was running and saw the tunnel's traffic.
        assert tally["wireguard"] > 0, "%s: the capture saw no WireGuard at all" % scenario
    return tally


def lan_traffic_fails(house, every_kind=False):
    """HTTP, DNS (UDP, TCP, to the ISP) and ping from the LAN: all must
    fail. every_kind: also IPv6 HTTP and ping and DNS over TLS, every kind
    a leak could carry (the leak tests)."""
    results = {
        "http to site": house.http_from_lan(T.SITE, timeout=1.0).get("ok"),
        "udp dns to isp": house.lan_probe("dns", T.ISP, T.SITE_NAME).get("ok"),
        "tcp dns to isp": house.lan_probe("dns", T.ISP, T.SITE_NAME, "tcp").get("ok"),
        "ping gateway": house.ping_from_lan(T.GW, count=1),
    }
    if every_kind:
        results.update({
            "http to site v6": house.http_from_lan(T.SITE6, timeout=1.0).get("ok"),
            "dot to isp": house.lan_probe("tcp", T.ISP, "853").get("ok"),
            "ping gateway v6": house.ping_from_lan("fd77:113::10", count=1),
        })
    got_through = [k for k, ok in results.items() if ok]
    assert not got_through, "LAN traffic got through without the tunnel: %s" % got_through


def kill_switch_on(house):
    return house.vpnspot("killswitch", "status").returncode == 0


def tunnel_status(house, run_dir=None):
    path = os.path.join(run_dir or house.run_dir, "tunnel.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def status_now(house):
    """The tunnel's status file, freshly written (SIGUSR1 asks for it)."""
    before = (tunnel_status(house) or {}).get("time", 0)
    house.agent.send_signal(signal.SIGUSR1)
    netns.wait_for(lambda: (tunnel_status(house) or {}).get("time", 0) > before, timeout=5,
                   what="a fresh tunnel status")
    return tunnel_status(house)


def rss_kib(pid):
    """VmRSS of a process in KiB (from /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)
