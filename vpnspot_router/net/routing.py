"""Policy routing: every LAN packet, IPv4 and IPv6, into the tunnel.

Owns: the desired routing state for a NetPlan (pure), and `Routing`, the
adapter that makes the kernel match it by replacing and deleting only our
own entries (table TABLE_ID and the rules at our priorities); `FakeRouting`
keeps the same interface in memory.

Desired state, per family:
  rule  priority 9990   fwmark FWMARK lookup main   the tunnel's own UDP (and
                                                   the provider API) always use
                                                   the WAN, never the tunnel
  rule  priority 10000  iif LAN lookup TABLE_ID     every LAN-sourced packet, one
                                                   rule per LAN device (br-lan,
                                                   br-guest, br-lan.1, ...)
  table TABLE_ID ("vpnspot"):
        default dev TUNNEL metric 10                while the tunnel is up
        unreachable default metric 4278198272       kill switch on (or IPv6
                                                   not tunneled): with the
                                                   tunnel gone, LAN packets
                                                   get "unreachable" instead
                                                   of falling through to the
                                                   main table and the WAN

Packets to the router's own addresses are answered from the `local` table
(priority 0) before these rules, so the LAN still reaches the router.
The table is a number because a name needs /etc/iproute2/rt_tables, a file
shared with the rest of the system.
"""

import json
import subprocess

TABLE_ID = 51820
FWMARK = 0x5653
RULE_PRIO_FWMARK = 9990
RULE_PRIO_LAN = 10000
OUR_PRIORITIES = (RULE_PRIO_FWMARK, RULE_PRIO_LAN)
METRIC_TUNNEL = 10
METRIC_UNREACHABLE = 4278198272


class RoutingError(Exception):
    """An `ip` command failed; the message says which and why."""


def desired_rules(plan):
    """Set of (family, priority, selector, table) tuples."""
    out = set()
    for fam in (4, 6):
        out.add((fam, RULE_PRIO_FWMARK, "fwmark 0x%x" % FWMARK, "main"))
        for lan in plan.lans:
            out.add((fam, RULE_PRIO_LAN, "iif %s" % lan, str(TABLE_ID)))
    return out


def desired_routes(plan, tunnel_up):
    """Set of (family, type, dev, metric) routes for `default` in TABLE_ID."""
    out = set()
    if tunnel_up:
        out.add((4, "unicast", plan.tunnel, METRIC_TUNNEL))
        if plan.ipv6_tunnel:
            out.add((6, "unicast", plan.tunnel, METRIC_TUNNEL))
    if plan.kill_switch:
        out.add((4, "unreachable", None, METRIC_UNREACHABLE))
    if plan.kill_switch or not plan.ipv6_tunnel:
        out.add((6, "unreachable", None, METRIC_UNREACHABLE))
    return out


def _route_argv(verb, route):
    fam, kind, dev, metric = route
    argv = ["-%d" % fam, "route", verb]
    if kind != "unicast":
        argv.append(kind)
    argv.append("default")
    if dev:
        argv += ["dev", dev]
    return argv + ["table", str(TABLE_ID), "metric", str(metric)]


def _rule_argv(verb, rule):
    fam, prio, selector, table = rule
    return ["-%d" % fam, "rule", verb, "priority", str(prio)] + selector.split() + ["lookup", table]


class Routing:
    """The real adapter: `ip` with JSON output. apply(rules, routes), clear()."""

    def __init__(self, ip="ip"):
        self.ip = ip

    def _run(self, argv, check=True):
        try:
            proc = subprocess.run([self.ip] + argv, capture_output=True, text=True, timeout=30)
        except OSError as e:
            raise RoutingError("cannot run %s: %s" % (self.ip, e.strerror))
        if check and proc.returncode != 0:
            raise RoutingError("`ip %s` failed: %s" % (" ".join(argv), proc.stderr.strip()))
        return proc

    def _json(self, argv):
        out = self._run(["-j"] + argv).stdout.strip()
        return json.loads(out) if out else []

    def current_rules(self):
        out = set()
        for fam in (4, 6):
            for r in self._json(["-%d" % fam, "rule", "show"]):
                if r.get("priority") not in OUR_PRIORITIES:
                    continue
                if "iif" in r:
                    selector = "iif %s" % r["iif"]
                elif "fwmark" in r:
                    selector = "fwmark 0x%x" % int(r["fwmark"], 0)
                else:
                    selector = "all"
                out.add((fam, r["priority"], selector, str(r.get("table", ""))))
        return out

    def current_routes(self):
        out = set()
        for fam in (4, 6):
            for r in self._json(["-%d" % fam, "route", "show", "table", str(TABLE_ID)]):
                if r.get("dst") != "default":
                    continue
                kind = r.get("type", "unicast")
                # IPv6 shows unreachable routes on `dev lo`; the device of a
                # non-unicast route means nothing, so it is not compared.
                dev = r.get("dev") if kind == "unicast" else None
                out.add((fam, kind, dev, r.get("metric", 0)))
        return out

    def apply(self, rules, routes):
        """Make our rules and TABLE_ID's default routes exactly these.
        Adds/replaces before deleting, so LAN traffic is never unrouted
        (falling through to the main table) between two states."""
        have = self.current_rules()
        for rule in sorted(rules - have):
            self._run(_rule_argv("add", rule))
        for rule in sorted(have - rules):
            self._run(_rule_argv("del", rule), check=False)
        for route in sorted(routes, key=repr):
            self._run(_route_argv("replace", route))
        for route in sorted(self.current_routes() - routes, key=repr):
            self._run(_route_argv("del", route), check=False)

    def clear(self):
        self.apply(set(), set())


class FakeRouting:
    def __init__(self):
        self.rules = set()
        self.routes = set()
        self.history = []

    def apply(self, rules, routes):
        self.rules = set(rules)
        self.routes = set(routes)
        self.history.append((set(rules), set(routes)))

    def clear(self):
        self.apply(set(), set())
