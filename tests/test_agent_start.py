"""`vpnspot agent` (service mode) at start, in memory: what protects the
household before any slow step, whatever happens next.

  - the agent's own table (kill switch, LAN DNS dropped until a tunnel
    resolver is known) is loaded before the crypto measurement starts (it
    takes seconds at first boot; provider calls come later still);
  - the boot guard (net/guard.py) is synced from the settings at start, also
    when the agent is switched off (main.enabled 0) and when it refuses to
    start because a settings file is bad: then the guard is fully on.

FakeFirewall, FakeRouting and FakeNftGuard stand in for nft and ip; the
guard file is the package's own."""

import os

import pytest

from vpnspot_router import agent as agent_mod
from vpnspot_router import cli
from vpnspot_router.net import firewall as fw_mod
from vpnspot_router.net import guard as gd
from vpnspot_router.net import routing as rt_mod

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "firmware_pkg", "package", "vpnspot", "files", "vpnspot.nft")


class Measured(Exception):
    """Raised by the stand-in measurement: the test has seen what it needs."""


@pytest.fixture
def router(tmp_path, monkeypatch):
    r = type("Router", (), {})()
    r.config = tmp_path / "config"
    r.state = tmp_path / "state"
    r.config.mkdir()
    r.state.mkdir()
    r.firewall = fw_mod.FakeFirewall()
    r.routing = rt_mod.FakeRouting()
    r.nft = gd.FakeNftGuard()
    r.seen = []
    monkeypatch.setattr(agent_mod.fw_mod, "Firewall", lambda: r.firewall)
    monkeypatch.setattr(agent_mod.rt_mod, "Routing", lambda: r.routing)
    monkeypatch.setattr(gd, "NftGuard", lambda: r.nft)

    def measurement(state_dir, override=None):
        r.seen.append({"firewall": r.firewall.status(), "guard": r.nft.status(),
                       "routes": set(r.routing.routes)})
        raise Measured()
    monkeypatch.setattr(agent_mod, "_crypto_decision", measurement)
    r.args = cli.build_parser("agent").parse_args([
        "agent", "--config-dir", str(r.config), "--state-dir", str(r.state),
        "--run-dir", str(tmp_path / "run"), "--lan", "br-lan", "--guard-file", SHIPPED])
    r.config.joinpath("vpnspot").write_text("config vpnspot 'main'\n\toption kill_switch '1'\n")
    return r


def test_the_agents_table_is_loaded_before_the_crypto_measurement_starts(router):
    with pytest.raises(Measured):
        agent_mod.cmd_service_agent(router.args)
    assert len(router.seen) == 1
    before = router.seen[0]
    assert before["firewall"]["loaded"] and before["firewall"]["kill_switch"]
    assert before["firewall"]["dns_blocked"] and before["firewall"]["ipv6_blocked"]
    assert before["routes"], "the unreachable routes were not in place"
    assert before["guard"] == {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}


def test_a_switched_off_agent_still_syncs_the_boot_guard(router):
    router.config.joinpath("vpnspot").write_text(
        "config vpnspot 'main'\n\toption enabled '0'\n\toption kill_switch '1'\n")
    assert agent_mod.cmd_service_agent(router.args) == agent_mod.EXIT_OK
    assert router.nft.status() == {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}
    assert router.seen == [] and router.firewall.text is None


def test_an_agent_that_refuses_a_bad_provisioning_file_leaves_the_guard_fully_on(router):
    router.config.joinpath("vpnspot").write_text(
        "config vpnspot 'main'\n\toption kill_switch '0'\n\toption dns_mode 'isp'\n")
    os.makedirs(router.state / "guard.d")
    (router.state / "guard.d" / "kill-switch-off.nft").write_text("delete table inet vpnspot_guard\n")
    (router.state / "provisioning").write_text("config provider 'provider'\n\toption name '\n")
    assert agent_mod.cmd_service_agent(router.args) == agent_mod.EXIT_USAGE
    assert router.nft.status() == {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}
    assert os.listdir(router.state / "guard.d") == []
    assert router.seen == []


def test_without_the_package_guard_file_the_agent_syncs_nothing(router, tmp_path):
    router.args.guard_file = str(tmp_path / "absent.nft")
    with pytest.raises(Measured):
        agent_mod.cmd_service_agent(router.args)
    assert router.nft.history == []
    assert router.seen[0]["firewall"]["kill_switch"]
