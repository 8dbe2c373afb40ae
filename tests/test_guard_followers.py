"""Whoever changes the kill switch or dns_mode, the boot guard follows: the
web UI's and the console's real backends, with the agent running (its
control requests "kill_switch" and "guard_sync" end in net/guard.py) and
without (main.enabled 0: they sync the guard themselves, by the same code).

The case that left a window at boot: kill switch off, then on again, must
leave no guard.d/kill-switch-off.nft and the guard table loaded.

In memory: FakeNftGuard for nft, a ServiceAgent with FakeFirewall and
FakeRouting behind a stand-in for the control socket."""

import json
import os
import time

import pytest

from vpnspot_router import agent as agent_mod, configstore, driver
from vpnspot_router.console import backend as console_backend
from vpnspot_router.core import config as core_config
from vpnspot_router.crypto import default_provider
from vpnspot_router.net import firewall as fw_mod
from vpnspot_router.net import guard as gd
from vpnspot_router.net import routing as rt_mod
from vpnspot_router.tunnel import backend as be
from vpnspot_router.web.realbackend import RealBackend as WebBackend

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "firmware_pkg", "package", "vpnspot", "files", "vpnspot.nft")
NET = {"kill_switch": "on", "dns": "tunnel", "ipv6": "auto", "mtu": "auto", "lan": "br-lan",
       "wan": "wan", "tunnel": "vpnspot0"}
WHOLE = {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}


class Router:
    def __init__(self, tmp_path, enabled=True):
        self.config = tmp_path / "config"
        self.state = tmp_path / "state"
        self.run = tmp_path / "run"
        for d in (self.config, self.state, self.run):
            d.mkdir()
        self.conf_path = self.config / "vpnspot"
        self.conf_path.write_text("config vpnspot 'main'\n\toption enabled '%d'\n" % enabled)
        self.paths = configstore.Paths(str(self.conf_path), (str(self.state / "provisioning"),))
        self.nft = gd.FakeNftGuard()
        self.guard = gd.BootGuard(self.paths, str(self.state), SHIPPED, self.nft)
        self.guard.sync()
        self.agent = None

    def off_file(self):
        return os.path.exists(self.state / "guard.d" / "kill-switch-off.nft")

    def start_agent(self, monkeypatch):
        settings, _ = configstore.load_settings(self.paths)
        self.agent = driver.ServiceAgent(
            settings, dict(NET), str(self.state), str(self.run), default_provider(),
            firewall=fw_mod.FakeFirewall(), routing=rt_mod.FakeRouting(),
            data_plane=be.Choice(be.USERSPACE, "test"), backend_factory=lambda name: None,
            report_timing={"first_jitter": 0}, guard=self.guard)
        self.agent.dispatch(self.agent.sup.boot(time.monotonic()))

        def source(previous_lan):
            # As agent.py's: the settings files read again, for "reload".
            new, notes = agent_mod.reload_settings(self.paths)
            return new, dict(NET, **agent_mod.service_net_settings(
                new, previous_lan, "wan", "vpnspot0")), notes
        self.agent.settings_source = source
        # agent.json of a live service agent, and its control socket in memory.
        (self.run / "agent.json").write_text(json.dumps(
            {"pid": os.getpid(), "mode": "service", "state": "running"}))
        self.requests = []

        def control_call(run_dir, request, timeout=30.0):
            assert run_dir == str(self.run)
            self.requests.append(request["cmd"])
            return json.loads(json.dumps(self.agent.handle(request)))
        monkeypatch.setattr(driver, "control_call", control_call)

    def web(self):
        b = WebBackend(paths=self.paths, state_dir=str(self.state), run_dir=str(self.run))
        b.guard = self.guard
        return b

    def console(self):
        b = console_backend.RealBackend(paths=self.paths, run_dir=str(self.run),
                                        state_dir=str(self.state))
        b.guard = self.guard
        return b


def web_set(router, key, value):
    router.web().change_settings({key: value})


def console_set(router, key, value):
    c = router.console()
    c.config_set(key, value)
    return c.config_commit()["note"]


SETTERS = {"web UI": web_set, "console": console_set}


@pytest.fixture(params=sorted(SETTERS))
def setter(request):
    return SETTERS[request.param]


def test_without_an_agent_kill_switch_off_then_on_leaves_no_off_file_and_the_guard_loaded(
        tmp_path, setter):
    router = Router(tmp_path, enabled=False)
    setter(router, "kill_switch", "0")
    assert router.off_file() and router.nft.status()["loaded"] is False
    setter(router, "kill_switch", "1")
    assert not router.off_file()
    assert router.nft.status() == WHOLE


def test_with_the_agent_running_it_syncs_the_guard_after_its_own_firewall(
        tmp_path, setter, monkeypatch):
    router = Router(tmp_path)
    router.start_agent(monkeypatch)
    setter(router, "kill_switch", "0")
    assert router.requests == ["kill_switch"]
    assert router.off_file() and router.nft.status()["loaded"] is False
    assert not router.agent.firewall.status()["kill_switch"]
    setter(router, "kill_switch", "1")
    assert not router.off_file()
    assert router.nft.status() == WHOLE
    assert router.agent.firewall.status()["kill_switch"]


