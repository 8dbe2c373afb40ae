"""exitcheck.py: when the agent asks the connection check through the
tunnel, what it keeps, and the driver's part (which tunnel is current, the
agent.json entry). A fake clock and a synchronous "thread"; no network."""

import json
import os

import pytest

from vpnspot_router import driver, exitcheck
from vpnspot_router.agent import exit_address_text
from vpnspot_router.core import config as core_config
from vpnspot_router.core import supervisor as sv
from vpnspot_router.provider import client as pc

A = ((1, "ams-gw"), "ams-gw", "vpnspot0")
B = ((2, "ams-gw2"), "ams-gw2", "vpnspot0")


class Checks:
    """The check function: answers from a list, records each interface asked."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.asked = []

    def __call__(self, ifname):
        self.asked.append(ifname)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return pc.ConnectionCheck(*answer)


class Later:
    """A spawn that keeps the work until the test runs it: a check in flight."""

    def __init__(self):
        self.pending = []

    def __call__(self, fn):
        self.pending.append(fn)

    def finish(self):
        while self.pending:
            self.pending.pop(0)()


def make(checks, spawn=None, **kw):
    return exitcheck.ExitCheck(checks, spawn=spawn or (lambda fn: fn()), wall=lambda: 5000.0,
                               **kw)


def test_a_connected_tunnel_is_checked_at_once_and_the_answer_kept_after_it_arrives():
    checks = Checks(("10.77.0.2", True))
    ec = make(checks)
    assert ec.entry() is None
    ec.update(0.0, A)
    assert checks.asked == ["vpnspot0"]
    assert ec.entry() == {"state": "checking", "server": "ams-gw"}
    ec.update(0.2, A)
    assert ec.entry() == {"state": "checked", "server": "ams-gw", "address": "10.77.0.2",
                          "vpnspot": True, "checked_at": 5000.0}


def test_a_connected_tunnel_is_checked_again_after_the_refresh_period_only():
    checks = Checks(("10.77.0.2", True), ("10.77.0.2", True))
    ec = make(checks, refresh=300)
    ec.update(0.0, A)
    ec.update(0.2, A)
    ec.update(299.0, A)
    assert ec.checks == 1
    ec.update(300.3, A)
    assert ec.checks == 2 and checks.answers == []


def test_no_tunnel_means_no_check_and_no_entry():
    checks = Checks()
    ec = make(checks)
    for t in (0.0, 100.0, 1000.0):
        ec.update(t, None)
    assert checks.asked == [] and ec.entry() is None


def test_the_tunnel_going_down_forgets_the_answer_at_once():
    ec = make(Checks(("10.77.0.2", True)))
    ec.update(0.0, A)
    ec.update(0.2, A)
    assert ec.entry()["state"] == "checked"
    ec.update(0.4, None)
    assert ec.entry() is None


def test_a_new_server_forgets_the_old_answer_and_is_checked_itself():
    checks = Checks(("10.77.0.2", True), ("10.77.0.9", True))
    ec = make(checks)
    ec.update(0.0, A)
    ec.update(0.2, A)
    ec.update(0.4, B)
    assert ec.entry() in ({"state": "checking", "server": "ams-gw2"},)
    ec.update(0.6, B)
    assert ec.entry()["address"] == "10.77.0.9" and ec.entry()["server"] == "ams-gw2"


def test_an_answer_for_a_tunnel_that_is_no_longer_current_is_dropped():
    later = Later()
    checks = Checks(("10.77.0.2", True), ("10.77.0.9", True))
    ec = make(checks, spawn=later)
    ec.update(0.0, A)
    ec.update(0.1, B)                   # failover while A's check is in flight
    later.finish()
    ec.update(0.2, B)                   # A's answer arrives: not B's
    assert ec.entry()["state"] == "checking"
    assert len(later.pending) == 1      # B's own check starts only now: one at a time
    later.finish()
    ec.update(0.3, B)
    assert ec.entry()["address"] == "10.77.0.9"


def test_one_check_at_a_time_however_often_the_status_is_written():
    later = Later()
    ec = make(Checks(("10.77.0.2", True)), spawn=later, refresh=1)
    for t in range(10):
        ec.update(float(t), A)
    assert ec.checks == 1 and len(later.pending) == 1


def test_a_failed_first_check_says_why_and_is_retried_after_the_retry_period():
    checks = Checks(pc.ServiceTimeout(), ("10.77.0.2", True))
    ec = make(checks, retry=30)
    ec.update(0.0, A)
    ec.update(0.2, A)
    entry = ec.entry()
    assert entry["state"] == "failed" and entry["error"].startswith("no answer: the VPN Spot")
    ec.update(29.0, A)
    assert ec.checks == 1
    ec.update(30.5, A)
    ec.update(30.7, A)
    assert ec.entry()["state"] == "checked"


def test_a_failed_refresh_keeps_the_last_answer_for_the_same_tunnel():
    ec = make(Checks(("10.77.0.2", True), pc.NoNetwork()), refresh=300)
    ec.update(0.0, A)
    ec.update(0.2, A)
    ec.update(301.0, A)
    ec.update(301.2, A)
    assert ec.entry()["state"] == "checked" and ec.entry()["address"] == "10.77.0.2"


def test_any_error_in_the_check_is_a_failed_check_not_the_agent_s_end():
    ec = make(Checks(RuntimeError("boom")))
    ec.update(0.0, A)
    ec.update(0.2, A)
    assert ec.entry()["state"] == "failed" and ec.entry()["error"] == "boom"


def test_an_address_that_is_not_vpnspot_s_is_kept_flagged_and_warned_about(caplog):
    ec = make(Checks(("198.51.100.2", False)))
    ec.update(0.0, A)
    ec.update(0.2, A)
    assert ec.entry()["vpnspot"] is False
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned and "NOT come from a VPN Spot exit" in warned[0]
    # The address may then be the household's own: it is never logged.
    assert not any("198.51.100.2" in r.getMessage() for r in caplog.records)


def test_the_household_s_own_server_is_not_checked():
    checks = Checks()
    ec = make(checks)
    ec.update(0.0, exitcheck.OWN_SERVER)
    ec.update(500.0, exitcheck.OWN_SERVER)
    assert checks.asked == [] and ec.entry() == {"state": "own_server"}
    ec.update(501.0, None)
    assert ec.entry() is None


# ------------------------------------------------------------- the driver


class FakePlan:
    mtu = 1420

    def as_dict(self):
        return {}


@pytest.fixture
def agent(tmp_path):
    a = driver.ServiceAgent(core_config.Settings(), {"lan": "br-lan", "wan": "wan",
                                                     "tunnel": "vpnspot0"},
                            str(tmp_path / "state"), str(tmp_path / "run"), provider=None,
                            firewall=object(), routing=object(), data_plane=object(),
                            backend_factory=lambda name: None)
    os.makedirs(a.run_dir)
    a.checks = Checks(("10.77.0.2", True), ("10.77.0.2", True))
    a.exit_check = make(a.checks)
    return a


def agent_json(agent):
    with open(agent.status_path) as f:
        return json.load(f)


class FakeDataPlane:
    def as_dict(self):
        return {"backend": "userspace"}


def connected(agent, server="ams-gw"):
    agent.data_plane = FakeDataPlane()
    agent.device = {"api_url": "https://api.vpnspot.test:8443", "device_token": "t",
                    "ca_file": None, "resolve": {}}
    agent.plane = object()
    agent.plane_generation += 1
    agent.sup.current = {"id": server, "dns": ["10.77.0.1"]}
    agent.sup.state = sv.CONNECTED


def test_the_agent_checks_a_connected_vpnspot_tunnel_and_writes_the_answer_to_agent_json(agent):
    agent.data_plane = FakeDataPlane()
    agent.write_status()
    assert agent_json(agent)["exit_address"] is None and agent.checks.asked == []
    connected(agent)
    agent.sup.state = sv.CONNECTING             # no handshake yet: nothing to ask
    agent.write_status()
    assert agent.checks.asked == []
    agent.sup.state = sv.CONNECTED
    agent.write_status()
    agent.write_status()
    assert agent.checks.asked == ["vpnspot0"]
    assert agent_json(agent)["exit_address"] == {
        "state": "checked", "server": "ams-gw", "address": "10.77.0.2", "vpnspot": True,
        "checked_at": 5000.0}


def test_a_failover_or_a_stopped_tunnel_clears_the_entry_in_the_same_status_write(agent):
    connected(agent)
    agent.write_status()
    agent.write_status()
    assert agent_json(agent)["exit_address"]["state"] == "checked"
    connected(agent, "ams-gw2")                 # a new tunnel: new generation
    agent.sup.state = sv.FAILING_OVER
    agent.write_status()
    assert agent_json(agent)["exit_address"] is None
    agent.sup.state = sv.CONNECTED
    agent.write_status()
    assert agent_json(agent)["exit_address"]["server"] == "ams-gw2"
    agent.plane = None
    agent.write_status()
    assert agent_json(agent)["exit_address"] is None


def test_the_household_s_own_server_is_marked_not_checked(agent):
    connected(agent)
    agent.sup.current = {"id": "own", "own": True, "endpoint": "203.0.113.50:51820",
                         "dns": [], "region": None}
    agent.write_status()
    assert agent_json(agent)["exit_address"] == {"state": "own_server"}
    assert agent.checks.asked == []


def test_the_check_is_sent_out_of_the_tunnel_without_the_device_token(agent, monkeypatch):
    made = {}

    class Client:
        def __init__(self, api_url, **kw):
            made.update(kw, api_url=api_url)

        def connection_check(self):
            return pc.ConnectionCheck("10.77.0.2", True)
    monkeypatch.setattr(pc, "ProviderClient", Client)
    monkeypatch.setenv("VPNSPOT_NO_FORK", "1")      # in this process, to see the client made
    connected(agent)
    assert agent._connection_check("vpnspot0") == ("10.77.0.2", True)
    assert made["device"] == "vpnspot0" and "device_token" not in made
    assert made["retries"] == 0 and made["timeout"] == exitcheck.TIMEOUT


# ------------------------------------------------------- `vpnspot status`


@pytest.mark.parametrize("entry, text", [
    (None, "-"),
    ({"state": "checking", "server": "ams-gw"}, "checking..."),
    ({"state": "checked", "server": "ams-gw", "address": "10.77.0.2", "vpnspot": True,
      "checked_at": 990.0}, "10.77.0.2, a VPN Spot exit (checked through the tunnel 10 s ago)"),
    ({"state": "checked", "server": "ams-gw", "address": "192.0.2.7", "vpnspot": False,
      "checked_at": 990.0}, "192.0.2.7, NOT a VPN Spot exit: traffic through the tunnel is "
                            "not protected (checked 10 s ago)"),
    ({"state": "failed", "server": "ams-gw", "error": "no network", "checked_at": 990.0},
     "not checked: no network; trying again"),
    ({"state": "own_server"}, "not checked: your own server is not part of VPN Spot"),
])
def test_vpnspot_status_says_what_the_check_found(entry, text):
    assert exit_address_text(entry, now=1000.0) == text
