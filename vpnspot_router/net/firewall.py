"""The kill switch and its neighbours: the nftables table `inet vpnspot`.

Owns: building the whole table as text from a NetPlan (pure, unit-tested on
the text) and the `Firewall` adapter that loads it with one `nft -f`
transaction, removes it, and reports what is loaded. `FakeFirewall` beside
it keeps the same interface in memory.

What the table does, chain by chain (every rule carries a comment starting
"vpnspot" so `status` can tell what is loaded):
  forward  TCP MSS clamping to the route MTU on the tunnel, both ways;
           LAN IPv6 dropped when the tunnel carries no IPv6;
           LAN DNS-over-TLS/QUIC (853) dropped unless it leaves through the tunnel;
           LAN DNS (53, after the DNAT below) dropped unless it leaves through
           the tunnel, kill switch on or off: with dns custom the household's
           servers are on the internet, and the WAN must never carry a query;
           the kill switch: LAN traffic dropped unless it leaves through the tunnel.
  input    LAN DNS to the router itself over a family the tunnel resolver
           cannot serve is dropped (else the router's own resolver would ask
           upstream over the WAN).
  dstnat   LAN DNS (UDP and TCP 53, to any address) DNAT'ed to the tunnel resolver,
           or with dns custom to the household's first server of each family
           (NetPlan.resolver4/6); policy routing (net/routing.py: iif LAN
           -> table vpnspot -> the tunnel) then carries it into the tunnel.
  srcnat   masquerade on the tunnel (the gateway knows only the tunnel address).

Rules match interfaces by name (iifname/oifname), not index, so the table
loads before the tunnel device exists: that is how the kill switch holds at
boot and while the agent is down. Loading is atomic: the text first creates
the table (so deleting never fails), deletes it and defines it whole, all in
one nft transaction; a failure leaves the previous table untouched.
"""

import json
import subprocess

TABLE = "vpnspot"
KILL_SWITCH_COMMENT = "vpnspot kill switch"


class FirewallError(Exception):
    """nft refused the ruleset or could not be run; the old table is in place."""


NFT_TIMEOUT = 30


def run_nft(nft, argv, text, error):
    """Runs `nft ARGV` (TEXT on stdin); a missing nft or one that does not
    answer raises `error`, the caller's exception class. Shared by this
    module's Firewall and net/guard.py's NftGuard."""
    try:
        return subprocess.run([nft] + argv, input=text, capture_output=True, text=True,
                              timeout=NFT_TIMEOUT)
    except OSError as e:
        raise error("cannot run %s: %s (is nftables installed?)" % (nft, e.strerror))
    except subprocess.TimeoutExpired:
        raise error("%s did not answer within %d s" % (nft, NFT_TIMEOUT))


def list_table(nft, table, error):
    """The JSON items of `table inet TABLE`, or None when it is not loaded."""
    proc = run_nft(nft, ["-j", "list", "table", "inet", table], None, error)
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout)["nftables"]
    except (ValueError, KeyError):
        raise error("cannot read nft's JSON listing of table inet %s" % table)


def _q(name):
    return '"%s"' % name


def _lan_match(plan):
    """`iifname "br-lan"`, or an anonymous set for several LAN devices
    (br-lan, br-guest, br-lan.1: every network lannets.py counts as LAN)."""
    if len(plan.lans) == 1:
        return _q(plan.lans[0])
    return "{ %s }" % ", ".join(_q(d) for d in plan.lans)


