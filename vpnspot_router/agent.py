"""The agent process: kill switch first, then the tunnel, then the routes.

Owns: `vpnspot agent` (foreground; logs to stderr), `vpnspot status` and
`vpnspot killswitch apply|remove|status`, and the agent's status file.

Lifecycle, in the order the household's safety needs:
  1. read and check the WireGuard config and the settings file; on any error
     print it (file, line, field) and exit 2 having changed nothing;
  2. load the nftables table (net/firewall.py) - from here on LAN traffic
     can leave only through the tunnel, even if everything below fails;
  3. open the userspace tunnel (tunnel/dataplane.py), mark its UDP socket
     with routing.FWMARK so its packets always take the WAN;
  4. install policy routing (net/routing.py) and run the data plane.
Signals: SIGTERM/SIGINT stop the tunnel and exit 0, KEEPING the firewall
table and the routing rules (a stopped agent fails closed); SIGHUP re-reads
both files - if they are bad the error is logged and the running tunnel is
left alone, otherwise the table is replaced atomically (never removed) and
the tunnel is reopened with the new config; SIGUSR1 writes status now.
A kill -9 leaves the same fail-closed state: the TUN device disappears with
the process, the table and the unreachable routes stay.

Status file RUN_DIR/agent.json (plan, pid, reloads, last events) sits next
to the data plane's RUN_DIR/tunnel.json; neither holds a LAN or destination
address. `vpnspot status` combines both with the live nftables state.
"""

import json
import logging
import os
import signal
import socket
import sys
import time

from vpnspot_router.net import firewall as fw_mod
from vpnspot_router.net import routing as rt_mod
from vpnspot_router.net import settings as st_mod

log = logging.getLogger("vpnspot.agent")

DEFAULT_RUN_DIR = "/run/vpnspot"
HANDSHAKE_FRESH = 180.0     # REJECT_AFTER_TIME: older than this, no session can be in use
EVENT_LIMIT = 20

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class AgentError(Exception):
    """A problem the household or technician must fix; the message says which."""


def read_text(path, what):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        raise AgentError("%s: cannot read %s: %s" % (path, what, e.strerror))


def load_files(wg_path, settings_path):
    """(settings dict, WgConfig) or AgentError naming file, line and field."""
    from vpnspot_router.core.wgconf import ConfigError, parse
    try:
        settings = st_mod.parse_settings(read_text(settings_path, "the settings file"), settings_path)
    except st_mod.SettingsError as e:
        raise AgentError(str(e))
    conf = None
    if wg_path is not None:
        try:
            conf = parse(read_text(wg_path, "the WireGuard config"), wg_path)
        except ConfigError as e:
            raise AgentError(str(e))
        if not conf.peers:
            raise AgentError("%s: the config has no [Peer]; the agent needs the VPN Spot gateway" % wg_path)
    return settings, conf


def read_wan_mtu(ifname):
    try:
        with open("/sys/class/net/%s/mtu" % ifname) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def make_plan(settings, conf):
    return st_mod.plan_from_config(settings, conf, read_wan_mtu(settings["wan"]))


def _write_json(path, data):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


