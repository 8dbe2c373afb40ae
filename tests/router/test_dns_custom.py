"""dns_mode custom in the household lab: the LAN's names are answered by the
household's own DNS server, reached through the tunnel, and no query ever
crosses the WAN in clear (captures on the router's WAN, lab/pcap.py).

The household's server is a resolver on the `site` host behind the gateway
(203.0.113.130 / fd77:200::80): reachable from the LAN only through the
tunnel, and answering site.vpnspot.test with its own addresses, so an
answer tells which resolver gave it (the ISP's says 198.51.100.99, the
tunnel's 203.0.113.130).

Needs root, namespaces, wireguard-go, nft, tcpdump and dnsmasq, like
tests/router/test_leaks.py, whose timing conventions these tests keep.
"""

import signal

import pytest

from vpnspot_router.lab import netns
from vpnspot_router.lab import topology as T
from tests.faults import household as H
from tests.faults.household import TIMING, finish

pytestmark = pytest.mark.interop

OWN_ANSWER = "203.0.113.177"        # what the household's resolver says
OWN_ANSWER6 = "fd77:200::177"


@pytest.fixture
def house(lab):
    house = H.make_house(lab)
    house.own_dns = house._dnsmasq("site", [T.SITE, T.SITE6], [OWN_ANSWER, OWN_ANSWER6])
    netns.wait_for(lambda: ":53 " in lab.run("site", "ss", "-ltnH", check=False).stdout,
                   timeout=10, what="the household's resolver on the site")
    return house


def test_lan_names_are_answered_by_the_households_server_through_the_tunnel(house):
    house.write_settings(dns="custom", dns_servers="%s %s" % (T.SITE, T.SITE6))
    capture = house.start_capture()
    house.start_agent(timing=TIMING)
    # Asked of the ISP's resolver, of the router or of the tunnel's resolver,
    # over UDP or TCP: the household's server answers.
    for args in ((T.ISP, T.SITE_NAME), (T.ISP, T.SITE_NAME, "tcp"), (T.ROUTER_LAN, T.SITE_NAME),
                 (T.ROUTER_LAN, T.SITE_NAME, "tcp"), (T.GW_TUNNEL, T.SITE_NAME)):
        assert house.lan_probe("dns", *args) == {"ok": True, "answers": [OWN_ANSWER]}, args
    assert house.lan_probe("dns", T.ISP6, T.SITE_NAME, "aaaa") == {
        "ok": True, "answers": [OWN_ANSWER6]}
    status = house.status()
    assert status["dns"] == "your servers (%s, %s)" % (T.SITE, T.SITE6), status["dns"]
    finish(capture, "dns custom")


def test_with_the_kill_switch_off_and_no_tunnel_the_households_queries_never_cross_the_wan(house):
    """Kill switch off and the agent stopped: LAN traffic may take the WAN
    (the household's choice), but a LAN query DNAT'ed to the household's
    server must not: the router routes 203.0.113.0/24 over the WAN, so
    without the "dns only via tunnel" rule it would leave in clear."""
    house.write_settings(dns="custom", dns_servers=T.SITE, kill_switch="off")
    house.start_agent(timing=TIMING)
    assert house.lan_probe("dns", T.ISP, T.SITE_NAME) == {"ok": True, "answers": [OWN_ANSWER]}
    house.agent.send_signal(signal.SIGTERM)
    assert house.agent.wait(timeout=10) == 0
    capture = house.start_capture()
    for args in ((T.ISP, T.SITE_NAME), (T.ISP, T.SITE_NAME, "tcp"), (T.ROUTER_LAN, T.SITE_NAME),
                 (T.SITE, T.SITE_NAME)):
        assert not house.lan_probe("dns", *args).get("ok"), args
    # The control: with the kill switch off, other LAN traffic does take the
    # WAN now, and this capture sees it (so seeing no DNS means something).
    assert house.ping_from_lan(T.INET, count=1)
    tally = capture.stop()
    print("\n[dns custom, kill switch off, agent stopped] %s" % H.pcap.tally_text(tally))
    assert tally["leaked"] >= 1, tally
    # pcap._describe: "IPv4 UDP 198.51.100.2 -> 203.0.113.130 40000>53 (40 bytes)"
    dns = [e for e in tally["leak_examples"] if ">53 (" in e or " 53>" in e]
    assert dns == [], dns
    assert any("ICMP" in e for e in tally["leak_examples"]), tally["leak_examples"]
