"""Every LAN network is protected, not only br-lan: leak tests with WAN captures.

The household lab (lab/topology.py) gets a guest network (`add_guest_network`:
br-guest 192.168.77.129/25 with a client namespace `guest`) and a VLAN LAN
(`vlan_lan`: br-lan filters VLANs, the router's LAN address sits on
br-lan.1, as on a VLAN-filtering DSA router). Each test captures the
router's WAN and asserts what crossed it (lab/pcap.py classifies).

Controls first: with only br-lan covered (the behaviour before the LAN
networks were derived) the guest network and the br-lan.1 LAN leak, and
the capture sees it. Then the same traffic with the devices covered: the
agent running (tunnel up, and stopped with its kill switch kept), only the
boot guard loaded (`vpnspot guard sync` deriving the devices from the
router's firewall and network files), and the service agent following a
guest network added while it runs ("lan_reload", no restart).

These tests need root, namespaces, wireguard-go, nft, tcpdump and dnsmasq;
when any is missing they FAIL. Timers as in test_leaks.py (TIMING).
"""

import os
import pathlib
import signal
import sys

import pytest

from tests.faults import household as H
from tests.faults.household import TIMING, finish
from tests.router.test_service import API_ADDR, API_PORT, Service
from vpnspot_router import driver
from vpnspot_router.lab import netns
from vpnspot_router.lab import pcap
from vpnspot_router.lab import topology as T

pytestmark = pytest.mark.interop

GUARD_FILE = str(pathlib.Path(__file__).resolve().parents[2]
                 / "firmware_pkg" / "package" / "vpnspot" / "files" / "vpnspot.nft")

# The router's /etc/config/firewall and /etc/config/network as OpenWrt
# writes them (firewall4 defaults, the tunnel zone uci-defaults adds), for
# a LAN device `lan_dev` and, with guest, LuCI's guest network recipe.
FIREWALL = ("config defaults\n\toption input 'REJECT'\n\toption forward 'REJECT'\n\n"
            "config zone\n\toption name 'lan'\n\tlist network 'lan'\n\toption forward 'ACCEPT'\n\n"
            "config zone\n\toption name 'wan'\n\tlist network 'wan'\n\tlist network 'wan6'\n"
            "\toption masq '1'\n\n"
            "config forwarding\n\toption src 'lan'\n\toption dest 'wan'\n\n"
            "config zone 'vpnspot'\n\toption name 'vpnspot'\n\tlist network 'vpnspot'\n\n"
            "config forwarding 'vpnspot_lan'\n\toption src 'lan'\n\toption dest 'vpnspot'\n")
GUEST_FIREWALL = ("\nconfig zone\n\toption name 'guest'\n\tlist network 'guest'\n"
                  "\toption input 'REJECT'\n\n"
                  "config forwarding\n\toption src 'guest'\n\toption dest 'wan'\n")
NETWORK = ("config device\n\toption name 'br-lan'\n\toption type 'bridge'\n\tlist ports 'lan0'\n\n"
           "config interface 'lan'\n\toption device '%s'\n\toption proto 'static'\n\n"
           "config interface 'wan'\n\toption device 'wan'\n\toption proto 'dhcp'\n\n"
           "config interface 'wan6'\n\toption device 'wan'\n\toption proto 'dhcpv6'\n\n"
           "config interface 'vpnspot'\n\toption proto 'none'\n\toption device 'vpnspot0'\n")
GUEST_NETWORK = ("\nconfig device\n\toption name 'br-guest'\n\toption type 'bridge'\n\n"
                 "config interface 'guest'\n\toption device 'br-guest'\n\toption proto 'static'\n")


def write_router_config(config_dir, lan_dev="br-lan", guest=False):
    os.makedirs(config_dir, exist_ok=True)
    with open(os.path.join(config_dir, "firewall"), "w") as f:
        f.write(FIREWALL + (GUEST_FIREWALL if guest else ""))
    with open(os.path.join(config_dir, "network"), "w") as f:
        f.write(NETWORK % lan_dev + (GUEST_NETWORK if guest else ""))


@pytest.fixture
def house(lab):
    return H.make_house(lab)


def guest_ping(house, addr, count=2):
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1"]
    return house.lab.run("guest", *argv, addr, check=False).returncode == 0


