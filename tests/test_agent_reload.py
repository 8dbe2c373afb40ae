"""A reload of the service agent (SIGHUP from procd after `uci commit
vpnspot` or `/etc/init.d/vpnspot reload`): driver.reload_decision says what
each changed setting needs (table and routes again, a new tunnel, a
restart, or nothing of the agent's), and ServiceAgent.reload_settings does
it: the tunnel is kept unless the tunnel itself changed; unusable settings
change nothing. In memory: FakeFirewall, FakeRouting, a recording tunnel
backend (tests/test_driver.py). The real process is in
tests/router/test_service_reload.py."""

import os
import signal
import time

import pytest

from tests.test_driver import NET, make_agent, started
from vpnspot_router import agent as agent_mod, configstore, driver
from vpnspot_router.core import config as core_config
from vpnspot_router.core import supervisor as sv

MAIN = "config vpnspot 'main'\n"
OWN = MAIN + "\toption server_source 'own'\n"


def net_for(settings, lan=("br-lan",)):
    return agent_mod.service_net_settings(settings, list(lan), "wan", "vpnspot0")


def decide(old_text, new_text, old_lan=("br-lan",), new_lan=("br-lan",)):
    old, new = core_config.load(old_text), core_config.load(new_text)
    return driver.reload_decision(old, new, net_for(old, old_lan), net_for(new, new_lan))


# -- which change needs what -------------------------------------------------

@pytest.mark.parametrize("option, value, replan", [
    ("kill_switch", "0", ["kill_switch"]),
    ("dns_mode", "isp", ["dns"]),
    ("ipv6_mode", "block", ["ipv6"]),
])
def test_kill_switch_dns_and_ipv6_changes_replan_the_table_and_keep_the_tunnel(option, value, replan):
    d = decide(MAIN, MAIN + "\toption %s '%s'\n" % (option, value))
    assert d["changed"] == [option] and d["live"] == [option]
    assert d["replan"] == replan
    assert d["reconnect"] == [] and d["restart"] == [] and d["source"] is None


def test_a_new_lan_device_replans_and_keeps_the_tunnel():
    d = decide(MAIN, MAIN + "\tlist lan_networks 'lan'\n\tlist lan_networks 'guest'\n",
               new_lan=("br-guest", "br-lan"))
    assert d["changed"] == ["lan_networks"] and d["replan"] == ["lan"] and d["reconnect"] == []


def test_accounting_periods_apply_live_without_touching_table_or_tunnel():
    d = decide(MAIN, MAIN + "\toption report_period_minutes '60'\n\toption checkpoint_minutes '5'\n")
    assert d["live"] == ["checkpoint_minutes", "report_period_minutes"]
    assert d["replan"] == [] and d["reconnect"] == []


@pytest.mark.parametrize("option, value", [("region", "europe"), ("server", "ams-gw2"), ("mtu", "1300")])
def test_region_server_and_mtu_need_a_new_tunnel(option, value):
    d = decide(MAIN, MAIN + "\toption %s '%s'\n" % (option, value))
    assert d["reconnect"] == [option] and d["replan"] == [] and d["live"] == []


def test_crypto_and_the_web_address_need_a_restart_and_enrollment_options_are_not_the_agents():
    d = decide(MAIN, MAIN + "\toption crypto 'userspace'\n\toption web_port '9443'\n"
               "\toption api_url 'https://api.example.net/v1'\n")
    assert d["restart"] == ["crypto", "web_port"]
    assert d["elsewhere"] == ["api_url"]
    assert d["reconnect"] == [] and d["replan"] == [] and d["live"] == []


def test_server_source_is_its_own_switch():
    assert decide(MAIN, OWN)["source"] == "own"
    assert decide(OWN, MAIN)["source"] == "vpnspot"


def test_nothing_changed_means_nothing_to_do():
    d = decide(MAIN + "\toption kill_switch '1'\n", MAIN)
    assert d == {"changed": [], "replan": [], "reconnect": [], "live": [], "restart": [],
                 "elsewhere": [], "source": None}


def test_every_setting_is_classified_once():
    """A new option must be placed: live, reconnect, restart or elsewhere."""
    classes = [set(driver.RELOAD_LIVE), set(driver.RELOAD_RECONNECT), set(driver.RELOAD_RESTART),
               set(driver.RELOAD_ELSEWHERE), {"server_source"}]
    keys = [f.key for f in core_config.FIELDS]
    for k in keys:
        assert sum(k in c for c in classes) == 1, k
    assert set().union(*classes) == set(keys)


# -- the agent applies it --------------------------------------------------------

def reloading(agent, text, calls=None):
    """The agent's settings source returns `text`'s settings (as agent.py's
    does after reading the files)."""
    def source(previous_lan):
        if calls is not None:
            calls.append(list(previous_lan))
        settings = core_config.load(text)
        return settings, dict(NET, **net_for(settings, previous_lan)), []
    agent.settings_source = source
    return agent


def connected_own(tmp_path):
    agent = make_agent(tmp_path)
    agent.dispatch(agent._use_own(time.monotonic()))
    assert len(started(agent)) == 1
    return agent


def test_a_kill_switch_change_reaches_the_table_and_the_tunnel_stays(tmp_path):
    agent = connected_own(tmp_path)
    assert "vpnspot kill switch" in agent.firewall.text
    plane = agent.plane
    calls = []
    result = reloading(agent, OWN + "\toption kill_switch '0'\n", calls).reload_settings()
    assert result["ok"] and result["changed"] == ["kill_switch"] and result["reconnect"] == []
    assert calls == [["br-lan"]]
    assert "vpnspot kill switch" not in agent.firewall.text
    assert agent.net_settings["kill_switch"] == "off" and agent.settings.kill_switch is False
    assert agent.plane is plane and len(started(agent)) == 1      # the tunnel was not touched
    assert ("stop", plane.conf) not in agent.backend_log
    # And back on: the table holds the drop rule again.
    reloading(agent, OWN).reload_settings()
    assert "vpnspot kill switch" in agent.firewall.text and agent.plane is plane


