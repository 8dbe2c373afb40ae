"""Leak and recovery tests: the household lab with captures on the router's WAN.

Each test builds the whole household (vpnspot_router/lab/topology.py: lan,
router, wan, gw, gw2, site), captures every frame on the router's WAN
device while the scenario runs, and asserts that nothing but WireGuard to
the gateway crossed it (lab/pcap.py classifies; the tally is printed).
The first test is the control: without the agent the same traffic does
leak, and the capture must see it - so a capture that sees nothing cannot
make the others pass.

These tests need root, namespaces, wireguard-go, nft, tcpdump and dnsmasq;
when any is missing they FAIL (conftest and the `house` fixture).

Timers: the agent runs with VPNSPOT_WG_TIMING rekey_timeout=1,
keepalive_timeout=1 so recovery is measured in seconds; the bounds asserted
are stated in those shortened units (one REKEY_TIMEOUT plus the protocol's
jitter of at most 1/3 s and 0.5 s for the processes involved).
"""

import os
import signal
import time

import pytest

from vpnspot_router.lab import pcap
from vpnspot_router.lab import topology as T
from tests.faults import household as H
from tests.faults.household import RECOVERY_BOUND, TIMING, finish

pytestmark = pytest.mark.interop

INET6 = "fd77:113::1"       # the ISP's side of the internet: WAN-side, never behind the tunnel


@pytest.fixture
def house(lab):
    return H.make_house(lab)


def lan_traffic_fails(house):
    """Every kind of LAN traffic a leak could carry; all must fail."""
    H.lan_traffic_fails(house, every_kind=True)


def site_saw_tunnel(house):
    reply = house.http_from_lan()
    assert reply.get("ok"), reply
    assert reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL


# ------------------------------------------------------------------ control

def test_without_the_agent_lan_traffic_leaks_and_the_capture_sees_it(house):
    capture = house.start_capture()
    assert house.ping_from_lan(T.GW, count=2)
    answer = house.lan_probe("dns", T.ISP, T.SITE_NAME)
    tally = capture.stop()
    print("\n[control, no agent] " + pcap.tally_text(tally))
    assert answer == {"ok": True, "answers": [T.ISP_ANSWER]}
    assert tally["leaked"] >= 4, tally


# ---------------------------------------------------------------- steady state

# Every data-plane optimization off (tunnel/offload.py, bind.py): the packets
# take the plain path, and still nothing leaks.
ALL_OFFLOADS_OFF = {"VPNSPOT_TUN_TSO": "0", "VPNSPOT_TUN_COALESCE": "0", "VPNSPOT_TUN_WRITER": "0",
                    "VPNSPOT_UDP_GSO": "0", "VPNSPOT_UDP_GRO": "0", "VPNSPOT_UDP_BUFFER": "0"}


@pytest.mark.parametrize("offloads", ["default", "all-off"])
def test_http_and_ping_reach_the_site_only_through_the_tunnel(house, offloads):
    capture = house.start_capture()
    house.start_agent(timing=TIMING, env=ALL_OFFLOADS_OFF if offloads == "all-off" else None)
    site_saw_tunnel(house)
    assert house.ping_from_lan(T.SITE, count=3)
    result = house.lab.tcp_transfer("lan", "site", T.SITE, 2 * 1024 * 1024)
    assert result.received_bytes == 2 * 1024 * 1024
    assert result.received_sha256 == result.sent_sha256
    if offloads == "all-off":
        assert "vnet header=False TSO=False coalesce=False writer thread=False, UDP GSO=False GRO=False" \
            in house.agent_log(), house.agent_log()
    finish(capture, "steady traffic, offloads " + offloads)


