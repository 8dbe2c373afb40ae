"""The agent follows the router's LAN networks (driver.ServiceAgent.reload_lan
and `vpnspot agent` without --lan): a guest network added after install is
tunnelled and kill-switched on the next "lan_reload", without a restart.
In memory: FakeFirewall, FakeRouting, FakeRouterConfig."""

import argparse
import time

from tests.test_driver import make_agent
from vpnspot_router import agent as agent_mod, driver
from vpnspot_router.net import lannets, routing as rt_mod

FIREWALL = ("config zone\n\toption name 'lan'\n\tlist network 'lan'\n"
            "config zone\n\toption name 'wan'\n\tlist network 'wan'\n"
            "config forwarding\n\toption src 'lan'\n\toption dest 'wan'\n")
GUEST_FIREWALL = ("config zone\n\toption name 'guest'\n\tlist network 'guest'\n"
                  "config forwarding\n\toption src 'guest'\n\toption dest 'wan'\n")
NETWORK = ("config interface 'lan'\n\toption device 'br-lan'\n"
           "config interface 'wan'\n\toption device 'eth1'\n")
GUEST_NETWORK = "config interface 'guest'\n\toption device 'br-guest'\n"


def following(agent, source):
    agent.lan_source = lambda previous: lannets.devices(source, (), previous)
    return agent


def lan_rules(agent):
    return sorted(r[2] for r in agent.routing.rules if r[1] == rt_mod.RULE_PRIO_LAN and r[0] == 4)


def test_a_guest_network_added_later_is_kill_switched_and_routed_on_reload(tmp_path):
    source = lannets.FakeRouterConfig({"firewall": FIREWALL, "network": NETWORK})
    agent = following(make_agent(tmp_path), source)
    assert agent.handle({"cmd": "lan_reload"}) == {"ok": True, "lan": ["br-lan"], "changed": False,
                                                  "source": "configuration"}
    assert 'iifname "br-lan" oifname != "vpnspot0"' in agent.firewall.text
    source.files["firewall"] += GUEST_FIREWALL
    source.files["network"] += GUEST_NETWORK
    answer = agent.handle({"cmd": "lan_reload"})
    assert answer["ok"] and answer["changed"] and answer["lan"] == ["br-guest", "br-lan"], answer
    assert 'iifname { "br-guest", "br-lan" } oifname != "vpnspot0" counter drop' in agent.firewall.text
    assert lan_rules(agent) == ["iif br-guest", "iif br-lan"]
    # The kill switch stayed on throughout: every apply held the drop rule.
    assert all("vpnspot kill switch" in text for what, text in agent.firewall.history if what == "apply")


def test_a_broken_configuration_on_reload_keeps_what_is_covered(tmp_path):
    source = lannets.FakeRouterConfig({"firewall": FIREWALL + GUEST_FIREWALL,
                                       "network": NETWORK + GUEST_NETWORK})
    agent = following(make_agent(tmp_path), source)
    agent.handle({"cmd": "lan_reload"})
    applied = len(agent.firewall.history)
    source.files["firewall"] = "config zone\n\toption name 'lan'\n"     # forwardings gone
    answer = agent.handle({"cmd": "lan_reload"})
    assert answer["lan"] == ["br-guest", "br-lan"] and not answer["changed"]
    assert len(agent.firewall.history) == applied


def test_with_lan_given_on_the_command_line_nothing_is_derived(tmp_path):
    agent = make_agent(tmp_path)
    assert agent.handle({"cmd": "lan_reload"}) == {"ok": True, "lan": ["br-lan"], "changed": False,
                                                  "source": "--lan"}


def test_the_agent_derives_its_devices_when_no_lan_is_given(tmp_path):
    (tmp_path / "firewall").write_text(FIREWALL + GUEST_FIREWALL)
    (tmp_path / "network").write_text(NETWORK + GUEST_NETWORK.replace("br-guest", "br-lan.3"))
    args = argparse.Namespace(lan=None, config_dir=str(tmp_path))
    from vpnspot_router.core import config
    assert agent_mod.lan_devices(args, config.load(None)) == ["br-lan", "br-lan.3"]
    assert agent_mod.lan_devices(args, config.load(
        "config vpnspot 'main'\n\tlist lan_networks 'guest'\n")) == ["br-lan.3"]
    args.lan = ["br-x", "br-y"]
    assert agent_mod.lan_devices(args, config.load(None)) == ["br-x", "br-y"]


def test_debug_neighbours_cover_every_lan_device(tmp_path, monkeypatch):
    agent = make_agent(tmp_path)
    agent.net_settings["lan"] = "br-lan br-guest"
    asked = []

    class Done:
        stdout = "192.168.77.10 lladdr 02:00:00:00:00:01 REACHABLE\n"

    monkeypatch.setattr(driver.subprocess, "run", lambda argv, **kw: asked.append(argv) or Done())
    now = time.monotonic()
    agent.debug.open(now, 60)
    agent._neighbours(now)
    assert [a[-1] for a in asked] == ["br-lan", "br-guest"]
    assert [e for e in agent.debug.entries if "br-guest 192.168.77.10" in repr(e)]


def test_guard_sync_takes_the_running_agents_devices_after_it_derived_them(tmp_path):
    """`vpnspot guard sync` without --lan asks the running agent first (its
    lan_reload), so the agent's table and the boot guard cover the same
    devices; with no agent it derives them from the files; a copy of a
    router's files (--root) never asks an agent."""
    import threading
    (tmp_path / "firewall").write_text(FIREWALL + GUEST_FIREWALL)
    (tmp_path / "network").write_text(NETWORK + GUEST_NETWORK)
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    from vpnspot_router import configstore
    guard = argparse.Namespace(paths=configstore.Paths(str(tmp_path / "vpnspot"), ()))
    args = argparse.Namespace(lan=None, root="", run_dir=str(run))
    config_dir = str(tmp_path)
    assert agent_mod._guard_lan_devices(args, guard, config_dir) == ["br-guest", "br-lan"]
    server = driver.ControlServer(str(run))
    asked = []

    def agent_loop():
        request, slot, done = server.requests.get(timeout=10)
        asked.append(request)
        slot["answer"] = {"ok": True, "lan": ["br-lan.1"], "changed": True}
        done.set()
    try:
        t = threading.Thread(target=agent_loop)
        t.start()
        assert agent_mod._guard_lan_devices(args, guard, config_dir) == ["br-lan.1"]
        t.join()
        assert asked == [{"cmd": "lan_reload"}]
        args.root = str(tmp_path)
        assert agent_mod._guard_lan_devices(args, guard, config_dir) == ["br-guest", "br-lan"]
        assert len(asked) == 1
    finally:
        server.close()
