"""The household's own WireGuard server, in the household lab.

The router is enrolled with the reference VPN Spot service and connected
to the VPN Spot gateway `gw` (tests/router/test_service.py's Service). The
household's "own server" is the same wireguard-go process with a peer of
its own: a key, a preshared key and tunnel addresses (10.77.0.50,
fd77:77::50) the VPN Spot service never handed out, so the site's answer
("client=ADDR") tells which configuration carried a LAN client's page.
The file is imported and put to use the way the web UI does it: the real
web backend (web/realbackend.py), run in the router's namespace, saves
STATE/wg-household.conf and the option server_source and tells the
running agent over its control socket.

Proved, with a capture on the router's WAN all the while: the LAN's IPv4,
IPv6 and DNS go through the tunnel to the own server (its tunnel MTU
from the file); the router sends VPN Spot nothing (no request reaches the
service through two report periods, no packet to its address on the WAN);
0 packets leaked; switching back returns to the provider-driven flow on
the VPN Spot key. And with server_source 'own' but no usable file: the
agent says why, calls nobody, and the kill switch holds.

Timers as in test_service.py's privacy run (stated there); these tests
need root, namespaces, wireguard-go, nft, tcpdump and dnsmasq, and FAIL
when any is missing.
"""

import json
import os
import sys
import time

import pytest

from vpnspot_router.lab import netns
from vpnspot_router.lab import topology as T

from tests.faults.household import finish, kill_switch_on, lan_traffic_fails
from tests.router.test_service import API_ADDR, API_PORT, ENV, Service

pytestmark = pytest.mark.interop

OWN = "10.77.0.50"
OWN6 = "fd77:77::50"

# What the web UI's pages call, as one command: RealBackend over the
# router's files and the agent's control socket (no network traffic).
WEB = """
import json, sys
from vpnspot_router import configstore
from vpnspot_router.web.backend import BackendError
from vpnspot_router.web.realbackend import RealBackend
config, state, run, action = sys.argv[1:5]
web = RealBackend(paths=configstore.Paths(config + "/vpnspot", (state + "/provisioning",)),
                  state_dir=state, run_dir=run)
try:
    if action == "import":
        out = web.import_wg_config(sys.stdin.read())
    elif action == "own":
        out = web.use_own_server()
    else:
        out = web.use_vpnspot_servers()
except BackendError as e:
    out = {"error": e.message}
print(json.dumps(out))
"""


def web(service, action, text=""):
    proc = service.lab.run("router", sys.executable, "-c", WEB, service.config, service.state,
                           service.run, action, input=text)
    return json.loads(proc.stdout)


def household_server(service):
    """A peer for the household on `gw` (its own key, a preshared key, its
    own tunnel addresses) and the .conf the household would import."""
    house, lab = service.house, service.lab
    key, psk = netns.wg_genkey(), netns.wg_genpsk()
    path = os.path.join(lab.tmpdir, "household-psk")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(psk + "\n")
    lab.run("gw", "wg", "set", house.gw.ifname, "peer", netns.wg_pubkey(key), "preshared-key",
            path, "allowed-ips", "%s/32,%s/128" % (OWN, OWN6))
    os.unlink(path)
    return netns.wg_pubkey(key), "\n".join([
        "[Interface]", "PrivateKey = " + key, "Address = %s/32, %s/128" % (OWN, OWN6),
        "DNS = %s, %s" % (T.GW_TUNNEL, T.GW_TUNNEL6), "MTU = 1400", "",
        "[Peer]", "PublicKey = " + house.gw.public_key, "PresharedKey = " + psk,
        "Endpoint = %s:%d" % (T.GW, T.GW_PORT), "AllowedIPs = 0.0.0.0/0, ::/0",
        "PersistentKeepalive = 5", ""])


def page_from(house, host):
    """The address the site saw for a LAN client's page, or None."""
    r = house.http_from_lan(host, timeout=2.0)
    return r["body"].strip().split("=", 1)[1] if r.get("ok") else None


def reports(service):
    return [r for r in service.requests() if r["path"] == "/v1/reports"]


@pytest.fixture
def service(lab):
    s = Service(lab)
    yield s
    s.stop()