class Agent:
    def __init__(self, wg_path, settings_path, run_dir=DEFAULT_RUN_DIR, firewall=None, routing=None,
                 provider=None, timing=None):
        self.wg_path = wg_path
        self.settings_path = settings_path
        self.run_dir = run_dir
        self.firewall = firewall or fw_mod.Firewall()
        self.routing = routing or rt_mod.Routing()
        self.provider = provider
        self.timing = timing or {}
        self.status_path = os.path.join(run_dir, "agent.json")
        self.tunnel_status_path = os.path.join(run_dir, "tunnel.json")
        self.plane = None
        self.plan = None
        self.conf = None
        self.pending = None
        self.stopping = False
        self.reloads = 0
        self.events = []
        self.state = "starting"
        self.started_at = time.time()

    # ------------------------------------------------------------- events
    def event(self, text):
        log.info("%s", text)
        self.events.append({"time": time.time(), "event": text})
        del self.events[:-EVENT_LIMIT]
        self.write_status()

    def write_status(self):
        try:
            _write_json(self.status_path, {
                "pid": os.getpid(), "state": self.state, "started_at": self.started_at,
                "time": time.time(), "plan": self.plan.as_dict() if self.plan else None,
                "wg_config": self.wg_path, "settings": self.settings_path,
                "tunnel_status": self.tunnel_status_path, "reloads": self.reloads,
                "events": self.events})
        except OSError as e:
            log.error("cannot write status file %s: %s", self.status_path, e)

    # --------------------------------------------------------------- apply
    def apply_network(self, settings, conf):
        """Firewall first (atomic), then routing; returns the plan."""
        plan = make_plan(settings, conf)
        self.firewall.apply(fw_mod.build_ruleset(plan))
        return plan

    def open_plane(self):
        from vpnspot_router.tunnel import dataplane
        self.conf.interface.mtu = self.plan.mtu
        plane = dataplane.open_tunnel(self.conf, self.plan.tunnel, self.provider,
                                      status_path=self.tunnel_status_path, status_interval=5.0,
                                      timing=self.timing)
        sock = getattr(plane.bind, "sock", None)
        if sock is not None:
            # The tunnel's own UDP is marked so rule 9990 keeps it on the WAN
            # even if a later routing change would send router traffic into
            # the tunnel: no encapsulation loop.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, rt_mod.FWMARK)
        self.routing.apply(rt_mod.desired_rules(self.plan), rt_mod.desired_routes(self.plan, True))
        return plane

    # ------------------------------------------------------------- signals
    def _on_hup(self, signum, frame):
        try:
            settings, conf = load_files(self.wg_path, self.settings_path)
        except AgentError as e:
            log.error("reload rejected, tunnel left as it was: %s", e)
            self.events.append({"time": time.time(), "event": "reload rejected: %s" % e})
            return
        self.pending = (settings, conf)
        if self.plane is not None:
            self.plane.stop()

    def _on_term(self, signum, frame):
        self.stopping = True
        if self.plane is not None:
            self.plane.stop()

    # ---------------------------------------------------------------- run
    def run(self):
        settings, self.conf = load_files(self.wg_path, self.settings_path)
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        self.plan = self.apply_network(settings, self.conf)
        self.event("kill switch %s, DNS %s, IPv6 %s, tunnel MTU %d"
                   % ("on" if self.plan.kill_switch else "OFF", self.plan.dns_mode,
                      self.plan.ipv6_mode, self.plan.mtu))
        while not self.stopping:
            self.plane = self.open_plane()
            if self.stopping:
                # SIGTERM arrived while the tunnel was opening: plane.run()
                # would reset its running flag and miss it.
                self.plane.close()
                break
            self.state = "running"
            peer = self.conf.peers[0]
            self.event("tunnel %s up, gateway %s:%d" % (self.plan.tunnel, peer.endpoint[0], peer.endpoint[1])
                       if peer.endpoint else "tunnel %s up" % self.plan.tunnel)
            # dataplane.run() installs its own TERM/INT handlers and restores
            # ours afterwards; both end in plane.stop(). A reload requested
            # while the tunnel was opening is taken up at once.
            if self.pending is None:
                self.plane.run()
            else:
                self.plane.close()
            self.plane = None
            if self.pending is None:
                break
            settings, conf = self.pending
            self.pending = None
            try:
                self.plan = self.apply_network(settings, conf)
                self.conf = conf
            except fw_mod.FirewallError as e:
                log.error("reload: %s; keeping the previous settings", e)
            self.reloads += 1
            self.event("reloaded: kill switch %s, DNS %s, IPv6 %s, tunnel MTU %d"
                       % ("on" if self.plan.kill_switch else "OFF", self.plan.dns_mode,
                          self.plan.ipv6_mode, self.plan.mtu))
        self.routing.apply(rt_mod.desired_rules(self.plan), rt_mod.desired_routes(self.plan, False))
        self.state = "stopped"
        self.event("agent stopped; kill switch %s" % ("kept" if self.plan.kill_switch else "was off"))
        return EXIT_OK


# ------------------------------------------------------------------ commands

