"""A setting saved in the web UI reaches the running service agent at once:
the web UI's real backend (vpnspot_router/web/realbackend.py) saves
/etc/config/vpnspot and sends the agent its "reload" request; the agent's
nftables table follows in the same process, with the same tunnel, and the
household reads what was applied now. A capture on the router's WAN runs
throughout: 0 leaked.

Before this, only a kill switch change was sent: ipv6_mode block saved in
the web UI left IPv6 going through the tunnel until the agent restarted.

Needs root, namespaces, wireguard-go, nft, tcpdump and dnsmasq (as
tests/router/test_service_reload.py); when any is missing it FAILS.
"""

import os

import pytest

from tests.faults.household import finish
from tests.router.test_service import API_ADDR, API_PORT, Service
from tests.router.test_service_reload import through_tunnel, tunnels_started, write_config
from vpnspot_router import configstore
from vpnspot_router.lab import topology as T
from vpnspot_router.web.realbackend import RealBackend

pytestmark = pytest.mark.interop


@pytest.fixture
def service(lab):
    s = Service(lab)
    yield s
    s.stop()


def table(service):
    return service.lab.run("router", "nft", "list", "table", "inet", "vpnspot").stdout


def test_ipv6_blocked_in_the_web_ui_reaches_the_agent_s_table_without_a_restart(service):
    lab, house = service.lab, service.house
    write_config(service, [("kill_switch", "1")])
    service.enroll()
    service.start_agent()
    pid = service.agent.pid
    started = tunnels_started(service)
    assert "vpnspot ipv6 blocked" not in table(service)
    assert house.http_from_lan(T.SITE6).get("ok")       # IPv6 through the tunnel to begin with
    capture = house.start_capture(api=[(API_ADDR, API_PORT)])

    web = RealBackend(paths=configstore.Paths(os.path.join(service.config, "vpnspot"),
                                              (os.path.join(service.state, "provisioning"),)),
                      state_dir=service.state, run_dir=service.run)
    done = web.change_settings({"ipv6_mode": "block"})
    print("\n[web UI ipv6_mode block] %s" % done)
    # In the agent's table now, IPv6 from the LAN refused.
    assert "vpnspot ipv6 blocked" in table(service)
    assert not house.http_from_lan(T.SITE6, timeout=1.0).get("ok")

    assert done["now"] == ["ipv6_mode"] and done["problem"] is None, done
    assert done["note"] == "saved; applied now: ipv6_mode", done
    with open(os.path.join(service.config, "vpnspot")) as f:
        assert "option ipv6_mode 'block'" in f.read()
    # By the agent's reload: the same process, the same tunnel.
    assert service.status()["reloads"] == 1
    assert through_tunnel(house)
    assert service.agent.poll() is None and service.agent.pid == pid
    assert tunnels_started(service) == started
    assert "kill switch ON" in house.vpnspot("killswitch", "status").stdout

    # And back: IPv6 through the tunnel again.
    back = web.change_settings({"ipv6_mode": "tunnel"})
    assert back["now"] == ["ipv6_mode"], back
    assert "vpnspot ipv6 blocked" not in table(service)
    assert house.http_from_lan(T.SITE6).get("ok")
    assert service.agent.pid == pid and tunnels_started(service) == started
    finish(capture, "web UI ipv6_mode block and back, applied by the running agent")