def test_the_household_s_own_server_carries_the_lan_tells_vpn_spot_nothing_and_vpn_spot_comes_back(service):
    house = service.house
    service.enroll()
    service.start_agent()
    assert page_from(house, T.SITE) == T.ROUTER_TUNNEL            # the VPN Spot key's address
    netns.wait_for(lambda: reports(service), timeout=20, what="a first telemetry report")
    own_pub, conf = household_server(service)

    result = web(service, "import", conf)
    assert result["peers"] == 1 and result["warnings"] == [], result
    capture = house.start_capture(api=((API_ADDR, API_PORT),))
    asked_before = len(service.requests())
    assert web(service, "own") == {"applied": True, "problem": None}
    netns.wait_for(lambda: service.status().get("server_source") == "own"
                   and service.status()["state"] == "connected", timeout=20,
                   what="the agent to connect to the household's own server")
    switched = time.monotonic()
    netns.wait_for(lambda: page_from(house, T.SITE) == OWN, timeout=15,
                   what="a LAN page through the own server's tunnel")
    # IPv6 and DNS take the same tunnel; the tunnel MTU is the file's.
    assert page_from(house, T.SITE6) == OWN6
    answer = house.lan_probe("dns", T.ISP, T.SITE_NAME)
    assert answer.get("answers") == [T.SITE], answer           # gw's resolver, not the ISP's
    link = service.lab.run("router", "ip", "-o", "link", "show", T.TUNNEL_IFNAME).stdout
    assert " mtu 1400 " in link, link
    peer = house.gw.show().peers[own_pub]
    assert peer.has_preshared_key and peer.latest_handshake > 0 and peer.rx_bytes > 0
    text = service.vpnspot("status", "--run-dir", service.run).stdout
    assert "server:       your own server (%s:%d)" % (T.GW, T.GW_PORT) in text, text
    # Two report periods (3 s each) and more pass on the own server: the
    # router asks the VPN Spot service nothing at all.
    while time.monotonic() - switched < 8.0:
        assert page_from(house, T.SITE) == OWN
        time.sleep(0.5)
    assert len(service.requests()) == asked_before, service.requests()[asked_before:]
    tally = finish(capture, "own server")
    assert tally["provider_api"] == 0, tally

    # Back to VPN Spot: the provider-driven flow, on the VPN Spot key.
    reported = len(reports(service))
    assert web(service, "vpnspot") == {"applied": True, "problem": None}
    netns.wait_for(lambda: service.status().get("server_source") == "vpnspot"
                   and service.status()["state"] == "connected", timeout=20,
                   what="the agent to reconnect to a VPN Spot server")
    assert service.status()["server"] == "ams-gw"
    netns.wait_for(lambda: page_from(house, T.SITE) == T.ROUTER_TUNNEL, timeout=15,
                   what="a LAN page through the VPN Spot tunnel again")
    paths = [r["path"] for r in service.requests()[asked_before:]]
    assert "/v1/servers" in paths, paths
    netns.wait_for(lambda: len(reports(service)) > reported, timeout=20,
                   what="reports again once VPN Spot carries the traffic")


def test_with_server_source_own_and_no_usable_file_the_agent_says_why_calls_nobody_and_blocks(service):
    house, lab = service.house, service.lab
    service.enroll()
    with open(os.path.join(service.config, "vpnspot"), "w") as f:
        f.write("config vpnspot 'main'\n\toption region 'europe'\n\toption kill_switch '1'\n"
                "\toption server_source 'own'\n")
    capture = house.start_capture(api=((API_ADDR, API_PORT),))
    asked_before = len(service.requests())
    env = dict(os.environ)
    env.update(ENV)
    service.agent = lab.popen("router", [
        sys.executable, "-m", "vpnspot_router", "agent", "--config-dir", service.config,
        "--state-dir", service.state, "--run-dir", service.run, "--lan", "br-lan", "--wan", "wan",
        "--tunnel", T.TUNNEL_IFNAME], env=env)
    house.agent = service.agent
    netns.wait_for(lambda: service.status().get("state") == "needs_attention", timeout=20,
                   what="the agent to find the own server's file missing")
    st = service.status()
    assert "wg-household.conf: no WireGuard configuration has been imported" in st["own_problem"]
    assert "your own server (not usable: " in service.vpnspot("status", "--run-dir",
                                                               service.run).stdout
    assert kill_switch_on(house)
    lan_traffic_fails(house)

    # A damaged file (no good copy): moved aside, named; still nothing gets out.
    path = os.path.join(service.state, "wg-household.conf")
    with open(path, "w") as f:
        f.write("[Interface]\nPrivateKey = not-a-key\n")
    service.vpnspot("connect", "--run-dir", service.run)
    netns.wait_for(lambda: "PrivateKey" in (service.status().get("own_problem") or ""),
                   timeout=10, what="the agent to name the damaged file")
    assert "moved aside" in service.status()["own_problem"]
    assert [n for n in os.listdir(service.state) if n.startswith("wg-household.conf.corrupt-")]
    lan_traffic_fails(house)
    assert "no WireGuard configuration" in service.lab.read_log(service.agent)
    assert len(service.requests()) == asked_before
    tally = finish(capture, "own server without a usable file", expect_wireguard=False)
    assert tally["provider_api"] == 0 and tally["wireguard"] == 0, tally

    # A good import through the web UI: online at once, through the own server.
    own_pub, conf = household_server(service)
    web(service, "import", conf)
    assert web(service, "own") == {"applied": True, "problem": None}
    netns.wait_for(lambda: page_from(house, T.SITE) == OWN, timeout=20,
                   what="a LAN page through the own server once a good file is used")