def build_ruleset(plan):
    """The complete `inet vpnspot` table for a NetPlan, as nft -f text."""
    lan, tun = _lan_match(plan), _q(plan.tunnel)
    fwd = [
        "oifname %s tcp flags syn / syn,rst tcp option maxseg size set rt mtu "
        "comment \"vpnspot mss clamp out\"" % tun,
        "iifname %s tcp flags syn / syn,rst tcp option maxseg size set rt mtu "
        "comment \"vpnspot mss clamp in\"" % tun,
    ]
    if not plan.ipv6_tunnel:
        fwd.append("iifname %s meta nfproto ipv6 counter drop comment \"vpnspot ipv6 blocked\"" % lan)
    if plan.dns_tunnel:
        fwd.append("iifname %s meta l4proto { tcp, udp } th dport 853 oifname != %s counter drop "
                   "comment \"vpnspot dns over tls only via tunnel\"" % (lan, tun))
        fwd.append("iifname %s meta l4proto { tcp, udp } th dport 53 oifname != %s counter drop "
                   "comment \"vpnspot dns only via tunnel\"" % (lan, tun))
    if plan.kill_switch:
        fwd.append("iifname %s oifname != %s counter drop comment \"%s\"" % (lan, tun, KILL_SWITCH_COMMENT))
    inp = []
    nat = []
    if plan.dns_tunnel:
        for fam, res, nat_fam, fmt in (("ipv4", plan.resolver4, "ip", "%s:53"),
                                       ("ipv6", plan.resolver6 if plan.ipv6_tunnel else None,
                                        "ip6", "[%s]:53")):
            if res:
                nat.append("iifname %s meta nfproto %s meta l4proto { tcp, udp } th dport 53 "
                           "dnat %s to %s comment \"vpnspot dns to tunnel resolver\""
                           % (lan, fam, nat_fam, fmt % res))
            else:
                inp.append("iifname %s meta nfproto %s meta l4proto { tcp, udp } th dport 53 counter "
                           "drop comment \"vpnspot dns without tunnel resolver\"" % (lan, fam))
    out = ["table inet %s {}" % TABLE, "delete table inet %s" % TABLE, "table inet %s {" % TABLE]
    out += _chain("forward", "filter hook forward priority filter - 5", fwd)
    out += _chain("input", "filter hook input priority filter - 5", inp)
    out += _chain("dstnat", "nat hook prerouting priority dstnat - 5", nat)
    out += _chain("srcnat", "nat hook postrouting priority srcnat - 5",
                  ["oifname %s masquerade comment \"vpnspot tunnel nat\"" % tun])
    out.append("}")
    return "\n".join(out) + "\n"


def _chain(name, hook, rules):
    return (["  chain %s {" % name, "    type %s; policy accept;" % hook]
            + ["    " + r for r in rules] + ["  }"])


def describe(rules_comments):
    """Status from the rule comments of the loaded table."""
    comments = set(rules_comments)
    return {
        "loaded": True,
        "kill_switch": KILL_SWITCH_COMMENT in comments,
        "dns_to_tunnel": "vpnspot dns to tunnel resolver" in comments,
        "dns_blocked": "vpnspot dns without tunnel resolver" in comments,
        "ipv6_blocked": "vpnspot ipv6 blocked" in comments,
        "mss_clamp": "vpnspot mss clamp out" in comments,
    }


NOT_LOADED = {"loaded": False, "kill_switch": False, "dns_to_tunnel": False, "dns_blocked": False,
              "ipv6_blocked": False, "mss_clamp": False}


class Firewall:
    """The real adapter: runs nft. `apply(text)`, `remove()`, `status()`."""

    def __init__(self, nft="nft"):
        self.nft = nft

    def _run(self, argv, text=None):
        return run_nft(self.nft, argv, text, FirewallError)

    def apply(self, text):
        proc = self._run(["-f", "-"], text)
        if proc.returncode != 0:
            raise FirewallError("nft rejected the vpnspot table (previous table kept): %s"
                                % proc.stderr.strip())

    def remove(self):
        proc = self._run(["delete", "table", "inet", TABLE])
        if proc.returncode != 0 and "No such file" not in proc.stderr:
            raise FirewallError("cannot remove table inet %s: %s" % (TABLE, proc.stderr.strip()))

    def status(self):
        items = list_table(self.nft, TABLE, FirewallError)
        if items is None:
            return dict(NOT_LOADED)
        return describe(item["rule"].get("comment", "") for item in items if "rule" in item)


class FakeFirewall:
    """In-memory firewall: records the loaded text; `fail_next` makes the
    next apply fail as nft would, leaving the previous text in place."""

    def __init__(self):
        self.text = None
        self.history = []
        self.fail_next = None

    def apply(self, text):
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise FirewallError(message)
        self.text = text
        self.history.append(("apply", text))

    def remove(self):
        self.text = None
        self.history.append(("remove", None))

    def status(self):
        if self.text is None:
            return dict(NOT_LOADED)
        comments = []
        for line in self.text.splitlines():
            if 'comment "' in line:
                comments.append(line.split('comment "', 1)[1].split('"', 1)[0])
        return describe(comments)