@pytest.mark.parametrize("agent", ["agent running", "no agent"])
def test_dns_mode_isp_lets_lan_dns_to_the_router_through_the_guard_and_back(
        tmp_path, setter, monkeypatch, agent):
    router = Router(tmp_path)
    if agent == "agent running":
        router.start_agent(monkeypatch)
    setter(router, "dns_mode", "isp")
    assert router.nft.status() == dict(WHOLE, dns_guard=False)
    assert os.listdir(router.state / "guard.d") == ["dns-off.nft"]
    setter(router, "dns_mode", "tunnel")
    assert router.nft.status() == WHOLE
    assert os.listdir(router.state / "guard.d") == []
    if agent == "agent running":
        # The agent's reload applies dns_mode to its table and syncs the guard.
        assert router.requests == ["reload", "reload"]


def test_the_agent_refuses_a_guard_sync_it_cannot_do_and_says_why(tmp_path, monkeypatch):
    router = Router(tmp_path)
    router.start_agent(monkeypatch)
    router.nft.fail_next = "Error: Could not process rule: No buffer space available"
    answer = router.agent.handle({"cmd": "guard_sync"})
    assert answer["ok"] is False and "No buffer space" in answer["error"]
    assert router.nft.status() == WHOLE


def test_a_locked_kill_switch_keeps_the_guard_whatever_the_household_file_says(tmp_path):
    router = Router(tmp_path, enabled=False)
    (router.state / "provisioning").write_text(
        "config provider 'provider'\n\toption name 'Example ISP'\n\tlist lock 'kill_switch'\n")
    router.conf_path.write_text("config vpnspot 'main'\n\toption enabled '0'\n"
                                "\toption kill_switch '0'\n")
    core_config.load(router.conf_path.read_text(), core_config.parse_provisioning(
        (router.state / "provisioning").read_text()))
    router.guard.sync()
    assert not router.off_file() and router.nft.status() == WHOLE


# -- every saved setting reaches the running agent ("reload") ---------------

def web_answer(router, key, value):
    return router.web().change_settings({key: value})["note"]


ANSWERERS = {"web UI": web_answer, "console": console_set}


@pytest.fixture(params=sorted(ANSWERERS))
def answerer(request):
    return ANSWERERS[request.param]


@pytest.mark.parametrize("key, value, net, firewall", [
    ("dns_mode", "isp", ("dns", "off"), {"dns_blocked": False, "dns_to_tunnel": False}),
    # Without a tunnel IPv6 is blocked either way: the agent's plan says it.
    ("ipv6_mode", "block", ("ipv6", "off"), {"ipv6_blocked": True}),
])
def test_a_dns_or_ipv6_change_reaches_the_running_agent_s_table_and_says_so(
        tmp_path, answerer, monkeypatch, key, value, net, firewall):
    """Saved from either face, the change is in the agent's table at once
    (its reload), and the household reads that it is applied now."""
    router = Router(tmp_path)
    router.start_agent(monkeypatch)
    assert router.agent.net_settings[net[0]] != net[1]
    applies = len(router.agent.firewall.history)
    note = answerer(router, key, value)
    assert router.requests == ["reload"]
    assert router.agent.net_settings[net[0]] == net[1]
    assert len(router.agent.firewall.history) > applies      # the table, again
    after = router.agent.firewall.status()
    assert dict((k, after[k]) for k in firewall) == firewall, after
    assert after["kill_switch"] is True
    assert router.agent.last_reload["live"] == [key]
    assert "applied now: %s" % key in note, note
    assert "agent starts" not in note and "restart" not in note, note


def test_a_setting_the_agent_cannot_apply_live_is_named_as_waiting_for_a_restart(
        tmp_path, answerer, monkeypatch):
    router = Router(tmp_path)
    router.start_agent(monkeypatch)
    if answerer is console_set:
        note = answerer(router, "crypto", "userspace")
    else:
        # crypto is not among the web UI's household settings: the agent's
        # answer is what the note says, whatever the face.
        router.conf_path.write_text(router.conf_path.read_text() + "\toption crypto 'userspace'\n")
        note = answerer(router, "ipv6_mode", "block")
        assert "applied now: ipv6_mode" in note, note
    assert router.requests == ["reload"]
    assert "applies after a restart of the agent (/etc/init.d/vpnspot restart): crypto" in note, \
        note


def test_without_an_agent_the_note_says_the_change_waits_for_its_start(tmp_path, answerer):
    router = Router(tmp_path, enabled=False)
    note = answerer(router, "ipv6_mode", "block")
    assert "when it starts" in note or "when the agent starts" in note or \
        "reads it when it starts" in note, note
