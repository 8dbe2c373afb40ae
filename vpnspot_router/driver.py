"""The supervisor's driver: `vpnspot agent` without --wg-config.

Owns the IO around core/supervisor.py: it performs each action the state
machine returns and feeds the results back as events. Keep in sync with
core/supervisor.py (action kinds), agent.py (CLI, status) and the README
section "The supervisor".

Main loop (one thread; a userspace data plane runs in its own thread, a
kernel one in the kernel):

  control socket requests -> supervisor.connect/disconnect, kill switch on/off,
                             debug session, "diagnose" (what the web UI's
                             checks need: latencies, tunnel resolver, MTU),
                             "server_source" (own server / VPN Spot servers),
                             "factory_reset" (stop, for the console's reset),
                             "guard_sync" (the boot guard follows the settings
                             files, net/guard.py; "kill_switch" syncs it too)
  SIGHUP (procd's reload) -> a flag; the loop then reads the settings again
                             and applies them (reload_settings, reload_decision):
                             table, routes and guard at once, a new tunnel only
                             for region/server/mtu/server_source
  every MONITOR_INTERVAL: backend.status() -> supervisor.monitor(now, ...)
  liveness probe replies (net/tunnelprobe.py) -> supervisor.probe_reply(now, seq)
                          the loop also wakes at the supervisor's next probe
                          deadline, so a dead server is judged on time
                          counters -> core/accounting.py -> Checkpoint / ReportDue
                          -> core/telemetry.py ReportQueue -> client.report()
  supervisor.tick(now) -> API retries, background refresh
  every status write    -> exitcheck.py: once a tunnel to a VPN Spot server is
                           connected (and every few minutes), the connection
                           check out of the tunnel interface, in its own thread;
                           its answer is agent.json's "exit_address"
  actions -> ApplyKillSwitch   net/ firewall table + unreachable routes
             FetchServers      client.servers()
             RegisterKey       client.register_key(public key); the private
                               key was made here and never leaves STATE/wg-key
             ProbeServers      probe_handshakes(): one WireGuard handshake per
                               candidate, timed (see below)
             ConfigureTunnel   stop the old data plane, firewall for the new
                               server, start the tunnel backend, routes
             StopTunnel        stop the data plane; the kill switch stays
             ProbeTunnel       an ICMP echo to the server's tunnel-side
                               address out of the tunnel interface
                               (net/tunnelprobe.py); probe_sent, or
                               probe_failed when it cannot be sent

Memory. This process runs for the router's whole life, and whatever it
imports stays: every provider call (client.*, the connection check), the
kernel plane's changes (tunnel/wgnetlink.py) and, with kernel WireGuard,
the public key and the handshake probes (crypto.LazyProvider) run in
short-lived forked children (forked.py), so ssl, http.client, the API
schema, pyroute2 and (kernel mode) cryptography never load here. The control
request "memory" reports RSS and the modules loaded (memory_report).

Data plane. Both kinds sit behind tunnel/backend.py's TunnelBackend
(start, reconfigure, status, stop). Which one runs is chosen once, at start,
by backend.select() from the offload decision (configuration's `crypto`
override included) and a probe of the wireguard module: kernel WireGuard
when it is there, the userspace one otherwise. If kernel WireGuard then
fails to create its interface, the userspace plane carries the tunnel and
the status says why. agent.json's "data_plane" is the backend in use.

The household's own server (option server_source 'own'). The tunnel goes
to the server in STATE/wg-household.conf (imported in the web UI, checked
by core/wgconf.py): its private key, addresses, DNS, MTU and peers (with
endpoint, allowed IPs, preshared key and keepalive) are used as written;
the kill switch, policy routing, DNS redirection and IPv6 rules are built
from it exactly as for a VPN Spot server, on the same data plane. Nothing
goes to the provider meanwhile: no server list, key registration, probes,
reports (the traffic is not counted: it is not VPN Spot's to bill) or
refresh; queued reports of earlier VPN Spot periods wait on flash. A
missing or unusable file leaves the supervisor in needs_attention with the
reason in agent.json and the log, and no tunnel: the kill switch holds.
The control request "server_source" (from the web UI, after it saved the
option) switches either way at once; "connect" re-reads the file.

Latency probe. A WireGuard handshake to each candidate endpoint, timed from
sending the initiation to a valid response: it proves the gateway runs and
knows our key, and costs one round trip. ICMP would only show the host is up.
The initiation is sent on its own UDP socket (marked FWMARK so it takes the
WAN); nothing after the response is sent, so no data reaches the gateway.

Files: STATE/device.json (from `vpnspot enroll`), STATE/wg-key (0600),
STATE/wg-household.conf (the household's own server, 0600, read only),
STATE/last-good.json (server and tunnel addresses of the last server that
completed a handshake), STATE/reports.json (the report queue),
STATE/accounting.json (bandwidth checkpoint), all through store.py. RUN
(tmpfs): agent.json (status; "exit_address" is the address the VPN Spot
service saw through the tunnel), tunnel.json (data plane), control.sock
(0600), debug.token while a debug session is open. None holds a LAN or
destination address; only the debug session's RAM buffer may, while open.
"""

import base64
import json
import logging
import os
import queue
import select
import socket
import subprocess
import threading
import time

from vpnspot_router.core import accounting as acc_mod
from vpnspot_router.core import debugsession as dbg_mod
from vpnspot_router.core import serverlist
from vpnspot_router.core import supervisor as sv
from vpnspot_router.core import telemetry as tel
from vpnspot_router.net import firewall as fw_mod
from vpnspot_router.net import routing as rt_mod
from vpnspot_router.net import settings as st_mod
from vpnspot_router.net import tunnelprobe as tp_mod

log = logging.getLogger("vpnspot.agent")

MONITOR_INTERVAL = 0.2
PROBE_TIMEOUT = 1.0
CONTROL_SOCKET = "control.sock"
OWN_CONFIG = "wg-household.conf"
DEBUG_TOKEN = "debug.token"
NEIGHBOUR_EVERY = 10.0


class DriverError(Exception):
    """A problem the household or technician must fix; the message says which."""


# ----------------------------------------------------------------- files

def _store(path, keep_last_good=True):
    from vpnspot_router.store import FileStore
    return FileStore(path, keep_last_good=keep_last_good)


def _read(path, validate):
    result = _store(path).read(validate)
    for problem in result.problems:
        log.warning("%s", problem)
    return result.data


def _write_private(path, data):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    old = os.umask(0o077)
    try:
        _store(path).write(data)
    finally:
        os.umask(old)


def load_or_make_key(state_dir, provider):
    """The router's WireGuard private key: made here on first use, kept 0600."""
    from vpnspot_router.core.cryptoapi import generate_private_key
    path = os.path.join(state_dir, "wg-key")

    def validate(data):
        if len(base64.b64decode(data.strip(), validate=True)) != 32:
            raise ValueError("not a 32-byte key")
    data = _read(path, validate)
    if data is None:
        key = generate_private_key(provider)
        _write_private(path, base64.b64encode(key) + b"\n")
        log.info("made this router's WireGuard key (%s)", path)
        return key
    return base64.b64decode(data.strip())


def _unloaded(provider):
    """True for a crypto.LazyProvider that has not loaded its library yet:
    then X25519 and handshakes run in a forked child (forked.py), so a
    kernel-mode agent never imports cryptography itself."""
    return getattr(provider, "loaded", True) is False


