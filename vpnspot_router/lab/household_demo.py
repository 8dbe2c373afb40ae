"""`vpnspot lab demo household`: a household's day, proven with a WAN capture.

Builds the household lab (topology.py), then walks through what a household
relies on and prints a PASS/FAIL claim for each:
  1. boot: the kill switch is loaded before the agent runs, and a LAN
     client's page request goes nowhere;
  2. the agent starts; the LAN client looks up site.vpnspot.test (asking the
     ISP's resolver - the router hands the question to the tunnel's
     resolver) and fetches the page over IPv4 and IPv6; the site reports
     the tunnel's address, not the LAN's or the WAN's;
  3. the agent is killed (kill -9): the kill switch holds, the page does not
     load; the agent restarts and the page loads again;
  4. the capture on the router's WAN saw only WireGuard to the gateway.
Exit status 0 when every claim held, 1 otherwise. Everything is removed at
the end.
"""

import os
import signal
import sys
import time

from . import netns
from . import pcap
from . import topology as T

TIMING = {"rekey_timeout": 1, "keepalive_timeout": 1}


class HouseholdDemo:
    def __init__(self, lab, out=sys.stdout):
        self.lab = lab
        self.out = out
        self.claims = []

    def say(self, text=""):
        print(text, file=self.out, flush=True)

    def claim(self, ok, text):
        self.claims.append((ok, text))
        self.say("  [%s] %s" % ("PASS" if ok else "FAIL", text))
        return ok

    def page(self):
        answer = self.house.lan_probe("dns", T.ISP, T.SITE_NAME)
        addr = (answer.get("answers") or [None])[0]
        if not addr:
            return answer, None
        return answer, self.house.http_from_lan(addr, timeout=2.0)

    def run(self):
        self.say("1. Household lab: lan (client %s) - router - ISP - VPN Spot gateway %s - site %s"
                 % (T.LAN_CLIENT, T.GW, T.SITE))
        house = self.house = T.Household(self.lab)
        capture = house.start_capture()
        proc = house.vpnspot("killswitch", "apply", "--settings", house.settings)
        self.claim(proc.returncode == 0, "boot: kill switch loaded before the agent (%s)" % proc.stdout.strip())
        self.claim(not house.http_from_lan(T.SITE, timeout=1.0).get("ok")
                   and not house.ping_from_lan(T.GW, count=1),
                   "boot: with no tunnel yet, the LAN client reaches nothing")

        self.say("2. The agent starts")
        started = time.monotonic()
        house.start_agent(timing=TIMING)
        self.say("   tunnel up and first page loaded %.1f s after start" % (time.monotonic() - started))
        answer, reply = self.page()
        self.claim(answer.get("answers") == [T.SITE],
                   "DNS: %s asked of the ISP's resolver was answered by the tunnel's: %s"
                   % (T.SITE_NAME, answer.get("answers") or answer.get("error")))
        body = (reply or {}).get("body", "").strip()
        self.claim(body == "client=%s" % T.ROUTER_TUNNEL,
                   "the site served the page and saw the tunnel address (%s)" % (body or reply))
        reply6 = house.http_from_lan(T.SITE6)
        body6 = reply6.get("body", "").strip()
        self.claim(body6 == "client=%s" % T.ROUTER_TUNNEL6, "over IPv6 too (%s)" % (body6 or reply6))

        self.say("3. The agent is killed (kill -9), then restarted")
        os.kill(house.agent.pid, signal.SIGKILL)
        house.agent.wait(timeout=5)
        held = house.vpnspot("killswitch", "status")
        self.claim(held.returncode == 0, "agent dead, %s" % held.stdout.strip())
        _, reply = self.page()
        self.claim(not (reply or {}).get("ok"), "the page does not load while the agent is down")
        restarted = time.monotonic()
        house.start_agent(timing=TIMING)
        _, reply = self.page()
        self.claim((reply or {}).get("body", "").strip() == "client=%s" % T.ROUTER_TUNNEL,
                   "after the restart the page loads again (%.1f s)" % (time.monotonic() - restarted))

        self.say("4. What the ISP could see")
        tally = capture.stop()
        self.claim(tally["wireguard"] > 0 and tally["leaked"] == 0, pcap.tally_text(tally))
        for line in tally["leak_examples"]:
            self.say("      leaked: " + line)
        self.say("5. `vpnspot status` on the router")
        self.say("   " + house.vpnspot("status", "--run-dir", house.run_dir).stdout.strip()
                 .replace("\n", "\n   "))

        failed = [text for ok, text in self.claims if not ok]
        self.say()
        if failed:
            self.say("RESULT: %d of %d claims FAILED" % (len(failed), len(self.claims)))
            self.say("agent log (last lines):\n" + house.agent_log()[-2000:])
            return 1
        self.say("RESULT: all %d claims held: the household's traffic, DNS and IPv6 went only through "
                 "the tunnel, and the kill switch held while the agent was down." % len(self.claims))
        return 0


def main():
    missing = T.missing_tools()
    if missing:
        print("error: missing tools: %s; run `bash vpnspot_router/lab/setup.sh` as root"
              % ", ".join(missing), file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("error: the lab demo needs root (network namespaces)", file=sys.stderr)
        return 2
    netns.sweep_stale()
    with netns.Lab() as lab:
        return HouseholdDemo(lab).run()