def cmd_agent(args):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="vpnspot[%(process)d]: %(levelname)s %(message)s")
    from vpnspot_router.tunnel import dataplane, tun
    try:
        timing = dataplane.parse_timing(os.environ.get("VPNSPOT_WG_TIMING", ""))
    except ValueError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    try:
        load_files(args.wg_config, args.settings)
    except AgentError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    from vpnspot_router.crypto import default_provider
    agent = Agent(args.wg_config, args.settings, run_dir=args.run_dir, provider=default_provider(),
                  timing=timing)
    try:
        return agent.run()
    except AgentError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except (fw_mod.FirewallError, rt_mod.RoutingError, tun.TunError, OSError) as e:
        # The firewall table (if it loaded) stays: failing closed.
        log.error("agent failed: %s", e)
        agent.state = "failed"
        agent.event("failed: %s" % e)
        return EXIT_FAILURE


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gather_status(run_dir, firewall=None, now=None):
    now = time.time() if now is None else now
    firewall = firewall or fw_mod.Firewall()
    out = {"state": "not running", "kill_switch": None, "dns": None, "ipv6": None, "mtu": None,
           "server": None, "handshake_age": None, "rx_bytes": None, "tx_bytes": None}
    try:
        with open(os.path.join(run_dir, "agent.json")) as f:
            agent = json.load(f)
    except (OSError, ValueError):
        agent = None
    try:
        out["firewall"] = firewall.status()
    except fw_mod.FirewallError as e:
        out["firewall"] = {"error": str(e)}
    out["kill_switch"] = "on" if out["firewall"].get("kill_switch") else "off"
    if agent is None:
        return out
    alive = _pid_alive(agent["pid"]) and agent["state"] == "running"
    plan = agent.get("plan") or {}
    out.update({"dns": plan.get("dns"), "ipv6": plan.get("ipv6"), "mtu": plan.get("mtu"),
                "pid": agent["pid"], "reloads": agent.get("reloads", 0),
                "events": [e["event"] for e in agent.get("events", [])[-5:]]})
    try:
        with open(agent["tunnel_status"]) as f:
            tunnel = json.load(f)
    except (OSError, ValueError, KeyError):
        tunnel = None
    if tunnel and tunnel.get("peers"):
        peer = tunnel["peers"][0]
        out["server"] = peer.get("endpoint_name") or peer.get("endpoint")
        last = peer.get("last_handshake")
        out["handshake_age"] = None if last is None else round(now - last, 1)
        out["rx_bytes"] = peer.get("rx_bytes")
        out["tx_bytes"] = peer.get("tx_bytes")
    if not alive:
        out["state"] = "stopped" if agent["state"] == "stopped" else "not running"
    elif out["handshake_age"] is not None and out["handshake_age"] < HANDSHAKE_FRESH:
        out["state"] = "connected"
    else:
        out["state"] = "connecting"
    return out


def cmd_status(args):
    status = gather_status(args.run_dir)
    if args.json:
        print(json.dumps(status, indent=1, sort_keys=True))
        return EXIT_OK
    age = status["handshake_age"]
    lines = [
        "state:        %s" % status["state"],
        "server:       %s" % (status["server"] or "-"),
        "handshake:    %s" % ("never" if age is None else "%.0f s ago" % age),
        "traffic:      %s" % ("-" if status["rx_bytes"] is None else
                              "rx %d bytes, tx %d bytes" % (status["rx_bytes"], status["tx_bytes"])),
        "kill switch:  %s" % ("ON (LAN traffic leaves only through the tunnel)"
                              if status["kill_switch"] == "on" else
                              "OFF (LAN traffic may leave without the VPN)"),
        "DNS:          %s" % (status["dns"] or "-"),
        "IPv6:         %s" % (status["ipv6"] or "-"),
        "MTU:          %s" % (status["mtu"] or "-"),
    ]
    print("\n".join(lines))
    return EXIT_OK


def cmd_killswitch(args):
    firewall = fw_mod.Firewall()
    if args.action == "status":
        state = firewall.status()
        print("kill switch %s (table inet %s %s)" % ("ON" if state["kill_switch"] else "OFF",
                                                     fw_mod.TABLE, "loaded" if state["loaded"] else "absent"))
        return EXIT_OK if state["kill_switch"] else 3
    if args.action == "remove":
        firewall.remove()
        rt_mod.Routing().clear()
        print("kill switch removed: LAN traffic may now leave without the VPN")
        return EXIT_OK
    if not args.settings:
        print("error: killswitch apply needs --settings FILE", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings, conf = load_files(args.wg_config, args.settings)
        plan = make_plan(settings, conf)
        firewall.apply(fw_mod.build_ruleset(plan))
        rt_mod.Routing().apply(rt_mod.desired_rules(plan), rt_mod.desired_routes(plan, False))
    except AgentError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except (fw_mod.FirewallError, rt_mod.RoutingError) as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    print("kill switch %s: table inet %s loaded (DNS %s, IPv6 %s)"
          % ("ON" if plan.kill_switch else "OFF", fw_mod.TABLE, plan.dns_mode, plan.ipv6_mode))
    return EXIT_OK


def register(sub):
    agent = sub.add_parser("agent", help="run the router agent in the foreground")
    agent.add_argument("--wg-config", required=True, help="WireGuard config of the VPN Spot gateway")
    agent.add_argument("--settings", required=True, help="settings file (kill_switch, dns, ipv6, mtu, ...)")
    agent.add_argument("--run-dir", default=DEFAULT_RUN_DIR, help="where status files go")
    agent.set_defaults(func=cmd_agent)

    status = sub.add_parser("status", help="show the agent's and the tunnel's state")
    status.add_argument("--json", action="store_true")
    status.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    status.set_defaults(func=cmd_status)

    ks = sub.add_parser("killswitch", help="load, remove or show the kill switch (for boot)")
    ks.add_argument("action", choices=["apply", "remove", "status"])
    ks.add_argument("--settings", help="settings file (apply)")
    ks.add_argument("--wg-config", help="WireGuard config, to know the tunnel's resolver (apply)")
    ks.set_defaults(func=cmd_killswitch)