def test_the_reload_request_does_what_sighup_does_and_answers(tmp_path):
    agent = reloading(connected_own(tmp_path), OWN + "\toption kill_switch '0'\n")
    answer = agent.handle({"cmd": "reload"})
    assert answer["ok"] and answer["changed"] == ["kill_switch"], answer
    assert "vpnspot kill switch" not in agent.firewall.text and len(started(agent)) == 1


def test_an_mtu_change_builds_the_tunnel_again_with_it(tmp_path):
    agent = connected_own(tmp_path)
    result = reloading(agent, OWN + "\toption mtu '1300'\n").reload_settings()
    assert result["reconnect"] == ["mtu"]
    assert [c.interface.mtu for c in started(agent)] == [1400, 1300]


def test_a_region_change_with_the_own_server_leaves_its_tunnel_alone(tmp_path):
    agent = connected_own(tmp_path)
    result = reloading(agent, OWN + "\toption region 'europe'\n").reload_settings()
    assert result["ok"] and result["reconnect"] == [] and len(started(agent)) == 1
    assert agent.sup.region == "europe"         # for when VPN Spot servers are used again


def test_a_region_change_makes_the_supervisor_choose_again(tmp_path):
    agent = make_agent(tmp_path, household=MAIN)
    actions = []
    agent.dispatch = actions.extend
    agent.sup.killswitch_loaded(time.monotonic(), True)
    transitions = agent.sup.transitions
    reloading(agent, MAIN + "\toption kill_switch '0'\n").reload_settings()
    assert actions == [] and agent.sup.transitions == transitions
    result = reloading(agent, MAIN + "\toption region 'europe'\n\toption server 'ams-gw2'\n"
                       ).reload_settings()
    assert result["reconnect"] == ["region", "server"]
    assert [a.kind for a in actions] == [sv.FETCH_SERVERS]
    assert agent.sup.history[-1][2] == "connect", agent.sup.history[-1]
    assert (agent.sup.state, agent.sup.region, agent.sup.pinned) == (sv.FETCHING, "europe", "ams-gw2")


def test_after_the_household_disconnected_a_region_change_does_not_connect(tmp_path):
    agent = make_agent(tmp_path, household=MAIN)
    actions = []
    agent.dispatch = actions.extend
    agent.sup.killswitch_loaded(time.monotonic(), True)
    agent.sup.disconnect(time.monotonic())
    reloading(agent, MAIN + "\toption region 'europe'\n").reload_settings()
    assert actions == [] and agent.sup.state == sv.DISCONNECTED and agent.sup.region == "europe"


def test_unusable_settings_change_nothing(tmp_path):
    agent = connected_own(tmp_path)
    applied = list(agent.firewall.history)
    settings, net = agent.settings, dict(agent.net_settings)

    def broken(previous_lan):
        raise core_config.ConfigError("/etc/config/vpnspot", 3, "kill_switch", "'maybe' is not 0 or 1")
    agent.settings_source = broken
    result = agent.reload_settings()
    assert result["ok"] is False and "/etc/config/vpnspot:3" in result["error"], result
    assert agent.settings is settings and agent.net_settings == net
    assert agent.firewall.history == applied and "vpnspot kill switch" in agent.firewall.text
    assert len(started(agent)) == 1 and agent.reloads == 1


def test_a_table_nft_refuses_keeps_the_settings_in_force(tmp_path):
    agent = connected_own(tmp_path)
    settings, net, text = agent.settings, dict(agent.net_settings), agent.firewall.text
    agent.firewall.fail_next = "Error: Could not process rule"
    result = reloading(agent, OWN + "\toption kill_switch '0'\n").reload_settings()
    assert result["ok"] is False and "Could not process rule" in result["error"], result
    assert agent.settings is settings and agent.net_settings == net
    assert agent.firewall.text == text and "vpnspot kill switch" in text
    assert len(started(agent)) == 1


def test_sighup_only_sets_a_flag(tmp_path):
    agent = make_agent(tmp_path)
    old = signal.signal(signal.SIGHUP, agent._on_hup)
    try:
        os.kill(os.getpid(), signal.SIGHUP)     # the default action would end this process
    finally:
        signal.signal(signal.SIGHUP, old)
    assert agent.reload_requested is True and agent.reloads == 0


# -- agent.py's reader -------------------------------------------------------------

def test_the_reload_reader_refuses_a_bad_file_and_leaves_it_where_it_is(tmp_path):
    path = tmp_path / "vpnspot"
    paths = configstore.Paths(str(path), (str(tmp_path / "provisioning"),))
    path.write_text(MAIN + "\toption kill_switch '0'\n")
    settings, _ = agent_mod.reload_settings(paths)
    assert settings.kill_switch is False
    bad = MAIN + "\toption kill_switch 'maybe'\n"
    path.write_text(bad)
    with pytest.raises(core_config.ConfigError) as e:
        agent_mod.reload_settings(paths)
    assert "kill_switch" in str(e.value) and str(path) in str(e.value)
    # Not moved aside (as the start's reader does): still there to be corrected.
    assert path.read_text() == bad
    assert [p.name for p in tmp_path.iterdir() if "corrupt" in p.name] == []
