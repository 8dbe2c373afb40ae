"""The LAN devices read from the router (net/lannets.py): files, ubus, fallbacks."""

import json
import logging
import os
import stat

from vpnspot_router.net import lannets

FIREWALL = ("config zone\n\toption name 'lan'\n\tlist network 'lan'\n"
            "config zone\n\toption name 'wan'\n\tlist network 'wan'\n"
            "config zone\n\toption name 'guest'\n\tlist network 'guest'\n"
            "config forwarding\n\toption src 'lan'\n\toption dest 'wan'\n"
            "config forwarding\n\toption src 'guest'\n\toption dest 'wan'\n")
NETWORK = ("config interface 'lan'\n\toption device 'br-lan'\n"
           "config interface 'guest'\n\toption device 'br-guest'\n"
           "config interface 'wan'\n\toption device 'eth1'\n")


def test_the_router_files_and_netifd_decide_the_devices(tmp_path):
    (tmp_path / "firewall").write_text(FIREWALL)
    (tmp_path / "network").write_text(NETWORK)
    ubus = tmp_path / "ubus"
    ubus.write_text("#!/bin/sh\n[ \"$*\" = 'call network.interface dump' ] || exit 9\n"
                    "echo '%s'\n" % json.dumps({"interface": [
                        {"interface": "lan", "up": True, "l3_device": "br-lan.1"}]}))
    ubus.chmod(ubus.stat().st_mode | stat.S_IXUSR)
    src = lannets.RouterConfig(str(tmp_path), ubus=str(ubus))
    assert lannets.devices(src) == ["br-guest", "br-lan.1"]
    # Without ubus (the lab, a development machine) the files alone decide.
    assert lannets.devices(lannets.RouterConfig(str(tmp_path), ubus=None)) == ["br-guest", "br-lan"]


def test_a_failing_ubus_falls_back_to_the_files(tmp_path, caplog):
    (tmp_path / "firewall").write_text(FIREWALL)
    (tmp_path / "network").write_text(NETWORK)
    ubus = tmp_path / "ubus"
    ubus.write_text("#!/bin/sh\necho 'Command failed: Not found' >&2\nexit 4\n")
    ubus.chmod(0o755)
    with caplog.at_level(logging.WARNING):
        assert lannets.devices(lannets.RouterConfig(str(tmp_path), ubus=str(ubus))) == [
            "br-guest", "br-lan"]
    assert "Not found" in caplog.text


def test_a_wrong_list_is_logged_and_every_forwarding_network_covered_instead(caplog):
    src = lannets.FakeRouterConfig({"firewall": FIREWALL, "network": NETWORK})
    assert lannets.devices(src, ("guest",)) == ["br-guest"]
    with caplog.at_level(logging.ERROR):
        assert lannets.devices(src, ("gest",)) == ["br-guest", "br-lan"]
    assert "/etc/config/vpnspot: lan_networks: 'gest' is not a network" in caplog.text


def test_on_a_reload_an_error_keeps_the_devices_in_force(caplog):
    src = lannets.FakeRouterConfig({"firewall": FIREWALL, "network": NETWORK})
    with caplog.at_level(logging.ERROR):
        assert lannets.devices(src, ("wan",), previous=["br-lan", "br-x"]) == ["br-lan", "br-x"]
    assert "still covering br-lan, br-x" in caplog.text


def test_nothing_derivable_means_openwrts_br_lan(caplog):
    assert lannets.devices(lannets.FakeRouterConfig({})) == ["br-lan"]
    assert lannets.devices(lannets.RouterConfig(os.devnull + "-none", ubus=None)) == ["br-lan"]
