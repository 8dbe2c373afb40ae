"""The nftables table built from a NetPlan (net/firewall.py), checked on its text."""

from vpnspot_router.net import firewall
from vpnspot_router.net.firewall import FakeFirewall, FirewallError, build_ruleset
from vpnspot_router.net.settings import NetPlan, parse_settings


def plan(text="", r4="10.77.0.1", r6="fd77:77::1", v6=True):
    return NetPlan(parse_settings(text), resolver4=r4, resolver6=r6, ipv6_offered=v6)


def rules(text):
    return [line.strip() for line in text.splitlines()]


def test_the_table_replaces_itself_in_one_transaction():
    lines = rules(build_ruleset(plan()))
    assert lines[:3] == ["table inet vpnspot {}", "delete table inet vpnspot", "table inet vpnspot {"]
    assert build_ruleset(plan()).count("table inet") == 3


def test_the_kill_switch_drops_lan_forwarding_not_leaving_through_the_tunnel():
    text = build_ruleset(plan())
    assert 'iifname "br-lan" oifname != "vpnspot0" counter drop comment "vpnspot kill switch"' in rules(text)


def test_kill_switch_off_removes_only_the_kill_switch_rule():
    on, off = rules(build_ruleset(plan())), rules(build_ruleset(plan("kill_switch = off")))
    assert [r for r in on if r not in off] == [
        'iifname "br-lan" oifname != "vpnspot0" counter drop comment "vpnspot kill switch"']


def test_lan_dns_on_udp_and_tcp_goes_to_the_tunnel_resolver_for_both_families():
    text = build_ruleset(plan())
    assert ('iifname "br-lan" meta nfproto ipv4 meta l4proto { tcp, udp } th dport 53 dnat ip to '
            '10.77.0.1:53 comment "vpnspot dns to tunnel resolver"') in rules(text)
    assert "dnat ip6 to [fd77:77::1]:53" in text


def test_dns_over_tls_leaves_only_through_the_tunnel():
    assert ('iifname "br-lan" meta l4proto { tcp, udp } th dport 853 oifname != "vpnspot0" counter drop '
            'comment "vpnspot dns over tls only via tunnel"') in rules(build_ruleset(plan()))


def test_without_a_resolver_lan_dns_is_dropped_instead_of_asked_upstream():
    text = build_ruleset(plan(r4=None, r6=None, v6=False))
    assert "dnat" not in text
    assert text.count("vpnspot dns without tunnel resolver") == 2


def test_ipv6_is_dropped_from_the_lan_when_not_tunneled():
    assert 'iifname "br-lan" meta nfproto ipv6 counter drop comment "vpnspot ipv6 blocked"' in rules(
        build_ruleset(plan(v6=False)))
    assert "vpnspot ipv6 blocked" not in build_ruleset(plan(v6=True))
    # and no IPv6 DNAT to a resolver the tunnel cannot reach
    assert "dnat ip6" not in build_ruleset(plan(v6=False))


def test_tcp_mss_is_clamped_both_ways_on_the_tunnel_and_the_tunnel_is_masqueraded():
    text = rules(build_ruleset(plan()))
    assert ('oifname "vpnspot0" tcp flags syn / syn,rst tcp option maxseg size set rt mtu '
            'comment "vpnspot mss clamp out"') in text
    assert any(r.startswith('iifname "vpnspot0" tcp flags syn') for r in text)
    assert 'oifname "vpnspot0" masquerade comment "vpnspot tunnel nat"' in text


def test_interface_names_from_the_settings_are_used():
    text = build_ruleset(plan("lan = br-home\nwan = pppoe-wan\ntunnel = vs9"))
    assert '"br-home"' in text and '"vs9"' in text and '"br-lan"' not in text


def test_status_reads_what_is_loaded_and_a_failed_apply_keeps_the_old_table():
    fw = FakeFirewall()
    assert fw.status() == firewall.NOT_LOADED
    fw.apply(build_ruleset(plan()))
    assert fw.status()["kill_switch"] and fw.status()["dns_to_tunnel"]
    fw.fail_next = "syntax error"
    try:
        fw.apply("garbage")
    except FirewallError:
        pass
    else:
        raise AssertionError("apply should have failed")
    assert fw.status()["kill_switch"]
    fw.remove()
    assert not fw.status()["loaded"]