def test_lan_dns_over_udp_and_tcp_is_answered_by_the_tunnel_resolver(house):
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    for args in ((T.ISP, T.SITE_NAME), (T.ISP, T.SITE_NAME, "tcp"), (T.ROUTER_LAN, T.SITE_NAME),
                 (T.ROUTER_LAN, T.SITE_NAME, "tcp")):
        # Asked of the ISP's resolver or of the router: the tunnel resolver answers.
        assert house.lan_probe("dns", *args) == {"ok": True, "answers": [T.SITE]}, args
    assert house.lan_probe("dns", T.ISP6, T.SITE_NAME, "aaaa") == {"ok": True, "answers": [T.SITE6]}
    # DNS-over-TLS to a server behind the gateway works, through the tunnel.
    assert house.lan_probe("tcp", T.SITE, "853")["ok"]
    finish(capture, "dns udp/tcp/dot")


def test_ipv6_goes_through_the_tunnel_when_the_server_offers_it(house):
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    reply = house.http_from_lan(T.SITE6)
    assert reply.get("ok") and reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL6, reply
    assert house.ping_from_lan(T.SITE6, count=3)
    assert house.status()["ipv6"] == "tunnel"
    finish(capture, "ipv6 tunneled")


def test_ipv6_is_blocked_when_the_server_offers_none_despite_a_wan_ipv6_route(house):
    # The router's main table routes the site's IPv6 prefix through the WAN,
    # as router advertisements on the WAN would: that route must not open a leak.
    house.write_wg_config(ipv6=False)
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    assert house.status()["ipv6"] == "blocked"
    site_saw_tunnel(house)
    assert not house.ping_from_lan(T.SITE6, count=2)
    assert not house.ping_from_lan("fd77:113::10", count=2)
    assert not house.http_from_lan(T.SITE6, timeout=1.0).get("ok")
    finish(capture, "ipv6 blocked")


@pytest.mark.parametrize("ipv6", ["tunnel", "blocked"])
def test_real_router_advertisements_on_the_wan_open_no_ipv6_leak(house, ipv6):
    # The ISP's RAs give the router a default route and a SLAAC address on
    # the WAN; the lab's static IPv6 routes are gone, so the learned route is
    # the only IPv6 way out.
    route, slaac = house.learn_ipv6_from_router_advertisements()
    print("\n[router advertisements] learned %r and address %s" % (route, slaac))
    assert route.startswith("default via fe80::") and "dev wan proto ra" in route, route
    wan_side = (INET6, "fd77:113::10", T.ISP6)
    # Control: without the agent that route carries LAN IPv6 out, and the
    # capture sees it.
    control = house.start_capture("wan-control")
    assert house.ping_from_lan(INET6, count=2)
    tally = control.stop()
    print("[router advertisements, no agent] " + pcap.tally_text(tally))
    assert tally["leaked"] >= 2 and tally["housekeeping"] > 0, tally
    house.write_wg_config(ipv6=(ipv6 == "tunnel"))
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    assert house.status()["ipv6"] == ipv6
    if ipv6 == "tunnel":
        reply = house.http_from_lan(T.SITE6)
        assert reply.get("ok") and reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL6, reply
    else:
        site_saw_tunnel(house)
        assert not house.http_from_lan(T.SITE6, timeout=1.0).get("ok")
    for addr in wan_side:
        pinged = house.ping_from_lan(addr, count=2)
        asked = house.lan_probe("dns", addr, T.SITE_NAME, "aaaa")
        if ipv6 == "blocked":
            assert not pinged and not asked.get("ok"), (addr, asked)
    # The advertisements kept coming all along: the route is still there.
    assert "proto ra" in house.lab.run("router", "ip", "-6", "route", "show", "default").stdout
    tally = finish(capture, "router advertisements, IPv6 %s" % ipv6)
    assert tally["housekeeping"] > 0, "the capture saw no router advertisement"


# ------------------------------------------------------------ agent lifecycle

def test_boot_before_the_agent_the_kill_switch_already_holds(house):
    capture = house.start_capture()
    proc = house.vpnspot("killswitch", "apply", "--settings", house.settings)
    assert proc.returncode == 0, proc.stderr
    assert house.vpnspot("killswitch", "status").returncode == 0
    lan_traffic_fails(house)
    # Then the agent starts and the household is online; the same capture
    # runs on, so its WireGuard count proves it was live during boot too.
    house.start_agent(timing=TIMING)
    site_saw_tunnel(house)
    finish(capture, "boot, agent not started, then started")


