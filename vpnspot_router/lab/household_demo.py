"""`vpnspot lab demo household`: a household's day, proven with a WAN capture.

Builds the household lab (topology.py) with the reference VPN Spot service
(provider_service.py) on the ISP's side, then walks through what a
household relies on and prints a PASS/FAIL claim for each:
  1. boot: the kill switch is loaded before the agent runs, and a LAN
     client's page request goes nowhere;
  2. the router is enrolled with the household's account email and
     activation code (the same provider call as the web UI's sign-in step);
     no WireGuard config is written by hand;
  3. the agent starts in its UCI/provider-driven mode: it fetches the
     server list, registers its key (the private key stays on the router),
     chooses a server and connects; the LAN client looks up
     site.vpnspot.test (asking the ISP's resolver - the router hands the
     question to the tunnel's resolver) and fetches the page over IPv4 and
     IPv6; the site reports the tunnel's address, not the LAN's or the WAN's;
  4. the agent is killed (kill -9): the kill switch holds, the page does not
     load; the agent restarts and the page loads again;
  5. the capture on the router's WAN saw only WireGuard to the gateway and
     the router's own HTTPS to the service;
  6. what the service received: requests by kind, every body valid against
     provider/openapi.yaml, every report exactly the telemetry whitelist;
  7. the household web UI (`vpnspot web`) runs on the router's LAN address
     with the real backend; a loopback forward makes it reachable from this
     machine at the printed https://127.0.0.1:PORT/ address, and the ISP's
     side cannot connect to it; its diagnostics (DNS through the tunnel,
     handshake, full-size packets, server latency) are measured for real,
     and its status page shows the public address seen through the tunnel:
     the address the VPN Spot service's connection check saw when the agent
     asked out of the tunnel interface (the router's tunnel address, as the
     lab's gateway does not NAT), flagged a VPN Spot exit.
With `wait` (an interactive terminal) the lab stays up after the proofs
until Ctrl-C, so the household can open the printed address. Exit status 0
when every claim held, 1 otherwise. Everything is removed at the end.

Shortened timers, stated because they are not the product's: WireGuard
rekey_timeout=1 s and keepalive_timeout=1 s, and a 3-second reporting period
(production: minutes) so that reports happen while the demo runs.
"""

import json
import os
import signal
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request

from . import netns
from . import pcap
from . import topology as T
from .demo import Narrator

EMAIL = "household@example.net"
CODE = "VPNS-7Q4K-M2XD"
API_PORT = 8443
WEB_PORT = 443
API_URL = "https://%s:%d" % (T.API_NAME, API_PORT)
ENV = {"VPNSPOT_WG_TIMING": "keepalive_timeout=1,rekey_timeout=1",
       "VPNSPOT_REPORT_TIMING": "period=3,first_jitter=1,base_delay=1"}
# What the router may send in HTTP headers to the service (test_service.py
# checks the same list).
ALLOWED_HEADERS = {"host", "accept", "user-agent", "content-type", "content-length",
                   "authorization", "idempotency-key", "accept-encoding", "connection"}