def test_every_lan_device_is_kill_switched_through_one_anonymous_set():
    text = build_ruleset(plan("lan = br-lan br-guest br-lan.1"))
    lans = '{ "br-lan", "br-guest", "br-lan.1" }'
    assert ('iifname %s oifname != "vpnspot0" counter drop comment "vpnspot kill switch"' % lans
            in rules(text))
    # DNS (DNAT and the only-via-tunnel drop), DNS over TLS and the IPv6
    # block cover the same devices.
    assert text.count("iifname %s" % lans) == 5
    assert 'iifname "br-lan" ' not in text


# -- dns custom: the household's servers, through the tunnel -------------------

def custom_plan(extra="", dns_servers="203.0.113.130 fd77:200::80 9.9.9.9", v6=True):
    from vpnspot_router.core.wgconf import parse
    from vpnspot_router.net.settings import plan_from_config
    conf = parse("[Interface]\nPrivateKey = %s\nAddress = 10.77.0.2/32%s\nDNS = 10.77.0.1, fd77:77::1\n"
                 "[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.10:51820\nAllowedIPs = 0.0.0.0/0%s\n"
                 % ("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=", ", fd77:77::2/128" if v6 else "",
                    "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", ", ::/0" if v6 else ""), "t.conf")
    settings = parse_settings("dns = custom\ndns_servers = %s\n%s" % (dns_servers, extra))
    return plan_from_config(settings, conf)


def test_dns_custom_sends_lan_dns_to_the_households_first_server_of_each_family():
    p = custom_plan()
    assert (p.resolver4, p.resolver6) == ("203.0.113.130", "fd77:200::80")
    text = build_ruleset(p)
    assert ('iifname "br-lan" meta nfproto ipv4 meta l4proto { tcp, udp } th dport 53 dnat ip to '
            '203.0.113.130:53 comment "vpnspot dns to tunnel resolver"') in rules(text)
    assert "dnat ip6 to [fd77:200::80]:53" in text
    assert "10.77.0.1" not in text and "fd77:77::1" not in text      # not the tunnel's resolver
    assert p.dns_mode == "your servers (203.0.113.130, fd77:200::80)"


def test_dns_custom_queries_leave_only_through_the_tunnel_even_with_the_kill_switch_off():
    rule = ('iifname "br-lan" meta l4proto { tcp, udp } th dport 53 oifname != "vpnspot0" counter '
            'drop comment "vpnspot dns only via tunnel"')
    for extra in ("", "kill_switch = off\n"):
        assert rule in rules(build_ruleset(custom_plan(extra))), extra
    # Before any tunnel (boot, the agent's first table) nothing is DNAT'ed to
    # the household's servers: LAN DNS is dropped, as in dns tunnel mode.
    boot = build_ruleset(NetPlan(parse_settings("dns = custom\ndns_servers = 9.9.9.9\n"
                                                "kill_switch = off\n")))
    assert "dnat" not in boot and boot.count("vpnspot dns without tunnel resolver") == 2
    assert rule in rules(boot)


def test_dns_custom_drops_a_family_without_a_household_server_or_without_tunnel_ipv6():
    only4 = build_ruleset(custom_plan(dns_servers="9.9.9.9"))
    assert "dnat ip to 9.9.9.9:53" in only4 and "dnat ip6" not in only4
    assert ('iifname "br-lan" meta nfproto ipv6 meta l4proto { tcp, udp } th dport 53 counter drop '
            'comment "vpnspot dns without tunnel resolver"') in rules(only4)
    no_v6_tunnel = build_ruleset(custom_plan(v6=False))
    assert "dnat ip to 203.0.113.130:53" in no_v6_tunnel and "dnat ip6" not in no_v6_tunnel
    assert "meta nfproto ipv6 meta l4proto { tcp, udp } th dport 53 counter drop" in no_v6_tunnel