def test_agent_kill_9_keeps_the_kill_switch_and_a_restart_recovers(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    site_saw_tunnel(house)
    os.kill(house.agent.pid, signal.SIGKILL)
    house.agent.wait(timeout=5)
    lan_traffic_fails(house)
    assert house.vpnspot("killswitch", "status").returncode == 0
    house.start_agent(timing=TIMING)
    since = time.time()
    site_saw_tunnel(house)
    assert probe.wait_reply_after(since, timeout=10) < 10
    finish(capture, "agent kill -9 and restart")


def test_agent_sigterm_stops_the_tunnel_but_keeps_the_kill_switch(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.agent.send_signal(signal.SIGTERM)
    assert house.agent.wait(timeout=10) == 0
    assert house.status()["state"] == "stopped"
    assert house.vpnspot("killswitch", "status").returncode == 0
    lan_traffic_fails(house)
    house.start_agent(timing=TIMING)
    assert probe.wait_reply_after(time.time(), timeout=10) < 10
    finish(capture, "agent restart")


def test_config_reload_keeps_the_kill_switch_and_rejects_a_bad_file(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.write_settings(mtu="1400")
    house.agent.send_signal(signal.SIGHUP)
    T.netns.wait_for(lambda: house.status().get("reloads") == 1, timeout=10, what="the reload")
    # The reload is counted before the tunnel reopens: wait for the new MTU.
    T.netns.wait_for(lambda: house.lab.run("router", "cat", "/sys/class/net/%s/mtu" % T.TUNNEL_IFNAME,
                                           check=False).stdout.strip() == "1400",
                     timeout=10, what="the reopened tunnel with MTU 1400")
    assert probe.wait_reply_after(time.time(), timeout=10) < 10
    # A broken settings file: logged, and nothing changes.
    with open(house.settings, "a") as f:
        f.write("kill_switch = maybe\n")
    house.agent.send_signal(signal.SIGHUP)
    T.netns.wait_for(lambda: "reload rejected" in house.agent_log(), timeout=5, what="the rejection")
    assert house.status()["reloads"] == 1
    assert probe.wait_reply_after(time.time(), timeout=5) < 5
    assert house.agent.poll() is None
    finish(capture, "config reload")


# ------------------------------------------------------------------ recovery

def test_gateway_down_leaks_nothing_and_its_restart_is_recovered(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    site_saw_tunnel(house)
    house.gw.stop()
    lan_traffic_fails(house)
    time.sleep(2)
    house.gw.start()
    back = probe.wait_reply_after(time.time(), timeout=10)
    print("\n[gateway restart] tunnel back %.2f s after the gateway returned" % back)
    assert back <= RECOVERY_BOUND
    finish(capture, "gateway down and restart")


def test_wan_flap_leaks_nothing_and_the_tunnel_returns_within_one_rekey_timeout(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.wan_down()
    lan_traffic_fails(house)
    time.sleep(1)
    house.wan_up()
    usable = time.time()
    back = probe.wait_reply_after(usable, timeout=10)
    print("\n[wan flap] tunnel back %.2f s after the WAN was usable" % back)
    assert back <= RECOVERY_BOUND
    site_saw_tunnel(house)
    finish(capture, "wan flap")


def test_wan_address_change_leaks_nothing_and_the_tunnel_returns(house):
    house.start_agent(timing=TIMING)
    probe = house.start_probe()
    capture = house.start_capture()
    house.change_wan_address()
    usable = time.time()
    back = probe.wait_reply_after(usable, timeout=10)
    print("\n[wan address change] tunnel back %.2f s after the new address" % back)
    assert back <= RECOVERY_BOUND
    site_saw_tunnel(house)
    peer = house.gw.show().peers[house.router_pub]
    assert peer.endpoint.startswith(T.ROUTER_WAN_ALT + ":"), peer.endpoint
    finish(capture, "wan address change")
