"""Desired policy routing for a NetPlan (net/routing.py)."""

from vpnspot_router.net import routing as R
from vpnspot_router.net.settings import NetPlan, parse_settings


def plan(text="", v6=True):
    return NetPlan(parse_settings(text), resolver4="10.77.0.1", ipv6_offered=v6)


def test_lan_traffic_of_both_families_is_sent_to_our_table_and_marked_tunnel_udp_to_main():
    rules = R.desired_rules(plan())
    for fam in (4, 6):
        assert (fam, R.RULE_PRIO_LAN, "iif br-lan", str(R.TABLE_ID)) in rules
        assert (fam, R.RULE_PRIO_FWMARK, "fwmark 0x%x" % R.FWMARK, "main") in rules
    assert R.RULE_PRIO_FWMARK < R.RULE_PRIO_LAN


def test_with_the_tunnel_up_both_families_default_into_the_tunnel_with_unreachable_behind():
    routes = R.desired_routes(plan(), tunnel_up=True)
    assert routes == {(4, "unicast", "vpnspot0", R.METRIC_TUNNEL), (6, "unicast", "vpnspot0", R.METRIC_TUNNEL),
                      (4, "unreachable", None, R.METRIC_UNREACHABLE),
                      (6, "unreachable", None, R.METRIC_UNREACHABLE)}


def test_with_the_tunnel_down_and_the_kill_switch_on_lan_traffic_is_unreachable():
    assert R.desired_routes(plan(), tunnel_up=False) == {
        (4, "unreachable", None, R.METRIC_UNREACHABLE), (6, "unreachable", None, R.METRIC_UNREACHABLE)}


def test_kill_switch_off_lets_ipv4_fall_back_but_untunneled_ipv6_stays_blocked():
    assert R.desired_routes(plan("kill_switch = off", v6=False), tunnel_up=False) == {
        (6, "unreachable", None, R.METRIC_UNREACHABLE)}
    assert R.desired_routes(plan("kill_switch = off", v6=True), tunnel_up=False) == set()


def test_ip_commands_name_our_table_and_metric():
    assert R._route_argv("replace", (6, "unreachable", None, R.METRIC_UNREACHABLE)) == [
        "-6", "route", "replace", "unreachable", "default", "table", "51820", "metric", "4278198272"]
    assert R._rule_argv("add", (4, 10000, "iif br-lan", "51820")) == [
        "-4", "rule", "add", "priority", "10000", "iif", "br-lan", "lookup", "51820"]


def test_every_lan_device_gets_its_policy_rule_in_both_families():
    plan = NetPlan(parse_settings("lan = br-lan.1 br-guest"))
    lan_rules = sorted(r for r in R.desired_rules(plan) if r[1] == R.RULE_PRIO_LAN)
    assert lan_rules == [(4, R.RULE_PRIO_LAN, "iif br-guest", str(R.TABLE_ID)),
                         (4, R.RULE_PRIO_LAN, "iif br-lan.1", str(R.TABLE_ID)),
                         (6, R.RULE_PRIO_LAN, "iif br-guest", str(R.TABLE_ID)),
                         (6, R.RULE_PRIO_LAN, "iif br-lan.1", str(R.TABLE_ID))]