class HouseholdDemo(Narrator):
    def __init__(self, lab, out=sys.stdout, wait=False, relay_port=0):
        Narrator.__init__(self, out)
        self.lab = lab
        self.wait = wait
        self.relay_port = relay_port
        self.url = None
        self.agent = None
        base = lab.tmpdir
        self.pdir = os.path.join(base, "provider")
        self.state = os.path.join(base, "state")
        self.config = os.path.join(base, "config")
        self.run_dir = os.path.join(base, "agentrun")

    def page(self):
        answer = self.house.lan_probe("dns", T.ISP, T.SITE_NAME)
        addr = (answer.get("answers") or [None])[0]
        if not addr:
            return answer, None
        return answer, self.house.http_from_lan(addr, timeout=2.0)

    # ------------------------------------------------------------ the service
    def start_service(self):
        lab, house = self.lab, self.house
        for d in (self.pdir, self.config):
            os.makedirs(d, exist_ok=True)
        servers = [
            {"id": "ams-gw", "region": "europe", "country": "NL", "city": "Amsterdam",
             "hostname": "gw.vpnspot.test", "endpoint": "%s:%d" % (T.GW, T.GW_PORT),
             "public_key": house.gw.public_key, "load": 10, "ipv6": True, "dns": [T.GW_TUNNEL]},
            {"id": "ams-gw2", "region": "europe", "country": "NL", "city": "Amsterdam",
             "hostname": "gw2.vpnspot.test", "endpoint": "%s:%d" % (T.GW2, T.GW_PORT),
             "public_key": house.gw2.public_key, "load": 30, "ipv6": True, "dns": [T.GW_TUNNEL]},
        ]
        path = os.path.join(lab.tmpdir, "servers.json")
        with open(path, "w") as f:
            json.dump(servers, f)
        self.provider = lab.popen("wan", [
            sys.executable, "-m", "vpnspot_router", "lab", "provider",
            "--listen", "%s:%d" % (T.INET, API_PORT), "--state", self.pdir, "--servers", path,
            "--gateway", "ams-gw=%s/%s" % (lab.name("gw"), house.gw.ifname),
            "--gateway", "ams-gw2=%s/%s" % (lab.name("gw2"), house.gw2.ifname),
            "--account", "%s=%s" % (EMAIL, CODE)])
        netns.wait_for(lambda: "VPN Spot lab service" in lab.read_log(self.provider), timeout=15,
                       what="the reference VPN Spot service")

    def enroll(self):
        proc = self.house.vpnspot("enroll", "--email", EMAIL, "--code", CODE,
                                  "--api", API_URL,
                                  "--ca", os.path.join(self.pdir, "tls", "ca.pem"),
                                  "--resolve", "api.vpnspot.test=%s" % T.INET,
                                  "--state", self.state)
        # What the web UI's wizard writes after its sign-in step, so the
        # status page can show the (masked) account; the region and kill
        # switch are chosen, so the household's wizard skips those steps.
        # The service's address and CA, as an ISP's provisioning names them:
        # the web UI's account step reaches the reference service (through
        # the saved enrollment's --resolve, device.json), not the default
        # api.vpnspot.net.
        with open(os.path.join(self.config, "vpnspot"), "w") as f:
            f.write("config vpnspot 'main'\n\toption region 'europe'\n\toption kill_switch '1'\n"
                    "\toption account_email '%s'\n\toption api_url '%s/v1'\n"
                    "\toption ca_file '%s'\n" % (EMAIL, API_URL, os.path.join(self.pdir, "tls",
                                                                             "ca.pem")))
        return proc

    def start_agent(self):
        env = dict(os.environ)
        env.update(ENV)
        self.agent = self.lab.popen("router", [
            sys.executable, "-m", "vpnspot_router", "agent", "--config-dir", self.config,
            "--state-dir", self.state, "--run-dir", self.run_dir, "--lan", "br-lan",
            "--wan", "wan", "--tunnel", T.TUNNEL_IFNAME,
            # As the package's init script starts it: the agent holds the web
            # UI's socket and starts `vpnspot web` when a browser connects.
            # 127.0.0.1 is the Host the loopback forward's browser sends.
            "--web-listen", "%s:%d" % (T.ROUTER_LAN, WEB_PORT), "--web-name", "127.0.0.1"],
            env=env)
        self.house.agent = self.agent
        netns.wait_for(lambda: self.status().get("state") == "connected", timeout=30,
                       what="the agent to connect")
        self.house.wait_connected(timeout=15)

    def status(self):
        if self.agent.poll() is not None:
            raise netns.LabError("the agent exited:\n" + self.lab.read_log(self.agent))
        proc = self.house.vpnspot("status", "--json", "--run-dir", self.run_dir)
        return json.loads(proc.stdout)

    def requests(self):
        try:
            with open(os.path.join(self.pdir, "requests.jsonl")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def provider_report(self):
        from vpnspot_router.core import telemetry
        from vpnspot_router.provider import spec as spec_mod
        netns.wait_for(lambda: any(r["path"] == "/v1/reports" for r in self.requests()),
                       timeout=15, what="a telemetry report at the service")
        spec = spec_mod.load()
        counts, invalid, not_whitelist, extra_headers = {}, [], [], set()
        requests = self.requests()
        for r in requests:
            op = spec.operation(r["method"], r["path"])
            name = op["operationId"] if op else "%s %s (not in the API)" % (r["method"], r["path"])
            counts[name] = counts.get(name, 0) + 1
            if op is None:
                invalid.append(name)
                continue
            if r["body"]:
                try:
                    problems = spec.validate(spec.request_schema(op), json.loads(r["body"]))
                except ValueError:
                    problems = ["not JSON"]
                if problems:
                    invalid.append(name)
            if r["path"] == "/v1/reports":
                try:
                    fields = telemetry.check_report(r["body"].encode())
                except Exception as e:      # a report the whitelist refuses
                    not_whitelist.append(str(e))
                    continue
                if set(fields) != set(telemetry.WHITELIST):
                    not_whitelist.append(sorted(fields))
            extra_headers |= set(r["headers"]) - ALLOWED_HEADERS
        with open(os.path.join(self.state, "wg-key"), "rb") as f:
            private = f.read().strip().decode()
        self.claim(counts.get("enroll") == 1 and counts.get("report", 0) >= 1,
                   "the service received %d requests: %s" % (len(requests), ", ".join(
                       "%s %d" % kv for kv in sorted(counts.items()))))
        self.claim(not invalid, "every request body matched openapi.yaml%s"
                   % ("" if not invalid else " EXCEPT %s" % ", ".join(invalid)))
        self.claim(not not_whitelist and not extra_headers,
                   "every report carried only the whitelist (%s)%s"
                   % (", ".join(sorted(telemetry.WHITELIST)),
                      "" if not (not_whitelist or extra_headers) else
                      "; refused: %s %s" % (not_whitelist, sorted(extra_headers))))
        self.claim(private not in json.dumps(requests),
                   "the router's private key is in none of them")

    # ------------------------------------------------------------- the web UI
    def start_web(self):
        """The web UI is the agent's (--web-listen): nothing to start but the
        loopback forward from the host."""
        lab = self.lab
        netns.wait_for(lambda: self._alive(self.agent)
                       and "web UI: on demand" in lab.read_log(self.agent),
                       timeout=20, what="the agent to hold the web UI's socket")
        self.relay = lab.popen(None, [
            sys.executable, "-m", "vpnspot_router.lab.relay", "127.0.0.1:%d" % self.relay_port,
            lab.name("router"), "%s:%d" % (T.ROUTER_LAN, WEB_PORT)])
        netns.wait_for(lambda: self._alive(self.relay) and "relay " in lab.read_log(self.relay),
                       timeout=10, what="the loopback forward")
        port = int(lab.read_log(self.relay).split()[1].rsplit(":", 1)[1])
        self.url = "https://127.0.0.1:%d/" % port

    def _alive(self, proc):
        if proc.poll() is not None:
            raise netns.LabError("exited:\n" + self.lab.read_log(proc))
        return True

    def web_checks(self):
        from vpnspot_router.web import tls
        self.cert = os.path.join(self.state, tls.CERT_FILE)
        before = web_processes(self.state)
        try:
            if not os.path.exists(self.cert):
                # A first visit: the web process the agent starts makes the
                # router's certificate before it answers. The host then
                # trusts that file, as a household accepts it once.
                knock(self.url)
                netns.wait_for(lambda: os.path.exists(self.cert), timeout=20,
                               what="the web UI's certificate")
            answer = fetch(self.url, self.cert)
            ok = answer[0] == 303 and answer[1].get("Location", "").endswith("/setup/password")
            seen = "%d -> %s" % (answer[0], answer[1].get("Location"))
        except OSError as e:
            ok, seen = False, "error: %s" % e
        after = web_processes(self.state)
        self.claim(ok and not before and len(after) == 1,
                   "the web UI answers at %s through the loopback forward, certificate verified "
                   "against the router's own (%s); the agent started it on demand (web processes "
                   "before the visit: %d, after: %d)" % (self.url, seen, len(before), len(after)))
        probe = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1],%d),timeout=2)"
                 "\n print('connected')\nexcept OSError as e:\n print(type(e).__name__)" % WEB_PORT)
        seen = self.lab.run("wan", sys.executable, "-c", probe, T.ROUTER_WAN,
                            check=False).stdout.strip()
        self.claim(seen != "connected" and seen != "",
                   "from the ISP's side, %s:%d (the router's WAN) does not answer: %s"
                   % (T.ROUTER_WAN, WEB_PORT, seen))
        # An ISP can route the LAN address to the router's WAN; Linux would
        # accept that on any interface unless the firewall refuses it.
        self.lab.run("wan", "ip", "route", "replace", T.ROUTER_LAN + "/32", "via", T.ROUTER_WAN)
        try:
            seen = self.lab.run("wan", sys.executable, "-c", probe, T.ROUTER_LAN,
                                check=False).stdout.strip()
        finally:
            self.lab.run("wan", "ip", "route", "del", T.ROUTER_LAN + "/32", check=False)
        self.claim(seen != "connected" and seen != "",
                   "nor does the LAN address %s:%d when the ISP routes it to the router's WAN: %s"
                   % (T.ROUTER_LAN, WEB_PORT, seen))
        self.diagnostics_checks()
        self.public_address_check()

    def public_address_check(self):
        """The status page's public address, rendered by the web UI's app
        with the real backend in the router's namespace, once the agent's
        connection check through the tunnel has answered."""
        try:
            netns.wait_for(lambda: ((self.status().get("exit_address") or {}).get("state")
                                    in ("checked", "failed")), timeout=20,
                           what="the agent's connection check through the tunnel")
        except netns.LabError as e:
            self.claim(False, "the status page shows the public address seen through the "
                              "tunnel (%s)" % e)
            return
        page = status_page(self.lab, self.state, self.config, self.run_dir)
        exit_ = self.status().get("exit_address") or {}
        self.claim(page.get("public_ip") == T.ROUTER_TUNNEL
                   and page.get("public_ip_vpnspot") is True
                   and T.ROUTER_TUNNEL in (page.get("shown") or ""),
                   "the status page shows the public address seen through the tunnel: \"%s\" "
                   "(the VPN Spot service saw the tunnel address, not the WAN's %s; agent: %s)"
                   % (page.get("shown") or page.get("error"), T.ROUTER_WAN,
                      json.dumps(exit_, sort_keys=True)))

    def diagnostics_checks(self):
        """The diagnostics and servers pages' measurements, taken by the web
        UI's own backend in the router's namespace, as the pages take them."""
        proc = self.lab.run("router", sys.executable, "-c", DIAGNOSE, self.state, self.config,
                            self.run_dir, check=False)
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            self.claim(False, "the web UI's diagnostics ran (%s)" % proc.stderr.strip()[-300:])
            return
        checks = {c["name"]: c for c in data["checks"]}
        wanted = ("DNS through the tunnel", "WireGuard handshake", "MTU")
        servers = data["servers"]["servers"]
        latency = ", ".join("%s %s ms" % (s["id"], s["latency_ms"]) for s in servers)
        self.claim(all(checks[n]["ok"] is True for n in wanted)
                   and any(s["latency_ms"] is not None for s in servers),
                   "the web UI's diagnostics, measured through the tunnel: %s; latency %s"
                   % ("; ".join("%s: %s" % (n, checks[n]["detail"]) for n in wanted), latency))

    # ------------------------------------------------------------------ run
    def run(self):
        self.say("1. Household lab: lan (client %s) - router - ISP - VPN Spot gateway %s - site %s"
                 % (T.LAN_CLIENT, T.GW, T.SITE))
        self.say("   namespaces %s<role>, e.g. `ip netns exec %srouter vpnspot status --run-dir %s`"
                 % (self.lab.prefix, self.lab.prefix, self.run_dir))
        house = self.house = T.Household(self.lab)
        capture = house.start_capture(api=[(T.INET, API_PORT)])
        proc = house.vpnspot("killswitch", "apply", "--settings", house.settings)
        self.claim(proc.returncode == 0, "boot: kill switch loaded before the agent (%s)" % proc.stdout.strip())
        self.claim(not house.http_from_lan(T.SITE, timeout=1.0).get("ok")
                   and not house.ping_from_lan(T.GW, count=1),
                   "boot: with no tunnel yet, the LAN client reaches nothing")

        self.say("2. The household signs the router in: account email and activation code")
        self.start_service()
        self.say("   reference VPN Spot service on https://api.vpnspot.test:%d (%s), servers "
                 "ams-gw (%s) and ams-gw2 (%s)" % (API_PORT, T.INET, T.GW, T.GW2))
        proc = self.enroll()
        self.claim(proc.returncode == 0 and os.path.exists(os.path.join(self.state, "device.json")),
                   "enrolled as %s with its activation code: %s"
                   % (EMAIL, (proc.stdout + proc.stderr).strip()))

        self.say("3. The agent starts: servers from the service, key registered, server chosen")
        started = time.monotonic()
        self.start_agent()
        st = self.status()
        sup = st.get("supervisor") or {}
        self.claim(st.get("state") == "connected" and bool(st.get("server")),
                   "connected to %s (region %s) %.1f s after start; failover order %s"
                   % (st.get("server"), sup.get("region"), time.monotonic() - started,
                      ", ".join(sup.get("order") or [])))
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

        self.say("4. The agent is killed (kill -9), then restarted")
        os.kill(self.agent.pid, signal.SIGKILL)
        self.agent.wait(timeout=5)
        held = house.vpnspot("killswitch", "status")
        self.claim(held.returncode == 0, "agent dead, %s" % held.stdout.strip())
        _, reply = self.page()
        self.claim(not (reply or {}).get("ok"), "the page does not load while the agent is down")
        restarted = time.monotonic()
        self.start_agent()
        _, reply = self.page()
        self.claim((reply or {}).get("body", "").strip() == "client=%s" % T.ROUTER_TUNNEL,
                   "after the restart the page loads again (%.1f s)" % (time.monotonic() - restarted))

        self.say("5. What the VPN Spot service received")
        self.provider_report()

        self.say("6. What the ISP could see")
        tally = capture.stop()
        self.claim(tally["wireguard"] > 0 and tally["leaked"] == 0, pcap.tally_text(tally))
        for line in tally["leak_examples"]:
            self.say("      leaked: " + line)

        self.say("7. The household's web UI")
        self.start_web()
        self.web_checks()

        self.say("8. `vpnspot status` on the router")
        self.say("   " + house.vpnspot("status", "--run-dir", self.run_dir).stdout.strip()
                 .replace("\n", "\n   "))

        failed = [text for ok, text in self.claims if not ok]
        self.say()
        if failed:
            self.say("RESULT: %d of %d claims FAILED" % (len(failed), len(self.claims)))
            self.say("agent log (last lines):\n" + house.agent_log()[-2000:])
            return 1
        self.say("RESULT: all %d claims held: the router enrolled with the VPN Spot service, the "
                 "household's traffic, DNS and IPv6 went only through the tunnel, the kill switch "
                 "held while the agent was down, and the service learnt nothing but the "
                 "whitelist." % len(self.claims))
        self.say()
        self.say("Household web UI: %s" % self.url)
        self.say("   Setup code: %s (asked once, with the new admin password: the proof that "
                 "this is your router; on a router, `vpnspot setup-code` prints it)."
                 % setup_code_of(self.state))
        self.say("   The router's certificate is its own (self-signed): the browser asks once to "
                 "accept it; its SHA-256 fingerprint is %s (file %s)." % (fingerprint(self.cert),
                                                                            self.cert))
        self.say("   Type the setup code, choose an admin password; the status page then shows "
                 "the router protected, "
                 "with its server, handshake, kill switch and the public address seen through "
                 "the tunnel.")
        return 0

    def hold(self):
        """Keep the lab up until Ctrl-C so the household can open the UI."""
        self.say("The lab stays up; press Ctrl-C to remove it.")
        try:
            while True:
                for proc in (self.relay, self.agent):
                    if proc.poll() is not None:
                        self.say("a lab process ended (%s); removing the lab" % proc.args[-1])
                        return
                time.sleep(1)
        except KeyboardInterrupt:
            self.say("\nRemoving the lab.")