def guest_traffic(house):
    """What a guest's phone sends: a page from the site, DNS to the ISP's
    resolver (UDP and TCP), a ping to an internet address."""
    return {"http": house.client_probe("guest", "http", T.SITE, timeout=15),
            "dns": house.client_probe("guest", "dns", T.ISP, T.SITE_NAME),
            # The router's own resolver (dnsmasq, forwarding to the ISP).
            "dns to the router": house.client_probe("guest", "dns", T.ROUTER_LAN, T.SITE_NAME),
            "dns tcp": house.client_probe("guest", "dns", T.ISP, T.SITE_NAME, "tcp"),
            "ping": guest_ping(house, T.GW)}


def guest_traffic_fails(house):
    got = guest_traffic(house)
    through = [k for k, v in got.items() if (v.get("ok") if isinstance(v, dict) else v)]
    assert not through, "guest traffic got through without the tunnel: %s" % through


def guest_uses_the_tunnel(house):
    reply = house.client_probe("guest", "http", T.SITE, timeout=15)
    assert reply.get("ok") and reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL, reply
    # The guest asked the ISP's resolver, or the router's; the tunnel
    # resolver answered.
    for server in (T.ISP, T.ROUTER_LAN):
        assert house.client_probe("guest", "dns", server, T.SITE_NAME) == {
            "ok": True, "answers": [T.SITE]}, server


def lan_uses_the_tunnel(house):
    reply = house.http_from_lan()
    assert reply.get("ok") and reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL, reply
    assert house.lan_probe("dns", T.ISP, T.SITE_NAME) == {"ok": True, "answers": [T.SITE]}


def stop_agent_keeping_the_kill_switch(house):
    house.agent.send_signal(signal.SIGTERM)
    house.agent.wait(timeout=15)


# ------------------------------------------------------------------ controls

def test_control_with_only_br_lan_covered_the_guest_network_leaks(house):
    house.add_guest_network()
    house.write_settings(lan="br-lan")
    house.start_agent(timing=TIMING)
    capture = house.start_capture()
    got = guest_traffic(house)
    tally = capture.stop()
    print("\n[control, guest network, only br-lan covered] " + pcap.tally_text(tally))
    # The ISP's resolver answered the guest: its names went out in clear.
    assert got["dns"] == {"ok": True, "answers": [T.ISP_ANSWER]}, got
    assert got["ping"], got
    assert tally["leaked"] >= 4, tally


def test_control_with_only_br_lan_covered_a_br_lan_1_lan_leaks(house):
    print("\nbr-lan.1: %s" % house.vlan_lan())
    house.write_settings(lan="br-lan")
    house.write_wg_config()
    capture = house.start_capture()
    # The agent starts, but its rules name br-lan while the LAN's packets
    # arrive on br-lan.1: they are routed by the main table, to the WAN.
    house.start_agent(timing=TIMING, wait_handshake=False)
    answer = house.lan_probe("dns", T.ISP, T.SITE_NAME)
    pinged = house.ping_from_lan(T.GW, count=2)
    tally = capture.stop()
    print("\n[control, br-lan.1 LAN, only br-lan covered] " + pcap.tally_text(tally))
    assert answer == {"ok": True, "answers": [T.ISP_ANSWER]}, answer
    assert pinged
    assert tally["leaked"] >= 4, tally


# ------------------------------------------------------- the agent covers them

def test_the_guest_network_goes_only_through_the_tunnel_and_is_kill_switched(house):
    house.add_guest_network()
    house.write_settings(lan="br-lan br-guest")
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    guest_uses_the_tunnel(house)
    lan_uses_the_tunnel(house)
    assert house.status()["kill_switch"] == "on"
    # The agent stops (SIGTERM keeps its table): the guest gets nothing out.
    stop_agent_keeping_the_kill_switch(house)
    guest_traffic_fails(house)
    H.lan_traffic_fails(house)
    finish(capture, "guest network with the agent, then agent stopped")


def test_a_br_lan_1_lan_goes_only_through_the_tunnel_and_is_kill_switched(house):
    print("\nbr-lan.1: %s" % house.vlan_lan())
    house.write_settings(lan="br-lan.1")
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    lan_uses_the_tunnel(house)
    assert house.ping_from_lan(T.SITE, count=2)
    stop_agent_keeping_the_kill_switch(house)
    H.lan_traffic_fails(house, every_kind=True)
    finish(capture, "br-lan.1 LAN with the agent, then agent stopped")


# ------------------------------------------------------ only the boot guard

