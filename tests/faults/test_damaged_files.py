"""Damaged files on start, in the household lab: the kill switch holds.

The agent in its provider-driven mode (UCI settings, enrollment with the
reference VPN Spot service, the supervisor) runs once so that every file it
keeps on flash exists with a last good copy: the settings file
(CONFIG/vpnspot), the enrollment record (STATE/device.json), the router's
WireGuard key (STATE/wg-key), the last good server (STATE/last-good.json),
the report queue (STATE/reports.json) and the bandwidth checkpoint
(STATE/accounting.json). It is stopped (SIGTERM: the kill switch stays),
each file is damaged the way a failing flash chip or a pulled plug does it
(garbage, truncated, zeroed, bit-flipped, cut in half), and the agent is
started again with a capture running on the router's WAN and a LAN client
sending all the while.

Expected: the agent names each damaged file in its log, moves it aside as
FILE.corrupt-TIME (bytes kept for a technician), restores FILE from
FILE.last-good, and the household is online again through the tunnel with
the same key and enrollment. When both copies of the enrollment and the
key are damaged, the defaults apply (not enrolled; a new key): the agent
keeps running with the kill switch on and LAN traffic cannot get out. The
WAN capture tally shows 0 leaked packets in both.

Timers as in tests/router/test_service.py's privacy run (stated there):
WireGuard rekey_timeout=1, keepalive_timeout=1; reports every 3 s.
These tests need root, namespaces, wireguard-go, nft, tcpdump and dnsmasq;
when any is missing they FAIL.
"""

import os
import signal
import sys

import pytest

from vpnspot_router.lab import netns
from vpnspot_router.lab import topology as T
from vpnspot_router.store import FileStore

from tests.router.test_service import API_ADDR, API_PORT, Service
from .household import finish, kill_switch_on, lan_traffic_fails

pytestmark = pytest.mark.interop

SETTINGS = b"config vpnspot 'main'\n\toption region 'europe'\n\toption kill_switch '1'\n"


def garbage(data):
    return b"\x00\xff\xfe garbage from a failing flash chip \x9c\x01" * 3