def public_key(provider, private_key):
    if _unloaded(provider):
        from vpnspot_router import forked
        return forked.call(_public_key_loaded, provider, private_key)
    return provider.x25519_public(private_key)


def _public_key_loaded(provider, private_key):
    return provider.load().x25519_public(private_key)


# ----------------------------------------------------------------- probes

def _endpoint(text, networks=()):
    """(family, (address, port)) of a server's endpoint. A DNS name must
    resolve to an address core/serverlist.py accepts for a VPN Spot server
    (not loopback, private, the router's own networks, ...): else ValueError."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    info = socket.getaddrinfo(host, int(port), socket.AF_UNSPEC, socket.SOCK_DGRAM)
    family, _, _, _, addr = info[0]
    from vpnspot_router.core import ipaddr
    why = serverlist.check_address(*(ipaddr.parse_address(addr[0].split("%")[0])
                                     + (networks, serverlist.ENDPOINT_KINDS)))
    if why is not None:
        raise ValueError("endpoint %s resolves to %s" % (text, why))
    return family, addr[:2]


def household_dns(servers, lan_devices):
    """(usable, problems): the household's DNS servers (dns_mode custom)
    checked against the router's own networks as well (core/config.py
    checked they are unicast): a query DNAT'ed to the router itself would
    be answered by its own resolver, which asks upstream over the WAN. A
    refused server is left out (its family's LAN DNS is then dropped, never
    sent elsewhere); each problem names the option."""
    networks = serverlist.router_networks(router_interfaces(), lan_devices)
    usable, problems = [], []
    for address in servers:
        why = serverlist.dns_problem(address, networks)
        if why is None:
            usable.append(address)
        else:
            problems.append("dns_servers: %s; not used: with dns_mode custom the LAN's names go "
                            "through the tunnel to these servers, so give servers on the internet "
                            "side" % why)
    return usable, problems


def router_interfaces():
    """[(ifname, "address/length")] of every address the router holds
    (`ip -o addr show`); [] when `ip` cannot tell."""
    try:
        out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[2] in ("inet", "inet6"):
            found.append((f[1], f[3]))
    return found


def _dummy_packet(src, dst):
    """An IPv4 UDP packet to the discard port: only staged to make the core
    start a handshake; it is never sent (see the module docstring)."""
    import struct
    s = bytes(int(x) for x in src.split("/")[0].split("."))
    d = bytes(int(x) for x in dst.split("."))
    udp = struct.pack("!HHHH", 9, 9, 8, 0)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, s, d)
    return hdr + udp


def probe_handshakes(servers, private_key, provider, tunnel_ipv4, timeout=PROBE_TIMEOUT,
                     clock=time.monotonic, networks=()):
    """{server id: [ms or None]}: one timed WireGuard handshake per server,
    all in parallel, each given `timeout` seconds. networks: the router's
    own prefixes, which no endpoint name may resolve into."""
    if _unloaded(provider):
        from vpnspot_router import forked
        return forked.call(_probe_loaded, servers, private_key, provider, tunnel_ipv4, timeout,
                           clock, networks)
    from vpnspot_router.core.wireguard import actions as A
    from vpnspot_router.core.wireguard.device import Device
    pending = {}
    results = {}
    for s in servers:
        results[s["id"]] = [None]
        try:
            family, addr = _endpoint(s["endpoint"], networks)
            dev = Device(provider, private_key)
            dev.wall_offset = time.time() - time.monotonic()
            peer = dev.add_peer(base64.b64decode(s["public_key"]), endpoint=addr,
                                allowed_ips=["0.0.0.0/0"])
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, rt_mod.FWMARK)
            sock.setblocking(False)
            sent = clock()
            for a in dev.send_packet(_dummy_packet(tunnel_ipv4, "10.77.0.1"), sent):
                if a.kind == A.SEND:
                    sock.sendto(a.data, a.addr)
            pending[sock] = (s["id"], dev, peer, addr, sent)
        except (OSError, ValueError) as e:
            log.info("probe %s: %s", s["id"], e)
    deadline = clock() + timeout
    while pending and clock() < deadline:
        ready, _, _ = select.select(list(pending), [], [], max(0.0, deadline - clock()))
        for sock in ready:
            sid, dev, peer, addr, sent = pending[sock]
            try:
                data, src = sock.recvfrom(2048)
            except OSError:
                continue            # e.g. ICMP port unreachable: keep waiting until timeout
            now = clock()
            dev.receive_datagram(data, src[:2], now)
            if peer.last_handshake is not None:
                results[sid] = [round((now - sent) * 1000.0, 3)]
                del pending[sock]
                sock.close()
    for sock in pending:
        sock.close()
    return results


def _probe_loaded(servers, private_key, provider, *rest):
    # In the child: the provider loads its library here, not in the agent.
    return probe_handshakes(servers, private_key, provider.load(), *rest)


# ----------------------------------------------------------------- memory

def memory_report():
    """This process's memory as the kernel counts it (VmRSS now, VmHWM the
    peak) and the modules it has imported: the control request "memory",
    for technicians and for the tests that keep heavy imports (ssl,
    pyroute2, bottle, ...) out of the always-on agent."""
    import sys
    out = {"pid": os.getpid(), "rss_kb": None, "hwm_kb": None}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line[2:5].lower() + "_kb"] = int(line.split()[1])
    except (OSError, ValueError):
        pass
    out["modules"] = sorted(sys.modules)
    return out


# ----------------------------------------------------------------- control socket

def control_path(run_dir):
    return os.path.join(run_dir, CONTROL_SOCKET)


def control_call(run_dir, request, timeout=30.0):
    """One request to the running agent; raises DriverError when none runs."""
    path = control_path(run_dir)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError:
        s.close()
        raise DriverError("not available: the agent supervisor is not running")
    try:
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    try:
        return json.loads(data)
    except ValueError:
        raise DriverError("the agent gave no answer")


class ControlServer:
    """Unix socket, root only (0600 in a 0700 directory); one JSON line per
    request and answer. Requests go to the main loop through `requests`."""

    def __init__(self, run_dir):
        self.path = control_path(run_dir)
        self.requests = queue.Queue()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self.sock.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True, name="vpnspot-control")
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.settimeout(60)
            data = b""
            while not data.endswith(b"\n") and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            try:
                request = json.loads(data)
                if not isinstance(request, dict):
                    raise ValueError
            except ValueError:
                answer = {"ok": False, "error": "a request is one JSON object on one line"}
            else:
                done = threading.Event()
                slot = {}
                self.requests.put((request, slot, done))
                answer = slot["answer"] if done.wait(55) else {"ok": False, "error": "the agent is busy"}
            conn.sendall(json.dumps(answer).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        # shutdown wakes the thread blocked in accept(); a bare close would
        # leave it waiting on the file descriptor number, which the next
        # socket opened in this process may reuse (its requests would then
        # land in this server's queue, which no one reads).
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(2)
        try:
            os.unlink(self.path)
        except OSError:
            pass


# ----------------------------------------------------------------- the driver

def load_kill_switch(net_settings, firewall, routing, wan_mtu=None):
    """The agent's table and routes before any tunnel: the kill switch, LAN
    DNS dropped (no tunnel resolver yet), LAN IPv6 blocked. The supervisor's
    first action (ApplyKillSwitch), and what `vpnspot agent` loads before
    any slow step at start (the crypto measurement, provider calls)."""
    plan = st_mod.plan_from_config(net_settings, None, wan_mtu)
    firewall.apply(fw_mod.build_ruleset(plan))
    routing.apply(rt_mod.desired_rules(plan), rt_mod.desired_routes(plan, False))
    return plan


# What a reload (SIGHUP: `uci commit vpnspot`, the init script's reload, the
# web UI and console through it) does with each setting of core/config.py.
# Live: the table, routes and boot guard are planned again, the tunnel is
# not touched (net/settings.py: kill switch, DNS redirection and IPv6 are
# firewall and routing; the LAN devices too). Reconnect: the tunnel itself
# changes (the interface's MTU; which server), so the supervisor connects
# again. server_source switches through its own request. The others cannot
# change in a running agent, or are not the agent's: logged, with why.
RELOAD_LIVE_NET = ("kill_switch", "dns", "dns_servers", "ipv6", "lan")
RELOAD_LIVE = ("kill_switch", "dns_mode", "dns_servers", "ipv6_mode", "lan_networks",
               "report_period_minutes", "checkpoint_minutes")
RELOAD_RECONNECT = ("region", "server", "mtu")
RELOAD_RESTART = {
    "crypto": "the data plane is chosen when the agent starts; "
              "/etc/init.d/vpnspot restart applies it (the tunnel drops for a moment)",
    "web_port": "the web UI's address is on the command line the init script "
                "gives procd, which restarts the agent (or the web process) with it",
    "web_on_demand": "which web process runs is on the command line the init "
                     "script gives procd, which restarts the agent with it",
}
RELOAD_ELSEWHERE = {
    "enabled": "the init script's reload starts or stops the agent",
    "account_email": "used when the router enrolls, not by the running agent",
    "api_url": "used when the router enrolls (vpnspot enroll); the running agent "
               "keeps its enrollment's address",
    "ca_file": "used when the router enrolls (vpnspot enroll); the running agent "
               "keeps its enrollment's",
    "partner_id": "used when the router enrolls, not by the running agent",
    "debug_ttl_default": "read by the web UI and the console when they open a session",
    "console_enabled": "the console is its own service (the init script starts or stops it)",
    "console_tty": "read by the console service when it starts",
    "console_baud": "read by the console service when it starts",
}


def reload_decision(old, new, old_net, new_net):
    """What a reload must do, from the settings in force and the new ones
    (core/config.Settings) and their net/settings.py dicts (agent.py's
    service_net_settings). A dict of lists of keys: "changed" (Settings
    keys), "replan" (net keys: table, routes and guard again, tunnel
    untouched), "reconnect" (Settings keys that need a new tunnel),
    "live" (applied without one: the replan's settings, the accounting
    periods), "restart" (RELOAD_RESTART), "elsewhere" (RELOAD_ELSEWHERE);
    and "source": the new server_source when it changed, else None."""
    changed = [k for k in sorted(new.as_dict()) if getattr(old, k, None) != getattr(new, k)]
    replan = [k for k in RELOAD_LIVE_NET if old_net.get(k) != new_net.get(k)]
    reconnect = [k for k in RELOAD_RECONNECT if k in changed]
    if "mtu" not in reconnect and old_net.get("mtu") != new_net.get("mtu"):
        reconnect.append("mtu")
    known = set(RELOAD_LIVE) | set(RELOAD_RECONNECT) | set(RELOAD_ELSEWHERE) | {"server_source"}
    return {"changed": changed, "replan": replan, "reconnect": reconnect,
            "live": [k for k in changed if k in RELOAD_LIVE],
            # A setting nobody classified is not claimed applied: a restart.
            "restart": [k for k in changed if k not in known],
            "elsewhere": [k for k in changed if k in RELOAD_ELSEWHERE],
            "source": new.server_source if "server_source" in changed else None}


class ServiceAgent:
    """Enrollment, servers, failover, telemetry and debug sessions around
    one tunnel backend. `net_settings` is net/settings.py's dict;
    `data_plane` a backend.Choice (chosen from `crypto` when not given);
    `backend_factory(name) -> TunnelBackend` replaces the real backends."""

    def __init__(self, settings, net_settings, state_dir, run_dir, provider, timing=None,
                 supervisor_timing=None, report_timing=None, firewall=None, routing=None,
                 crypto=None, identity=None, data_plane=None, backend_factory=None,
                 module_probe=None, prober_factory=None, exit_timing=None, guard=None):
        self.settings = settings
        # net/guard.BootGuard where the package installed the guard, else
        # None: kept in step on the "kill_switch" and "guard_sync" requests.
        self.guard = guard
        self.net_settings = net_settings
        self.state_dir = state_dir
        self.run_dir = run_dir
        self.provider = provider
        self.timing = timing or {}
        self.firewall = firewall or fw_mod.Firewall()
        self.routing = routing or rt_mod.Routing()
        self.crypto = crypto
        self.identity = identity
        st = sv.Timing()
        for k, v in (supervisor_timing or {}).items():
            st.set(k, v)
        self.sup = sv.Supervisor(region=settings.region, pinned=settings.server, timing=st)
        self.report_timing = report_timing or {}
        self.status_path = os.path.join(run_dir, "agent.json")
        self.tunnel_status_path = os.path.join(run_dir, "tunnel.json")
        from vpnspot_router.tunnel import backend as be_mod
        if data_plane is None:
            data_plane = be_mod.select(crypto, module_probe)
        self.data_plane = data_plane
        self.backend_factory = backend_factory
        # prober_factory(device) -> IcmpProber-like; replaced in tests.
        self.prober_factory = prober_factory or tp_mod.IcmpProber
        self.prober = None          # one per tunnel: replies to an old one are not ours
        self.prober_problem = None
        self.plane = None           # the running TunnelBackend
        self.plane_own = False      # it goes to the household's own server: not counted
        self.plane_generation = 0
        self.own_path = os.path.join(state_dir, OWN_CONFIG)
        self.own_text = None        # the own server's file as last read, for reconnects
        self.load_device = lambda: self.device      # run() puts the real reader here
        self.plan = None
        self.conf = None
        self.client = None
        self.device = None
        self.private_key = None
        self.stopping = False
        # SIGHUP only sets the flag; the loop reloads (reload_settings).
        self.reload_requested = False
        self.reloads = 0
        self.last_reload = None
        self.started_at = time.time()
        self.debug = dbg_mod.DebugSession(os.urandom)
        self.next_neighbours = 0.0
        self.reports_sent = 0
        self.reports_failed = 0
        self._history_seen = 0
        self.acc = acc_mod.Accounting(settings.checkpoint_minutes, settings.report_period_minutes)
        if "period" in self.report_timing:
            self.acc.period = self.report_timing["period"]
        self.queue = tel.ReportQueue(os.urandom,
                                     first_jitter=int(self.report_timing.get("first_jitter", 300)),
                                     base_delay=int(self.report_timing.get("base_delay", 60)))
        from vpnspot_router import exitcheck
        # The public address seen through the tunnel (exitcheck.py): asked
        # in its own thread, so a slow answer never holds up this loop.
        self.exit_check = exitcheck.ExitCheck(self._connection_check, **(exit_timing or {}))

    # -- status and log --------------------------------------------------

    def write_status(self):
        now = time.monotonic()
        # Before anything is written: the entry must describe the tunnel
        # that is current now (a new one forgets the old one's answer).
        self.exit_check.update(now, self._exit_target())
        data = {"pid": os.getpid(), "state": "running" if not self.stopping else "stopped",
                "mode": "service", "started_at": self.started_at, "time": time.time(),
                "server_source": self.sup.source,
                "plan": self.plan.as_dict() if self.plan else None,
                "tunnel_status": self.tunnel_status_path, "reloads": self.reloads,
                "last_reload": self.last_reload,
                "supervisor": self.sup.snapshot(now),
                "enrolled": self.device is not None,
                "crypto": self.crypto,
                "data_plane": dict(self.data_plane.as_dict(), running=self.plane is not None),
                "telemetry": {"queued": len(self.queue.items), "sent": self.reports_sent,
                              "failed_attempts": self.reports_failed,
                              "dropped": self.queue.dropped},
                "debug_session": self.debug.summary(now),
                "exit_address": self.exit_check.entry(),
                "events": [{"time": time.time() - h["ago"],
                            "event": "%s -> %s (%s%s)" % (h["from"], h["to"], h["event"],
                                                         ": " + h["detail"] if h["detail"] else "")}
                           for h in self.sup.snapshot(now)["history"]]}
        try:
            from vpnspot_router.store import write_status_json
            write_status_json(self.status_path, data)
        except OSError as e:
            log.error("cannot write status file %s: %s", self.status_path, e)

    def _log_transitions(self, now):
        new = min(self.sup.transitions - self._history_seen, len(self.sup.history))
        for h in self.sup.history[len(self.sup.history) - new:]:
            text = "%s -> %s (%s)%s" % (h[1], h[3], h[2], ": " + h[4] if h[4] else "")
            log.info("%s", text)
            self.debug.record(now, "transition", text)
        self._history_seen = self.sup.transitions

    # -- actions -----------------------------------------------------------

    def dispatch(self, actions):
        for a in actions:
            now = time.monotonic()
            self._log_transitions(now)
            if a.kind == sv.APPLY_KILL_SWITCH:
                self.plan = load_kill_switch(self.net_settings, self.firewall, self.routing,
                                             self._wan_mtu())
            elif a.kind == sv.FETCH_SERVERS:
                self.sup.networks = self._router_networks()
                self.dispatch(self._api(self._fetch_servers))
            elif a.kind == sv.REGISTER_KEY:
                pub = base64.b64encode(public_key(self.provider, self.private_key)).decode()
                self.dispatch(self._api(lambda: self._registered(self.client.register_key(pub))))
            elif a.kind == sv.PROBE_SERVERS:
                lat = probe_handshakes(a.servers, self.private_key, self.provider,
                                       self.sup.addresses["ipv4"], networks=self.sup.networks)
                for sid, ms in sorted(lat.items()):
                    log.info("probe %s: %s", sid, "no answer" if ms[0] is None else "%.1f ms" % ms[0])
                self.dispatch(self.sup.probed(time.monotonic(), lat))
            elif a.kind == sv.CONFIGURE_TUNNEL:
                self._configure(a)
            elif a.kind == sv.PROBE_TUNNEL:
                self._send_probe(a)
            elif a.kind == sv.STOP_TUNNEL:
                self._stop_plane()
                if self.plan is not None:
                    self.routing.apply(rt_mod.desired_rules(self.plan),
                                       rt_mod.desired_routes(self.plan, False))
            self._log_transitions(time.monotonic())
            self.write_status()

    def _fetch_servers(self):
        acts = self.sup.servers_fetched(time.monotonic(),
                                        [s._asdict() for s in self.client.servers()])
        for problem in self.sup.refused:
            # One line per refused entry: its server, its field, what is wrong.
            log.warning("server list: refused %s", problem)
        return acts

    def _router_networks(self):
        """The router's own prefixes (core/serverlist.py): LAN devices whole,
        every other address alone."""
        lan = self.net_settings.get("lan") or ()
        devices = lan.replace(",", " ").split() if isinstance(lan, str) else list(lan)
        return serverlist.router_networks(router_interfaces(), devices)

    def _registered(self, addresses):
        return self.sup.key_registered_ok(time.monotonic(), {"ipv4": addresses.ipv4,
                                                              "ipv6": addresses.ipv6})

    def _api(self, call):
        from vpnspot_router.provider import client as pc
        try:
            return call()
        except (pc.NoNetwork, pc.ServiceUnavailable, pc.RateLimited, pc.ProtocolError) as e:
            return self.sup.api_failed(time.monotonic(), e.message, False, _fraction())
        except pc.ProviderError as e:
            return self.sup.api_failed(time.monotonic(), e.message, True, _fraction())

    def _wan_mtu(self):
        from vpnspot_router.agent import read_wan_mtu
        return read_wan_mtu(self.net_settings["wan"])

    def _wg_config(self, server, addresses):
        from vpnspot_router.core.wgconf import parse
        addrs = [addresses["ipv4"]] + ([addresses["ipv6"]] if addresses.get("ipv6") else [])
        allowed = ["0.0.0.0/0"] + (["::/0"] if addresses.get("ipv6") and server.get("ipv6") else [])
        lines = ["[Interface]", "PrivateKey = " + base64.b64encode(self.private_key).decode(),
                 "Address = " + ", ".join(addrs)]
        if server.get("dns"):
            lines.append("DNS = " + ", ".join(server["dns"]))
        lines += ["", "[Peer]", "PublicKey = " + server["public_key"],
                  "Endpoint = " + server["endpoint"], "AllowedIPs = " + ", ".join(allowed)]
        return parse("\n".join(lines) + "\n", "server %s" % server["id"])

    def _new_backend(self, name):
        from vpnspot_router.tunnel import backend as be_mod
        if self.backend_factory is not None:
            return self.backend_factory(name)
        if name == be_mod.KERNEL:
            return be_mod.KernelBackend(self.net_settings["tunnel"], fwmark=rt_mod.FWMARK,
                                        status_path=self.tunnel_status_path)
        if _unloaded(self.provider):
            # Kernel WireGuard failed: the userspace plane needs the real one.
            self.provider = self.provider.load()
        # The mark keeps the tunnel's own UDP on the WAN (routing rule 9990).
        return be_mod.UserspaceBackend(self.net_settings["tunnel"], self.provider, fwmark=rt_mod.FWMARK,
                                       status_path=self.tunnel_status_path, timing=self.timing)

    def _start_backend(self, conf):
        from vpnspot_router.tunnel import backend as be_mod
        from vpnspot_router.tunnel.kernel import KernelError
        plane = self._new_backend(self.data_plane.backend)
        try:
            plane.start(conf)
        except (KernelError, OSError) as e:
            if plane.name != be_mod.KERNEL:
                raise
            # A module that probes fine can still refuse (e.g. out of memory);
            # the household stays online through the userspace plane.
            log.error("kernel WireGuard failed: %s; using userspace WireGuard", e)
            self.data_plane = be_mod.Choice(be_mod.USERSPACE, "kernel WireGuard failed to start "
                                            "(%s); using userspace WireGuard" % e)
            plane = self._new_backend(be_mod.USERSPACE)
            plane.start(conf)
        return plane

    def _configure(self, action):
        self._stop_plane()
        own = bool(action.server.get("own"))
        if own:
            from vpnspot_router.core.wgconf import parse
            # Parsed afresh each time: the plan below writes its MTU into it.
            conf = parse(self.own_text, self.own_path)
        else:
            conf = self._wg_config(action.server, action.addresses)
        self.conf = conf            # kept so a kill switch change can rebuild the plan
        self.plan = st_mod.plan_from_config(self.net_settings, conf, self._wan_mtu())
        self.firewall.apply(fw_mod.build_ruleset(self.plan))
        conf.interface.mtu = self.plan.mtu
        self.debug.record(time.monotonic(), "endpoint", "server %s endpoint %s"
                          % (action.server["id"], action.server["endpoint"]))
        plane = self._start_backend(conf)
        self.routing.apply(rt_mod.desired_rules(self.plan), rt_mod.desired_routes(self.plan, True))
        self.plane = plane
        self.plane_own = own
        self.plane_generation += 1
        log.info("tunnel to %s (%s) on %s WireGuard: %s",
                 "your own server" if own else action.server["id"],
                 action.server["endpoint"], plane.name, action.reason)
        if plane.name == "kernel":
            self._start_handshake(action.server)

    def _start_handshake(self, server):
        """Kernel WireGuard sends its first handshake only when a packet is to
        go through the tunnel (the userspace plane starts one by itself), and
        the supervisor waits for a handshake before it calls the tunnel
        connected: one ICMP echo to the server's tunnel-side address, out of
        the tunnel interface, starts it. A throwaway socket, so its answer
        is not taken for a liveness probe's."""
        address = sv.probe_address(server)
        if address is None:
            return
        try:
            prober = self.prober_factory(self.net_settings["tunnel"])
            try:
                prober.send(0, address)
            finally:
                prober.close()
        except OSError as e:
            # The household's own traffic starts it too; nothing is lost but time.
            log.info("could not start the handshake at once: %s", e.strerror or e)

    def _send_probe(self, action):
        try:
            if self.prober is None:
                self.prober = self.prober_factory(self.net_settings["tunnel"])
            self.prober.send(action.seq, action.address)
        except OSError as e:
            # Without probes the passive dead_after still watches the tunnel.
            problem = "cannot probe the server through the tunnel: %s" % (e.strerror or e)
            if problem != self.prober_problem:
                log.warning("%s; failover will take up to %d s", problem,
                            self.sup.timing.dead_after + 1)
                self.prober_problem = problem
            self.dispatch(self.sup.probe_failed(time.monotonic(), action.seq))
            return
        self.dispatch(self.sup.probe_sent(time.monotonic(), action.seq))

    def _probe_replies(self):
        if self.prober is None:
            return
        try:
            seqs = self.prober.replies()
        except OSError:
            return
        for seq in seqs:
            self.dispatch(self.sup.probe_reply(time.monotonic(), seq))

    def _close_prober(self):
        if self.prober is not None:
            self.prober.close()
            self.prober = None

    def _wait(self, seconds):
        """Sleep until the next sample, a probe reply, or the supervisor's
        next deadline (a probe timing out), whichever is first."""
        now = time.monotonic()
        due = self.sup.next_wakeup()
        if due is not None:
            seconds = max(0.01, min(seconds, due - now + 0.001))
        if self.prober is not None and self.prober.fileno() >= 0:
            try:
                select.select([self.prober], [], [], seconds)
            except (OSError, ValueError):
                time.sleep(seconds)
        else:
            time.sleep(seconds)

    def _stop_plane(self):
        self._close_prober()
        if self.plane is None:
            return
        # Count the last bytes of this tunnel, but tell the supervisor
        # nothing: it already waits for the next tunnel, and this one's
        # handshake is not that tunnel's.
        self._observe(time.monotonic(), feed_supervisor=False)
        self.plane.stop()
        self.plane = None
        self.plane_own = False

    # -- monitoring, accounting, reports ------------------------------------

    def _observe(self, now, feed_supervisor=True):
        if self.plane is None:
            return
        try:
            status = self.plane.status()
        except Exception:       # a status read racing the tunnel thread: next time
            return
        peers = status.get("peers") or []
        if not peers:
            return
        # A VPN Spot tunnel has one peer; a household's own file may have
        # several: the newest handshake and the sums stand for the tunnel.
        shakes = [p["last_handshake"] for p in peers if p.get("last_handshake") is not None]
        hs = max(shakes) if shakes else None
        rx = sum([p["rx_bytes"] for p in peers])
        tx = sum([p["tx_bytes"] for p in peers])
        hs_mono = None if hs is None else hs - (time.time() - time.monotonic())
        if feed_supervisor:
            self.dispatch(self.sup.monitor(now, hs_mono, rx, tx))
        if not self.plane_own:
            # Traffic to the household's own server is neither counted nor
            # reported: it is not VPN Spot's traffic.
            self._account(rx, tx)

    def _account(self, rx, tx):
        wall = int(time.time())
        source = "%d-%d" % (os.getpid(), self.plane_generation)
        for a in self.acc.observe(rx, tx, wall, source):
            if a.kind == acc_mod.CHECKPOINT:
                _write_private(os.path.join(self.state_dir, "accounting.json"), a.data)
            elif a.kind == acc_mod.REPORT_DUE and self.identity is not None:
                try:
                    self.queue.add(self.identity, a.period_start, a.period_end, a.rx_bytes,
                                   a.tx_bytes, wall)
                except tel.TelemetryError as e:
                    log.error("report not built: %s", e)
        if self.queue.changed:
            _write_private(os.path.join(self.state_dir, "reports.json"), self.queue.to_bytes())

    def _send_reports(self):
        from vpnspot_router.provider import client as pc
        wall = int(time.time())
        item = self.queue.due(wall)
        if item is None or self.client is None or self.sup.source == sv.SOURCE_OWN:
            # With the own server in use the router does not call VPN Spot at
            # all; reports of earlier periods wait in the queue.
            return
        try:
            self.client.report(item.body)
            self.queue.accepted(item.report_id)
            self.reports_sent += 1
            log.info("report %d accepted", item.seq)
        except pc.ProviderError as e:
            self.queue.failed(item.report_id, wall)
            self.reports_failed += 1
            log.info("report %d not accepted: %s", item.seq, e.message)
        _write_private(os.path.join(self.state_dir, "reports.json"), self.queue.to_bytes())

    def _restore(self):
        data = _read(os.path.join(self.state_dir, "reports.json"), self.queue.restore)
        if data:
            self.queue.restore(data)
        data = _read(os.path.join(self.state_dir, "accounting.json"), self.acc.restore)
        if data:
            self.acc.restore(data)

    def _last_good(self):
        def validate(data):
            d = json.loads(data)
            if set(d) != {"server", "addresses"}:
                raise ValueError("fields must be server, addresses")
        data = _read(os.path.join(self.state_dir, "last-good.json"), validate)
        if not data:
            return None
        d = json.loads(data)
        return d["server"], d["addresses"]

    def _save_last_good(self):
        server, addresses = self.sup.last_good
        _write_private(os.path.join(self.state_dir, "last-good.json"),
                       json.dumps({"server": server, "addresses": addresses}, sort_keys=True).encode())

    # -- debug sessions and control requests ----------------------------------

    def _neighbours(self, now):
        """While a debug session is open: the devices the router sees on its
        LAN (address, MAC) - for "why does this device not connect"."""
        if not self.debug.is_open(now) or now < self.next_neighbours:
            return
        self.next_neighbours = now + NEIGHBOUR_EVERY
        for dev in self.net_settings["lan"].split():
            out = subprocess.run(["ip", "neigh", "show", "dev", dev],
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                self.debug.record(now, "lan-neighbour", "%s %s" % (dev, line.strip()))

    # The router's configuration as a source of LAN devices (agent.py:
    # previous list -> new list, never raising), or None with --lan.
    lan_source = None

    def reload_lan(self):
        """The "lan_reload" request: derive the LAN devices again (a guest
        network added, a LAN moved to br-lan.1) and, when they changed,
        reload the table and policy rules for them, firewall first, as at
        boot; the boot guard follows. Returns what is covered now."""
        old = self.net_settings["lan"].split()
        if self.lan_source is None:
            return {"lan": old, "changed": False, "source": "--lan"}
        new = list(self.lan_source(old))
        if new == old:
            return {"lan": old, "changed": False, "source": "configuration"}
        self.net_settings["lan"] = " ".join(new)
        if self.plan is not None:
            self.replan()
        log.info("LAN devices now %s (were %s)", ", ".join(new), ", ".join(old))
        out = {"lan": new, "changed": True, "source": "configuration"}
        sync = getattr(self, "sync_guard", None)       # net/guard.py, where installed
        if sync is not None:
            try:
                out["guard"] = sync()
            except ValueError as e:
                out["guard"] = str(e)
        return out

    def replan(self):
        """The table and routes again for net_settings as they are now, the
        running tunnel kept (firewall first, as at boot): the "kill_switch"
        and "lan_reload" requests and a reload share this."""
        self.plan = st_mod.plan_from_config(self.net_settings, self.conf, self._wan_mtu())
        self.firewall.apply(fw_mod.build_ruleset(self.plan))
        self.routing.apply(rt_mod.desired_rules(self.plan),
                           rt_mod.desired_routes(self.plan, self.plane is not None))

    # -- reload (SIGHUP) ------------------------------------------------------

    # agent.py: previous LAN devices -> (Settings, net settings, problems),
    # read as at start; raises ValueError (a ConfigError naming the line),
    # DriverError or OSError when they cannot be used. None: nothing to read.
    settings_source = None

    def _on_hup(self, signum, frame):
        # Async-signal-safe: only a flag; the loop does the work.
        self.reload_requested = True

    def reload_settings(self):
        """SIGHUP: the settings files read again, as at start, and applied
        without dropping the tunnel where they allow (reload_decision): the
        table and routes, the boot guard, the LAN devices; a new tunnel
        only for what the tunnel itself is made of. Unusable settings
        change nothing: the ones in force stay, kill switch included.
        Returns (and keeps in agent.json's "last_reload") what happened."""
        now = time.monotonic()
        self.reloads += 1
        if self.settings_source is None:
            self.last_reload = {"time": time.time(), "ok": False,
                                "error": "no settings files to read (started without them)"}
            log.warning("reload: %s", self.last_reload["error"])
            return self.last_reload
        try:
            settings, net, problems = self.settings_source(self.guard_lan())
        except (ValueError, DriverError, OSError) as e:
            self.last_reload = {"time": time.time(), "ok": False, "error": str(e)}
            log.error("settings not reloaded: %s; the settings in force stay (kill switch %s)",
                      e, "on" if self.net_settings.get("kill_switch") == "on" else "off")
            return self.last_reload
        for p in problems:
            log.warning("%s", p)
        d = reload_decision(self.settings, settings, self.net_settings, net)
        old_settings, old_net = self.settings, dict(self.net_settings)
        self.settings = settings
        old_lan = self.net_settings["lan"]
        self.net_settings.update(net)
        if d["replan"] and self.plan is not None:
            try:
                self.replan()
            except (fw_mod.FirewallError, rt_mod.RoutingError) as e:
                # nft refused the new table (one transaction: the old one
                # stays); the settings in force stay with it.
                self.settings = old_settings
                self.net_settings.clear()
                self.net_settings.update(old_net)
                self.replan()
                self.last_reload = {"time": time.time(), "ok": False, "error": str(e)}
                log.error("settings not reloaded: %s; the settings in force stay", e)
                return self.last_reload
            log.info("reload: table and routes for %s (tunnel kept)", ", ".join(d["replan"]))
        for key in d["restart"]:
            log.warning("%s changed: not applied by a reload: %s", key,
                        RELOAD_RESTART.get(key, "the agent reads it when it starts; "
                                                "/etc/init.d/vpnspot restart applies it"))
        for key in d["elsewhere"]:
            log.info("%s changed: %s", key, RELOAD_ELSEWHERE[key])
        self.acc.checkpoint_interval = settings.checkpoint_minutes * 60
        if "period" not in self.report_timing:
            self.acc.period = settings.report_period_minutes * 60
        if self.net_settings["lan"] != old_lan:
            log.info("LAN devices now %s (were %s)", ", ".join(net["lan"].split()),
                     ", ".join(old_lan.split()))
        guard = None
        try:
            guard = self.sync_guard()
        except ValueError as e:
            guard = str(e)
        reconnected = self._reload_tunnel(now, d)
        self.last_reload = {"time": time.time(), "ok": True, "changed": d["changed"],
                            "live": d["live"], "reconnect": reconnected,
                            "restart": d["restart"], "guard": guard}
        log.info("settings reloaded: %s; tunnel %s",
                 ", ".join(d["changed"]) or "nothing changed",
                 "connecting again (%s)" % ", ".join(reconnected) if reconnected else "kept")
        return self.last_reload

    def _reload_tunnel(self, now, d):
        """The tunnel after a reload: server_source switched through its
        request's path; region, server or MTU changed: the supervisor
        connects again (unless the household disconnected, or there is no
        tunnel yet: the next one uses them). The keys it acted on."""
        if d["source"] is not None and d["source"] != self.sup.source:
            # As the "server_source" request does once the web UI saved it
            # (the loader already applied the provider's lock).
            if d["source"] == sv.SOURCE_OWN:
                self.dispatch(self._use_own(now))
            else:
                self._use_vpnspot(now)
            return ["server_source"]
        self.sup.region, self.sup.pinned = self.settings.region, self.settings.server
        keys = [k for k in d["reconnect"]
                if self.sup.source == sv.SOURCE_VPNSPOT or k == "mtu"]
        if not keys or self.sup.state == sv.DISCONNECTED:
            return []
        if keys == ["mtu"] and self.plane is None:
            return []           # no tunnel yet: the next one is built with it
        if self.sup.source == sv.SOURCE_OWN:
            self.dispatch(self._use_own(now))
            return keys
        if not self.sup.can("connect"):
            return []           # not enrolled yet: connecting will use them
        self.dispatch(self.sup.connect(now, self.settings.region, self.settings.server))
        return keys

    def _purge(self, actions):
        for a in actions:
            if a.kind == dbg_mod.PURGE:
                try:
                    os.unlink(os.path.join(self.run_dir, DEBUG_TOKEN))
                except FileNotFoundError:
                    pass
                log.info("debug session ended (%s); its data is deleted", a.reason)

    def handle(self, request):
        now = time.monotonic()
        cmd = request.get("cmd")
        try:
            if cmd == "status":
                return {"ok": True, "status": self.sup.snapshot(now)}
            if cmd == "memory":
                return dict(memory_report(), ok=True)
            if cmd == "lan_reload":
                return dict(self.reload_lan(), ok=True)
            if cmd == "connect":
                region, server = request.get("region"), request.get("server")
                target = request.get("target")
                if self.sup.source == sv.SOURCE_OWN and not (region or server or target):
                    # Reconnect: the own server's file is read again.
                    self.dispatch(self._use_own(now))
                    return {"ok": True, "state": self.sup.state, "server": sv.OWN_ID,
                            "problem": self.sup.own_problem}
                if target:
                    # The console's `connect X`: a server id if one has it, else a region.
                    if any(s["id"] == target for s in self.sup.servers):
                        server = target
                    else:
                        region = target
                self.dispatch(self.sup.connect(now, region, server))
                return {"ok": True, "state": self.sup.state,
                        "server": self.sup.current["id"] if self.sup.current else None}
            if cmd == "disconnect":
                self.dispatch(self.sup.disconnect(now))
                return {"ok": True, "state": self.sup.state}
            if cmd == "kill_switch":
                # The household switched it in the web UI (already written to
                # /etc/config/vpnspot); apply it now rather than at the next
                # restart, firewall first, as at boot.
                on = request.get("on")
                if not isinstance(on, bool):
                    raise ValueError("kill_switch takes on: true or false")
                self.net_settings["kill_switch"] = "on" if on else "off"
                self.replan()
                log.info("kill switch %s (changed by the household)", "on" if on else "OFF")
                return {"ok": True, "kill_switch": on, "guard": self.sync_guard()}
            if cmd == "reload":
                # What SIGHUP does, answered: the settings files applied now.
                return self.reload_settings()
            if cmd == "guard_sync":
                # kill_switch or dns_mode changed in the web UI or the console
                # (already written): the boot guard follows the files.
                return {"ok": True, "guard": self.sync_guard()}
            if cmd == "server_source":
                # The household chose (already written to /etc/config/vpnspot
                # by the web UI, which checked the provider's lock).
                source = request.get("source")
                if source not in (sv.SOURCE_VPNSPOT, sv.SOURCE_OWN):
                    raise ValueError("server_source takes source: 'vpnspot' or 'own'")
                locked = self.settings.locked.get("server_source")
                if locked and source != self.settings.server_source:
                    raise ValueError("server_source: locked by your provider %s" % locked)
                self.settings.server_source = source
                if source == sv.SOURCE_OWN:
                    self.dispatch(self._use_own(now))
                else:
                    self._use_vpnspot(now)
                return {"ok": True, "source": source, "state": self.sup.state,
                        "problem": self.sup.own_problem}
            if cmd == "debug_open":
                ttl = request.get("ttl")
                token = self.debug.open(now, None if ttl is None else int(ttl),
                                        request.get("by") or "command line")
                path = os.path.join(self.run_dir, DEBUG_TOKEN)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(token + "\n")
                self.next_neighbours = 0.0
                self._neighbours(now)
                log.info("debug session opened from the %s for %d s", self.debug.opened_by,
                         self.debug.expires_at - now)
                return {"ok": True, "expires_in": self.debug.expires_at - now, "token": token}
            if cmd == "debug_close":
                # Any administrator (web UI, console, command line) ends any
                # session, whoever opened it: ending only deletes.
                purged = len(self.debug.entries)
                self._purge(self.debug.end(now))
                return {"ok": True, "purged": purged}
            if cmd == "factory_reset":
                # The console's factory reset: stop now; it waits until this
                # process is gone before it erases (factoryreset.py), so what
                # is written on the way out (totals, reports) goes too; procd
                # then starts a fresh agent.
                log.info("stopping for a factory reset")
                self.stopping = True
                return {"ok": True, "pid": os.getpid()}
            if cmd == "debug_status":
                return dict(self.debug.summary(now), ok=True)
            if cmd == "debug_record":
                # The console's own detail (endpoints, unfiltered log lines)
                # joins the session it opened here, so there is one session.
                self.debug.show(request.get("token"), now)      # its opener only
                entries = request.get("entries")
                if not isinstance(entries, list):
                    raise ValueError("debug_record takes entries: [[category, text], ...]")
                for entry in entries[:dbg_mod.MAX_ENTRIES]:
                    if isinstance(entry, list) and len(entry) == 2:
                        self.debug.record(now, "console " + str(entry[0])[:24], entry[1])
                return {"ok": True}
            if cmd == "debug_show":
                entries = self.debug.show(request.get("token"), now)
                return {"ok": True, "expires_in": self.debug.expires_at - now,
                        "entries": [[round(t - now, 1), c, x] for t, c, x in entries]}
            if cmd == "diagnose":
                return dict(self.diagnose(now), ok=True)
            return {"ok": False, "error": "unknown request %r" % cmd}
        except (sv.SupervisorError, dbg_mod.DebugSessionError, ValueError, TypeError) as e:
            return {"ok": False, "error": str(e)}

    def guard_lan(self):
        """The LAN devices the boot guard covers: the agent's own."""
        return self.net_settings["lan"].split()

    def sync_guard(self):
        """The boot guard in step with the settings files (net/guard.py);
        its one-line description, or None where it is not installed."""
        if self.guard is None:
            return None
        from vpnspot_router.net import guard as gd_mod
        try:
            result = self.guard.sync(lan_devices=self.guard_lan())
        except gd_mod.GuardError as e:
            log.error("boot guard: %s", e)
            raise ValueError("the boot guard could not be synced: %s" % e)
        text = gd_mod.describe(result)
        log.info("%s", text)
        return text

    def diagnose(self, now):
        """What the web UI's checks need, from memory, at once: the probes
        themselves (DNS query, full-size ping) run in the web UI's process,
        so a slow resolver never stalls this loop and its tunnel watch.
        Latencies are the last probe's timed handshakes (ms, None = no
        answer); nothing here names a LAN client or a destination."""
        cur = self.sup.current or {}
        running = self.plane is not None
        probed = [h[0] for h in self.sup.history if h[2] == "probed"]
        latencies = {}
        for sid, ms in self.sup.latencies.items():
            answered = [m for m in ms if m is not None]
            latencies[sid] = min(answered) if answered else None
        return {"server": cur.get("id"), "tunnel_up": running,
                "tunnel": self.net_settings["tunnel"] if running else None,
                "dns": list(cur.get("dns") or []) if running else [],
                "mtu": self.plan.mtu if running and self.plan is not None else None,
                "latencies": latencies,
                "probed_ago": round(now - probed[-1], 1) if probed else None}

    # -- run -----------------------------------------------------------------

    def run(self, load_device):
        import signal
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        # procd's reload sends SIGHUP; its default action would end the agent.
        signal.signal(signal.SIGHUP, self._on_hup)
        now = time.monotonic()
        self.dispatch(self.sup.boot(now))          # the kill switch, before anything else
        self._purge(self.debug.boot())             # nothing of an earlier session survives
        self.private_key = load_or_make_key(self.state_dir, self.provider)
        self._restore()
        self.control = ControlServer(self.run_dir)
        self.device = load_device()
        if self.device:
            self._make_client()
        self.load_device = load_device
        if getattr(self.settings, "server_source", sv.SOURCE_VPNSPOT) == sv.SOURCE_OWN:
            self.dispatch(self._use_own(time.monotonic()))
        else:
            self.sup.networks = self._router_networks()
            acts = self.sup.killswitch_loaded(time.monotonic(), self.device is not None,
                                              self._last_good())
            for problem in self.sup.refused:
                log.warning("not using the saved server: %s", problem)
            self.dispatch(acts)
        last_saved = self.sup.last_good
        try:
            while not self.stopping:
                if self.reload_requested:
                    self.reload_requested = False
                    self.reload_settings()
                now = time.monotonic()
                self._drain(now)
                if self.sup.state == sv.NOT_ENROLLED:
                    self.device = load_device()
                    if self.device:
                        self._make_client()
                        self.dispatch(self.sup.enrolled(now))
                self._probe_replies()
                self._observe(now)
                if self.sup.last_good is not last_saved and self.sup.last_good is not None:
                    last_saved = self.sup.last_good
                    self._save_last_good()
                self.dispatch(self.sup.tick(now))
                self._purge(self.debug.tick(now))
                self._neighbours(now)
                self._send_reports()
                self.write_status()
                self._wait(MONITOR_INTERVAL)
        finally:
            self._shutdown()
        return 0

    # -- the household's own server ----------------------------------------------

    def _own_server(self):
        """(supervisor server dict, file text) from STATE/wg-household.conf,
        or DriverError saying what is wrong and what to do. Read through
        the store: a damaged file is moved aside and its last good copy
        used (the log says so)."""
        from vpnspot_router.core.wgconf import ConfigError, parse

        def validate(data):
            parse(data.decode("utf-8"), self.own_path)
        try:
            result = _store(self.own_path).read(validate)
        except OSError as e:
            raise DriverError("%s: cannot read: %s" % (self.own_path, e.strerror or e))
        for problem in result.problems:
            log.warning("%s", problem)
        if result.data is None:
            raise DriverError("%s; import your server's .conf on the web UI's WireGuard page, "
                              "or switch back to VPN Spot servers"
                              % ("; ".join(result.problems) or "%s: no WireGuard configuration "
                                 "has been imported" % self.own_path))
        text = result.data.decode("utf-8")
        try:
            conf = parse(text, self.own_path)
        except ConfigError as e:
            raise DriverError(str(e))
        if conf.interface is None or conf.interface.private_key is None:
            raise DriverError("%s: [Interface] has no PrivateKey" % self.own_path)
        if not conf.interface.addresses:
            raise DriverError("%s: [Interface] has no Address; the router needs its tunnel "
                              "address" % self.own_path)
        endpoints = [p.endpoint for p in conf.peers if p.endpoint]
        if not endpoints:
            raise DriverError("%s: no [Peer] has an Endpoint; the router must know where your "
                              "server is (Endpoint = host:port)" % self.own_path)
        host, port = endpoints[0]
        endpoint = "%s:%d" % ("[%s]" % host if ":" in host else host, port)
        server = sv.own_server(endpoint, conf.interface.dns)
        self.sup.networks = self._router_networks()
        problem = serverlist.own_problem(server, self.sup.networks)
        if problem is not None:
            raise DriverError("%s: %s; the tunnel must go to a server on the internet side, "
                              "outside this router and its LAN" % (self.own_path, problem))
        return server, text

    def _use_own(self, now):
        try:
            server, text = self._own_server()
        except DriverError as e:
            log.error("your own server cannot be used: %s; no tunnel, the kill switch holds "
                      "LAN traffic", e)
            return self.sup.own_unusable(now, str(e))
        self.own_text = text
        log.info("using your own WireGuard server %s (server_source own): no VPN Spot server "
                 "list, key registration, probes or reports", server["endpoint"])
        return self.sup.use_own(now, server)

    def _use_vpnspot(self, now):
        self.device = self.load_device()
        if self.device:
            self._make_client()
        acts = self.sup.use_vpnspot(now, self.device is not None, self._last_good())
        if acts:
            log.info("back to VPN Spot servers (server_source vpnspot)")
            self.own_text = None
        self.dispatch(acts)

    def _exit_target(self):
        """What exitcheck.py should check now: None without a connected
        tunnel, OWN_SERVER for the household's own server (not VPN Spot's:
        nothing to ask), else (key, server id, tunnel interface), the key
        new for every tunnel started."""
        from vpnspot_router import exitcheck
        cur = self.sup.current
        if self.plane is None or not cur:
            return None
        if cur.get("own"):
            return exitcheck.OWN_SERVER
        if self.sup.state != sv.CONNECTED or not self.device:
            return None
        return ((self.plane_generation, cur["id"]), cur["id"], self.net_settings["tunnel"])

    def _connection_check(self, ifname):
        """Runs in exitcheck.py's thread: one connection check out of the
        tunnel interface, by a client of its own that holds no token (the
        request says nothing about the household) and sets no firewall mark."""
        from vpnspot_router import exitcheck, forked
        from vpnspot_router.provider import client as pc
        d = self.device

        def check():
            client = pc.ProviderClient(d["api_url"], ca_file=d["ca_file"], resolve=d["resolve"],
                                       device=ifname, timeout=exitcheck.TIMEOUT, retries=0)
            return client.connection_check()
        # In a forked child, as every provider call (see _make_client).
        return forked.call(check, failure=lambda why: pc.ServiceUnavailable(detail=why))

    def _make_client(self):
        from vpnspot_router import forked
        from vpnspot_router.provider import client as pc
        d = self.device

        def make():
            # Fewer, shorter retries than an interactive command: the supervisor
            # backs off itself and the tunnel must be watched meanwhile.
            return pc.ProviderClient(d["api_url"], device_token=d["device_token"],
                                     ca_file=d["ca_file"], resolve=d["resolve"], timeout=5.0,
                                     retries=1, backoff_cap=2.0)
        # Each call runs in a forked child (forked.py): ssl, http.client and
        # the API schema never load into the always-on agent. The calls are
        # stateless (the token is in device.json), so nothing is lost.
        self.client = forked.Remote(make, failure=lambda why: pc.ServiceUnavailable(detail=why))

    def _drain(self, now):
        while True:
            try:
                request, slot, done = self.control.requests.get_nowait()
            except queue.Empty:
                return
            slot["answer"] = self.handle(request)
            done.set()

    def _on_term(self, signum, frame):
        self.stopping = True

    def _shutdown(self):
        now = time.monotonic()
        self._stop_plane()
        for a in self.acc.flush(int(time.time())):
            _write_private(os.path.join(self.state_dir, "accounting.json"), a.data)
        if self.sup.can("stop"):
            self.sup.stop(now)
        if self.plan is not None:
            self.routing.apply(rt_mod.desired_rules(self.plan), rt_mod.desired_routes(self.plan, False))
        self._purge([dbg_mod.Purge("agent stopped")])
        self.debug = dbg_mod.DebugSession(os.urandom)
        self.control.close()
        self.write_status()
        log.info("agent stopped; kill switch %s", "kept" if self.plan and self.plan.kill_switch else "off")


def _fraction():
    return int.from_bytes(os.urandom(4), "big") / 4294967296.0