def web_processes(state):
    """`vpnspot web` processes serving this lab's router (the agent starts
    them on demand with --state STATE)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "vpnspot_router.cli" in argv and "web" in argv and any(
                a == "--state" and b == state for a, b in zip(argv, argv[1:])):
            found.append(pid)
    return found


# Run in the router's namespace: the real backend the web UI uses, over the
# same files and control socket as the `vpnspot web` the agent starts.
DIAGNOSE = """
import json, os, sys
from vpnspot_router import configstore
from vpnspot_router.web.realbackend import RealBackend
state, config, run = sys.argv[1:4]
paths = configstore.Paths(os.path.join(config, "vpnspot"), (os.path.join(state, "provisioning"),))
backend = RealBackend(paths=paths, state_dir=state, run_dir=run)
print(json.dumps({"checks": backend.diagnostics()["checks"], "servers": backend.servers()}))
"""


# Run in the router's namespace: the web UI's own app over the real backend
# (same files and control socket as `vpnspot web`), its password kept in
# memory only so the household still chooses its own; prints what the
# status page shows for the public address.
STATUS_PAGE = r"""
import html, io, json, os, re, sys
from vpnspot_router import configstore
from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.realbackend import RealBackend
state, config, run = sys.argv[1:4]
paths = configstore.Paths(os.path.join(config, "vpnspot"), (os.path.join(state, "provisioning"),))
backend = RealBackend(paths=paths, state_dir=state, run_dir=run)
web = make_app(backend, WebConfig(host="192.168.77.1", state_dir=state, memory_only=True))
cookie = []
def call(method, path, body=b""):
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
           "SERVER_NAME": "router", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
           "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
           "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False,
           "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "192.168.77.1",
           "CONTENT_TYPE": "application/x-www-form-urlencoded"}
    if cookie:
        env["HTTP_COOKIE"] = cookie[0]
    got = {}
    def start(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers
    text = b"".join(web(env, start)).decode()
    for k, v in got["headers"]:
        if k.lower() == "set-cookie":
            cookie[:] = [v.split(";")[0]]
    return got["status"], text
_, text = call("GET", "/setup/password")
token = re.search(r'name="csrf-token" content="([^"]+)"', text).group(1)
from urllib.parse import urlencode
# The first run needs the router's setup code (web/app.py); this check
# holds the router, so it reads the code as `vpnspot setup-code` does.
fields = {"csrf": token, "password": "lab only 1234567", "repeat": "lab only 1234567",
          "setup_code": web.bottle.config["vpnspot.setup_code"]()}
call("POST", "/setup/password", urlencode(fields).encode())
status, text = call("GET", "/status")
shown = re.search(r'<dd data-field="public_ip">(.*?)</dd>', text)
warnings = re.findall(r'<p class="warning">(.*?)</p>', text)
st = backend.status()
print(json.dumps({"http": status, "shown": html.unescape(shown.group(1)) if shown else None,
                  "warnings": [html.unescape(w) for w in warnings],
                  "public_ip": st["public_ip"], "public_ip_vpnspot": st["public_ip_vpnspot"]}))
"""


def status_page(lab, state, config, run_dir):
    """What the web UI's status page shows for the public address (STATUS_PAGE)."""
    proc = lab.run("router", sys.executable, "-c", STATUS_PAGE, state, config, run_dir,
                   check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {"error": "the status page did not render: %s" % proc.stderr.strip()[-300:]}


def setup_code_of(state):
    """The web UI's setup code, as `vpnspot setup-code --state STATE` prints it."""
    from vpnspot_router import setupcode
    try:
        return setupcode.shown(setupcode.current(state, setupcode.provisioning_paths_for(state))[0])
    except OSError as e:
        return "unreadable (%s)" % (e.strerror or e)


def fingerprint(cert_path):
    try:
        with open(cert_path) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
    except (OSError, ValueError):
        return "unknown"
    import hashlib
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def knock(url, timeout=20):
    """One TLS connection without verifying anything: what a browser's first
    visit does before its user accepts the certificate."""
    host, _, port = url.split("/")[2].rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=timeout) as raw:
        with ctx.wrap_socket(raw):
            pass


def fetch(url, cafile, host=None, timeout=10):
    """(status, headers, body) of one GET, trusting only `cafile`; no redirects."""
    ctx = ssl.create_default_context(cafile=cafile)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def main(wait=False):
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
        demo = HouseholdDemo(lab, wait=wait)
        rc = demo.run()
        if rc == 0 and wait:
            demo.hold()
        return rc