def truncated(data):
    return data[:len(data) // 2]


def zeroed(data):
    return b"\x00" * len(data)


def bit_flipped(data):
    # A flipped bit in the first brace or quote breaks the JSON.
    i = min([data.find(c) for c in (b"{", b'"', b"=") if data.find(c) >= 0] or [0])
    return data[:i] + bytes([data[i] ^ 0x04]) + data[i + 1:]


def unterminated(data):
    return data.replace(b"'europe'", b"'europe", 1) + b"\xff"


@pytest.fixture
def service(lab):
    s = Service(lab)
    # The settings as the web UI or the console leave them: written through
    # the store, so a last good copy exists.
    FileStore(os.path.join(s.config, "vpnspot")).write(SETTINGS)
    yield s
    s.stop()


def state_files(service):
    st = service.state
    return {"settings": (os.path.join(service.config, "vpnspot"), unterminated),
            "enrollment": (os.path.join(st, "device.json"), truncated),
            "key": (os.path.join(st, "wg-key"), zeroed),
            "last good server": (os.path.join(st, "last-good.json"), garbage),
            "report queue": (os.path.join(st, "reports.json"), truncated),
            "checkpoint": (os.path.join(st, "accounting.json"), bit_flipped)}


def run_once_and_stop(service):
    """Enroll, connect, wait until every file and its last good copy exist,
    stop with SIGTERM (which also saves the checkpoint)."""
    service.enroll()
    service.start_agent()
    files = [p for p, _ in state_files(service).values()]
    netns.wait_for(lambda: service.requests() and
                   sum(1 for r in service.requests() if r["path"] == "/v1/reports") >= 1,
                   timeout=20, what="a telemetry report")
    service.agent.send_signal(signal.SIGTERM)
    assert service.agent.wait(timeout=15) == 0, service.lab.read_log(service.agent)
    missing = [p for p in files for q in (p, p + ".last-good") if not os.path.exists(q)]
    assert not missing, "files the agent did not keep: %s" % missing
    assert kill_switch_on(service.house)
    good = {}
    for name, (path, _) in state_files(service).items():
        with open(path + ".last-good", "rb") as f:
            good[name] = f.read()
    return good


def damage(path, how, both=False):
    for p in (path, path + ".last-good") if both else (path,):
        with open(p, "rb") as f:
            data = f.read()
        bad = how(data)
        assert bad != data
        with open(p, "wb") as f:
            f.write(bad)
    with open(path, "rb") as f:
        return f.read()


def start_agent_no_wait(service):
    service.agent = None
    env = dict(os.environ)
    env.update({"VPNSPOT_WG_TIMING": "keepalive_timeout=1,rekey_timeout=1",
                "VPNSPOT_SUPERVISOR_TIMING": "dead_after=1.5,connect_timeout=3",
                "VPNSPOT_REPORT_TIMING": "period=3,first_jitter=1,base_delay=1"})
    service.agent = service.lab.popen("router", [
        sys.executable, "-m", "vpnspot_router", "agent", "--config-dir", service.config,
        "--state-dir", service.state, "--run-dir", service.run, "--lan", "br-lan", "--wan", "wan",
        "--tunnel", T.TUNNEL_IFNAME], env=env)
    service.house.agent = service.agent


def test_damaged_files_on_start_are_reported_moved_aside_and_replaced_by_their_last_good_copies_and_nothing_leaks(service):
    house = service.house
    good = run_once_and_stop(service)
    damaged = {name: damage(path, how) for name, (path, how) in state_files(service).items()}

    capture = house.start_capture(api=((API_ADDR, API_PORT),))
    probe = house.start_probe()
    service.start_agent()           # waits for "connected" and a page from the site
    assert kill_switch_on(house)
    assert house.http_from_lan(T.SITE).get("ok")
    log = service.lab.read_log(service.agent)
    for name, (path, _) in state_files(service).items():
        directory, base = os.path.split(path)
        aside = [n for n in os.listdir(directory) if n.startswith(base + ".corrupt-")]
        assert len(aside) == 1, "%s: not moved aside once: %s" % (name, sorted(os.listdir(directory)))
        with open(os.path.join(directory, aside[0]), "rb") as f:
            assert f.read() == damaged[name], "%s: the damaged bytes were not kept as they were" % name
        assert path in log, "%s: the agent's log does not name %s:\n%s" % (name, path, log[-3000:])
    # The enrollment and the key are the last good ones (the gateway knows
    # this key: the tunnel is up), and stay so.
    for name in ("enrollment", "key"):
        with open(state_files(service)[name][0], "rb") as f:
            assert f.read() == good[name], name
    probe.stop()
    finish(capture, "damaged files on start, last good copies used")


def test_with_both_copies_of_the_enrollment_and_key_damaged_the_agent_runs_unenrolled_and_the_kill_switch_holds(service):
    house = service.house
    run_once_and_stop(service)
    files = state_files(service)
    for name in ("enrollment", "key"):
        damage(files[name][0], files[name][1], both=True)
    damage(files["settings"][0], unterminated)

    capture = house.start_capture(api=((API_ADDR, API_PORT),))
    start_agent_no_wait(service)
    netns.wait_for(lambda: service.agent.poll() is not None or
                   os.path.join(service.state, "device.json") in service.lab.read_log(service.agent),
                   timeout=20, what="the agent to report the damaged enrollment")
    for _ in range(2):
        assert kill_switch_on(house)
        lan_traffic_fails(house)
    log = service.lab.read_log(service.agent)
    assert service.agent.poll() is None, "the agent stopped:\n" + log[-3000:]
    print("\n" + "\n".join(l for l in log.splitlines() if "unusable" in l or "defaults" in l))
    for name in ("enrollment", "key", "settings"):
        path = files[name][0]
        directory, base = os.path.split(path)
        aside = [n for n in os.listdir(directory)
                 if n.startswith(base + ".corrupt-") or n.startswith(base + ".last-good.corrupt-")]
        assert path in log, "%s: not reported:\n%s" % (name, log[-3000:])
        # Both copies are kept for a technician when neither is usable.
        expected = 1 if name == "settings" else 2
        assert len(aside) >= expected, "%s: %s" % (name, sorted(os.listdir(directory)))
    finish(capture, "enrollment and key damaged twice: defaults, kill switch", expect_wireguard=False)