def guard_sync(house, *extra):
    """`vpnspot guard sync` in the router namespace, on the lab's copies of
    the router's files: the UCI directory, the state directory (guard.d)
    and the package's guard file."""
    base = house.lab.tmpdir
    proc = house.vpnspot("guard", "sync", "--config-dir", os.path.join(base, "config"),
                         "--state-dir", os.path.join(base, "state"), "--guard-file", GUARD_FILE,
                         "--run-dir", os.path.join(base, "no-agent"), *extra)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc.stdout


def test_control_the_guard_with_only_br_lan_lets_the_guest_network_and_br_lan_1_leak(house):
    house.add_guest_network()
    house.vlan_lan()
    write_router_config(os.path.join(house.lab.tmpdir, "config"), "br-lan.1", guest=True)
    guard_sync(house, "--lan", "br-lan")          # the shipped guard: br-lan only
    capture = house.start_capture()
    guest = house.client_probe("guest", "dns", T.ISP, T.SITE_NAME)
    lan = house.lan_probe("dns", T.ISP, T.SITE_NAME, "tcp")
    # Through the router's resolver too: the guard's DNS rule names br-lan.
    via_router = house.client_probe("guest", "dns", T.ROUTER_LAN, T.SITE_NAME)
    tally = capture.stop()
    print("\n[control, guard for br-lan only] " + pcap.tally_text(tally))
    assert guest == {"ok": True, "answers": [T.ISP_ANSWER]}, guest
    assert lan == {"ok": True, "answers": [T.ISP_ANSWER]}, lan
    assert via_router == {"ok": True, "answers": [T.ISP_ANSWER]}, via_router
    assert tally["leaked"] >= 4, tally


def test_the_guard_alone_covers_the_guest_network_and_br_lan_1_from_the_router_config(house):
    house.add_guest_network()
    house.vlan_lan()
    write_router_config(os.path.join(house.lab.tmpdir, "config"), "br-lan.1", guest=True)
    out = guard_sync(house)                         # no --lan: derived from the files
    assert "br-guest" in out and "br-lan.1" in out, out
    capture = house.start_capture()
    guest_traffic_fails(house)
    H.lan_traffic_fails(house, every_kind=True)
    assert not house.lan_probe("dns", T.ROUTER_LAN, T.SITE_NAME).get("ok")
    finish(capture, "guard only, guest network and br-lan.1 LAN", expect_wireguard=False)


# --------------------------------------- the service agent follows the config

def test_the_agent_follows_a_guest_network_added_while_it_runs(lab):
    service = Service(lab)
    house = service.house
    try:
        write_router_config(service.config)
        service.enroll()
        env = dict(os.environ)
        env.update({"VPNSPOT_WG_TIMING": "keepalive_timeout=1,rekey_timeout=1",
                    "VPNSPOT_REPORT_TIMING": "period=3,first_jitter=1,base_delay=1"})
        # No --lan: the agent reads the router's firewall and network files.
        service.agent = house.agent = lab.popen("router", [
            sys.executable, "-m", "vpnspot_router", "agent", "--config-dir", service.config,
            "--state-dir", service.state, "--run-dir", service.run, "--wan", "wan",
            "--tunnel", T.TUNNEL_IFNAME], env=env)
        netns.wait_for(lambda: service.status().get("state") == "connected", timeout=30,
                       what="the supervisor to connect")
        house.wait_connected(timeout=15)
        assert "LAN networks (every network forwarding to the WAN): lan (br-lan)" in \
            lab.read_log(service.agent)
        house.add_guest_network()
        # Before the agent hears of it, the new network is not covered: the
        # control of this test, on the same router.
        capture = house.start_capture(api=[(API_ADDR, API_PORT)])
        assert guest_ping(house, T.GW)
        before = capture.stop()
        print("\n[control, guest network not yet derived] " + pcap.tally_text(before))
        assert before["leaked"] >= 2, before
        write_router_config(service.config, guest=True)
        answer = driver.control_call(service.run, {"cmd": "lan_reload"})
        assert (answer["ok"], answer["lan"], answer["changed"]) == (
            True, ["br-guest", "br-lan"], True), answer
        assert "LAN devices now br-guest, br-lan (were br-lan)" in lab.read_log(service.agent)
        capture = house.start_capture(api=[(API_ADDR, API_PORT)])
        guest_uses_the_tunnel(house)
        lan_uses_the_tunnel(house)
        # The tunnel was not restarted for it.
        assert service.status()["state"] == "connected"
        finish(capture, "guest network derived on lan_reload, service agent")
    finally:
        service.stop()
