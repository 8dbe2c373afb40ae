"""The settings file and the NetPlan derived from it (net/settings.py)."""

import pytest

from vpnspot_router.core.wgconf import parse
from vpnspot_router.net.settings import NetPlan, SettingsError, parse_settings, plan_from_config, tunnel_mtu

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
PEER = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="


def wg(addresses="10.77.0.2/32, fd77:77::2/128", dns="10.77.0.1, fd77:77::1",
       allowed="0.0.0.0/0, ::/0", extra=""):
    return parse("[Interface]\nPrivateKey = %s\nAddress = %s\nDNS = %s\n%s\n[Peer]\nPublicKey = %s\n"
                 "Endpoint = 203.0.113.10:51820\nAllowedIPs = %s\n" % (KEY, addresses, dns, extra, PEER, allowed))


def test_an_empty_file_means_the_safe_defaults():
    s = parse_settings("")
    assert s["kill_switch"] == "on" and s["dns"] == "tunnel" and s["ipv6"] == "auto" and s["mtu"] == "auto"


def test_comments_blank_lines_and_spaces_are_allowed():
    s = parse_settings("# household settings\n\nkill_switch=off   # on holiday\n  mtu = 1400\n")
    assert s["kill_switch"] == "off" and s["mtu"] == "1400"


@pytest.mark.parametrize("text, where", [
    ("kill_switch = maybe\n", "s:1: kill_switch: 'maybe' is not one of on | off"),
    ("dns = isp\n", "s:1: dns:"),
    ("colour = blue\n", "s:1: colour: unknown setting"),
    ("mtu = 9000\n", "s:1: mtu: '9000' is not auto or a number from 1280 to 1500"),
    ("mtu = 1279\n", "s:1: mtu:"),
    ("ipv6 = auto\n\nipv6 = off\n", "s:3: ipv6: set twice (first on line 1)"),
    ("just words\n", "s:1: expected `key = value`"),
    ('lan = br-lan"; flush ruleset\n', "s:1: lan: "),
    ("lan = wan\n", "s: lan, wan and tunnel must be different interfaces"),
])
def test_a_bad_line_is_reported_with_file_line_and_key(text, where):
    with pytest.raises(SettingsError) as e:
        parse_settings(text, "s")
    assert str(e.value).startswith(where), str(e.value)


def test_the_tunnel_mtu_is_derived_from_the_wan_mtu():
    assert tunnel_mtu("auto", 1500) == 1420
    assert tunnel_mtu("auto", 1492) == 1412     # PPPoE
    assert tunnel_mtu("auto", None) == 1420
    assert tunnel_mtu("auto", 9000) == 1420      # jumbo WAN: still what the path beyond carries
    assert tunnel_mtu("auto", 1300) == 1280      # never below the IPv6 minimum
    assert tunnel_mtu("1400", 1492) == 1400      # the household's number wins
    assert tunnel_mtu("auto", 1492, config_mtu=1380) == 1380


def test_ipv6_is_tunneled_only_when_the_server_offers_it_and_the_setting_allows():
    s = parse_settings("")
    assert plan_from_config(s, wg()).ipv6_mode == "tunnel"
    assert plan_from_config(s, wg(addresses="10.77.0.2/32", allowed="0.0.0.0/0")).ipv6_mode == "blocked"
    assert plan_from_config(parse_settings("ipv6 = off"), wg()).ipv6_mode == "blocked"


def test_the_resolvers_come_from_the_config_dns_line():
    plan = plan_from_config(parse_settings(""), wg())
    assert (plan.resolver4, plan.resolver6, plan.dns_mode) == ("10.77.0.1", "fd77:77::1", "tunnel")


def test_without_a_config_dns_and_ipv6_fail_closed():
    plan = plan_from_config(parse_settings(""), None, wan_mtu=1492)
    assert plan.dns_mode.startswith("blocked") and plan.ipv6_mode == "blocked" and plan.mtu == 1412
    assert plan.kill_switch


def test_dns_off_is_reported_as_off():
    assert NetPlan(parse_settings("dns = off")).dns_mode == "off"


def test_the_lan_setting_takes_several_devices_each_checked():
    assert NetPlan(parse_settings("lan = br-lan  br-guest\n")).lans == ("br-lan", "br-guest")
    assert NetPlan(parse_settings("")).lans == ("br-lan",)
    for text, words in (("lan = br-lan wan\n", "must be different"),
                        ("lan = br-lan br-lan\n", "twice"),
                        ('lan = br-lan x"y\n', "not an interface name"),
                        ("lan = \n", "at least one")):
        try:
            parse_settings(text, "s")
        except SettingsError as e:
            assert words in str(e), (text, str(e))
        else:
            raise AssertionError("accepted %r" % text)


def test_dns_custom_needs_unicast_servers_and_servers_need_dns_custom():
    s = parse_settings("dns = custom\ndns_servers = 9.9.9.9   2620:fe::fe\n")
    assert s["dns"] == "custom" and s["dns_servers"] == "9.9.9.9 2620:fe::fe"
    cases = [("dns = custom\n", "settings:1: dns: custom needs at least one address in dns_servers"),
             ("dns = custom\ndns_servers = 0.0.0.0\n",
              "settings:2: dns_servers: 0.0.0.0 is the unspecified address"),
             ("dns = custom\ndns_servers = 9.9.9.9 127.0.0.53\n",
              "settings:2: dns_servers: 127.0.0.53 is a loopback address"),
             ("dns = custom\ndns_servers = ff02::fb\n", "ff02::fb is a multicast address"),
             ("dns = custom\ndns_servers = dns.quad9.net\n", "'dns.quad9.net' is not an IP address"),
             ("dns = tunnel\ndns_servers = 9.9.9.9\n",
              "settings:2: dns_servers: only used with dns = custom")]
    for text, words in cases:
        try:
            parse_settings(text)
        except SettingsError as e:
            assert words in str(e), (text, str(e))
        else:
            raise AssertionError("accepted %r" % text)
