"""The agent process: kill switch first, then the tunnel, then the routes.

Owns: `vpnspot agent` (foreground; logs to stderr, which procd hands to
logd on OpenWrt, or with --syslog straight to the system log), `vpnspot status`,
`vpnspot killswitch apply|remove|status`, `vpnspot guard sync|status` (the
boot guard, net/guard.py) and the agent's status file.

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

import errno
import fcntl
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
from vpnspot_router.store import pid_alive, write_status_json

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
            write_status_json(self.status_path, {
                "pid": os.getpid(), "state": self.state, "started_at": self.started_at,
                "time": time.time(), "plan": self.plan.as_dict() if self.plan else None,
                "wg_config": self.wg_path, "settings": self.settings_path,
                "tunnel_status": self.tunnel_status_path, "reloads": self.reloads,
                "data_plane": {"backend": "userspace", "running": self.plane is not None,
                               "reason": "a fixed --wg-config runs the userspace tunnel"},
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

def _crypto_decision(state_dir, override=None):
    """crypto/select.py's decision (cached per board and version), with the
    configuration's `crypto` override, for the backend choice and status;
    and what the identity needs of the board profile.

    Worked out in a forked child (forked.py): measuring the providers
    imports cryptography, the AF_ALG and pure-Python ones and the board
    probe - over 10 MB that a kernel-mode agent would otherwise carry for
    its whole life."""
    import types
    from vpnspot_router import forked
    try:
        fields, crypto = forked.call(_decide, state_dir, override)
    except Exception as e:      # a probe problem is shown, never fatal
        return None, {"data_plane": None, "provider": None, "cached": False,
                      "reason": "not decided: %s" % e}
    return types.SimpleNamespace(**fields), crypto


def _decide(state_dir, override):
    from vpnspot_router.crypto import select
    from vpnspot_router.hw import probe
    profile = probe.probe("/")
    cache = os.path.join(state_dir, "crypto-choice.json") if state_dir else select.DEFAULT_CACHE
    d = select.choose(profile, override=override, cache_path=cache)
    fields = dict((k, getattr(profile, k, None)) for k in ("model", "os_name", "os_version"))
    fields["agent_version"] = select.agent_version()
    return fields, {"data_plane": d.data_plane, "provider": d.provider, "reason": d.reason,
                    "cached": bool(getattr(d, "cached", False))}


def _identity(profile):
    """What telemetry may say about this router (core/telemetry.py checks it)."""
    from vpnspot_router.core import telemetry as tel

    def agent_version():
        known = getattr(profile, "agent_version", None)
        if known:
            return known
        from vpnspot_router.crypto.select import agent_version as lookup
        return lookup()

    def clean(text, default, allowed):
        text = "".join(c for c in (text or "") if c in allowed).strip()[:32]
        return text or default
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    try:
        return tel.Identity(clean(getattr(profile, "model", None), "unknown", letters + " .,_-+()/"),
                            clean(getattr(profile, "os_name", None), "Linux", letters + " ._-+"),
                            clean(getattr(profile, "os_version", None), "unknown", letters + "._-+"),
                            clean(agent_version(), "0", letters + "._-+"))
    except tel.TelemetryError as e:
        log.error("no telemetry identity: %s", e)
        return None


def service_net_settings(settings, lans, wan, tunnel):
    """net/settings.py's dict, the kill switch's, DNS and IPv6 rules' input,
    from the UCI Settings. dns_mode tunnel: LAN DNS to the tunnel's
    resolver; custom: to the household's servers, through the tunnel (also
    checked against the router's own networks: driver.household_dns, which
    leaves out a server of the router's own and logs why); isp: left alone.
    SettingsError names what is wrong."""
    from vpnspot_router import driver
    net = {"kill_switch": "on" if settings.kill_switch else "off",
           "dns": {"tunnel": "tunnel", "custom": "custom"}.get(settings.dns_mode, "off"),
           "dns_servers": " ".join(settings.dns_servers),
           "ipv6": "auto" if settings.ipv6_mode == "tunnel" else "off",
           "mtu": str(settings.mtu), "lan": " ".join(lans), "wan": wan, "tunnel": tunnel}
    st_mod.parse_settings("".join("%s = %s\n" % kv for kv in net.items()), "command line")
    if settings.dns_mode == "custom":
        usable, problems = driver.household_dns(settings.dns_servers, lans)
        for problem in problems:
            log.error("%s", problem)
        # None left: LAN DNS is dropped (the plan has no resolver), not sent
        # anywhere else; the log above says why.
        net["dns_servers"] = " ".join(usable)
    return net


def reload_settings(paths):
    """The settings for a reload (SIGHUP), read as at start
    (configstore.load_settings), except that a household file that does not
    parse is refused (ConfigError naming file, line and option) rather than
    moved aside: the running agent keeps the settings in force and the file
    stays as written, for whoever edited it to correct."""
    from vpnspot_router import configstore
    from vpnspot_router.core import config as cfg
    provisioning = configstore.load_provisioning(paths)
    try:
        with open(paths.config_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = None             # no file: the defaults, as at start
    if data is not None:
        try:
            text = data.decode("utf-8")
        except UnicodeError:
            raise cfg.ConfigError(paths.config_path, None, None, "is not UTF-8 text")
        cfg.load(text, provisioning, paths.config_path)
    return configstore.load_settings(paths)


def cmd_service_agent(args):
    """`vpnspot agent` without --wg-config: UCI settings, enrollment, supervisor."""
    from vpnspot_router import configstore, driver
    from vpnspot_router.core import config as cfg
    from vpnspot_router.provider import commands as pc
    # procd's reload sends SIGHUP, also while this process is still starting
    # (the crypto measurement takes seconds): remembered here, taken up by
    # the agent's loop, never the default action (which ends the process).
    early_hup = []
    signal.signal(signal.SIGHUP, lambda signum, frame: early_hup.append(signum))
    try:
        timing = cfg.parse_timing(os.environ, "VPNSPOT_WG_TIMING")
        sup_timing = cfg.parse_timing(os.environ, "VPNSPOT_SUPERVISOR_TIMING")
        report_timing = cfg.parse_timing(os.environ, "VPNSPOT_REPORT_TIMING")
        # The connection check through the tunnel (exitcheck.py): refresh, retry.
        exit_timing = cfg.parse_timing(os.environ, "VPNSPOT_EXIT_CHECK_TIMING")
        for name in set(exit_timing) - {"refresh", "retry"}:
            raise driver.DriverError("VPNSPOT_EXIT_CHECK_TIMING: no timer %r; use refresh, retry"
                                     % name)
        # The ISP's file sits in the state directory (/etc/vpnspot), with the
        # read-only firmware copy behind it for the real one.
        prov = (os.path.join(args.state_dir, "provisioning"),)
        if args.state_dir == "/etc/vpnspot":
            prov = configstore.PROVISIONING_PATHS
        paths = configstore.Paths(os.path.join(args.config_dir, "vpnspot"), prov)
        settings, problems = configstore.load_settings(paths)
        lans = lan_devices(args, settings)
        net = service_net_settings(settings, lans, args.wan, args.tunnel)
    except (ValueError, driver.DriverError, cfg.ConfigError) as e:
        print("error: %s" % e, file=sys.stderr)
        # The boot guard holds meanwhile; with settings it cannot read it
        # is fully on (net/guard.py).
        _sync_guard(args)
        return EXIT_USAGE
    for p in problems:
        log.warning("%s", p)
    guard = _sync_guard(args, settings, lans)
    if not settings.enabled:
        log.info("VPN Spot is switched off in %s; the kill switch stays as it is", paths.config_path)
        return EXIT_OK
    # The agent's own table (kill switch, LAN DNS dropped until a tunnel
    # resolver is known) before any slow step: the crypto measurement below
    # takes seconds on a first boot, provider calls longer.
    firewall, routing = fw_mod.Firewall(), rt_mod.Routing()
    try:
        driver.load_kill_switch(net, firewall, routing, read_wan_mtu(net["wan"]))
    except (fw_mod.FirewallError, rt_mod.RoutingError, OSError) as e:
        log.error("agent failed: %s", e)
        return EXIT_FAILURE
    from vpnspot_router.crypto import LazyProvider, default_provider
    profile, crypto = _crypto_decision(args.state_dir, settings.crypto)
    log.info("crypto: %s/%s: %s", crypto["data_plane"], crypto["provider"], crypto["reason"])
    from vpnspot_router.tunnel import backend
    choice = backend.select(crypto)
    log.info("data plane: %s", backend.describe(choice.as_dict()))
    # With kernel WireGuard the agent itself encrypts nothing: the crypto
    # library loads only in the children that need it (driver.py).
    provider = LazyProvider() if choice.backend == backend.KERNEL else default_provider()
    agent = driver.ServiceAgent(settings, net, args.state_dir, args.run_dir, provider,
                                timing=timing, supervisor_timing=sup_timing,
                                report_timing=report_timing, crypto=crypto,
                                identity=_identity(profile), data_plane=choice,
                                exit_timing=exit_timing, firewall=firewall, routing=routing,
                                guard=guard)
    # Without --lan the agent follows the router's configuration: its
    # "lan_reload" request (sent by `vpnspot guard sync`) derives again.
    agent.lan_source = None if args.lan else _lan_source(args, paths)

    def settings_source(previous_lan):
        # What a reload applies: the same files and steps as above.
        new, notes = reload_settings(paths)
        new_lans = lan_devices(args, new, previous_lan)
        return new, service_net_settings(new, new_lans, args.wan, args.tunnel), notes
    agent.settings_source = settings_source
    signal.signal(signal.SIGHUP, agent._on_hup)
    if early_hup:
        agent.reload_requested = True

    def load_device():
        try:
            return pc.load_device(args.state_dir)
        except OSError:
            return None
    web = _web_holder(args)
    try:
        return agent.run(load_device)
    except (fw_mod.FirewallError, rt_mod.RoutingError, OSError) as e:
        log.error("agent failed: %s", e)
        return EXIT_FAILURE
    finally:
        if web is not None:
            web.stop()
            web.close()


def _sync_guard(args, settings=None, lan_devices=None):
    """The boot guard in step with the settings (net/guard.py) where the
    package installed it; settings None: read from the files (fully on if
    they cannot be read). Returns the BootGuard, or None where none is
    installed. A failure is logged: the agent's own table still follows."""
    from vpnspot_router.net import guard as gd_mod
    guard = guard_for(args.config_dir, args.state_dir, getattr(args, "guard_file", None))
    if not guard.installed():
        log.info("no boot guard at %s (installed by the vpnspot package on OpenWrt): "
                 "not synced", guard.guard_file)
        return None
    try:
        log.info("%s", gd_mod.describe(guard.sync(settings, lan_devices)))
    except gd_mod.GuardError as e:
        log.error("boot guard: %s", e)
    return guard


def lan_devices(args, settings, previous=None):
    """The LAN devices to cover: --lan as given, else derived from the
    router's network and firewall files in --config-dir and netifd
    (net/lannets.py, main.lan_networks); never empty, errors logged."""
    if getattr(args, "lan", None):
        return list(args.lan)
    from vpnspot_router.net import lannets
    return lannets.devices(lannets.RouterConfig(args.config_dir),
                           tuple(getattr(settings, "lan_networks", ()) or ()), previous)


def _guard_lan_devices(args, guard, config_dir):
    """The LAN devices for `vpnspot guard sync`: --lan as given; else the
    running agent's, after it derived them again (its "lan_reload", so the
    agent's table and the guard cover the same devices); else derived here
    the same way (net/lannets.py)."""
    if args.lan:
        return list(args.lan)
    from vpnspot_router import configstore, driver
    # A copy of a router's files (--root, IPKG_INSTROOT: an image build)
    # has no agent and no netifd to ask: its files alone decide.
    root = args.root if args.root is not None else os.environ.get("IPKG_INSTROOT", "")
    if not root:
        try:
            answer = driver.control_call(args.run_dir, {"cmd": "lan_reload"}, timeout=10)
            if answer.get("ok") and answer.get("lan"):
                return list(answer["lan"])
        except (driver.DriverError, OSError):
            pass        # no agent running (stopped, switched off, not started yet)
    try:
        settings, _ = configstore.load_settings(guard.paths)
    except (ValueError, OSError):
        settings = None
    from vpnspot_router.net import lannets
    return lannets.devices(lannets.RouterConfig(config_dir, ubus=None if root else "ubus"),
                           tuple(getattr(settings, "lan_networks", ()) or ()))


def _lan_source(args, paths):
    """previous devices -> devices, main.lan_networks read again."""
    from vpnspot_router import configstore

    def derive(previous):
        try:
            settings, _ = configstore.load_settings(paths)
        except (ValueError, OSError) as e:
            log.error("LAN networks: %s; still covering %s", e, ", ".join(previous))
            return list(previous)
        return lan_devices(args, settings, previous)
    return derive


def _web_holder(args):
    """--web-listen: hold the web UI's sockets in a thread of this process and
    start `vpnspot web` when a browser connects (webholder.py). The holder
    imports nothing the agent does not hold already; the web process loads
    bottle and ssl itself and exits when idle."""
    if not getattr(args, "web_listen", None):
        return None
    from vpnspot_router import webholder
    host, sep, port = args.web_listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or host in ("", "0.0.0.0", "::"):
        log.error("--web-listen takes the LAN address and port, e.g. 192.168.1.1:443; "
                  "the web UI is not served")
        return None
    extra = ["--state", args.state_dir, "--config-dir", args.config_dir, "--run-dir", args.run_dir]
    for name in args.web_name or ():
        extra += ["--name", name]

    def command(fds):
        return webholder.web_command(args.web_listen, fds, args.web_idle_exit,
                                     args.web_redirect_port, extra)

    def say(text):
        log.warning("web UI: %s", text)
    holder = webholder.Holder(host, int(port), command, redirect_port=args.web_redirect_port,
                              log=say)
    holder.start_thread()       # binds in its thread, retrying while the address is in use
    log.info("web UI: on demand at %s (started when a browser connects, stops after %d s idle)",
             args.web_listen, args.web_idle_exit)
    return holder


# The single-instance lock's descriptor: held open for the life of the
# process (closing it would release the lock).
_instance_lock = None


def _take_instance_lock(run_dir):
    """Lock RUN_DIR/agent.lock so a second agent refuses before it touches the
    firewall, the tunnel device or the status files of the first.

    Returns None when this process now holds the lock (or the run directory
    cannot hold a lock file at all: then the agent runs, as it must keep a
    household protected, and says so), else the pid text of the holder.
    """
    global _instance_lock
    path = os.path.join(run_dir, "agent.lock")
    try:
        os.makedirs(run_dir, mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        log.warning("cannot create %s (%s): running without the single-instance lock", path, e)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            os.close(fd)
            log.warning("cannot lock %s (%s): running without the single-instance lock", path, e)
            return None
        try:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        except OSError:
            holder = "unknown"
        os.close(fd)
        return holder
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError:
        pass                                # the lock holds even if the pid note fails
    _instance_lock = fd
    return None


LOG_FORMAT = "vpnspot[%(process)d]: %(levelname)s %(message)s"
SYSLOG_SOCKET = "/dev/log"
_log_handler = None


def nonblocking_syslog_class():
    """NonBlockingSyslog, defined on first use: logging.handlers (and the
    pickle module it imports) loads only with --syslog; on OpenWrt procd
    hands stderr to the system log instead."""
    global _syslog_class
    if _syslog_class is not None:
        return _syslog_class
    import logging.handlers

    class NonBlockingSyslog(logging.handlers.SysLogHandler):
        """SysLogHandler whose socket never blocks: a syslog daemon that stops
        reading (its queue full) costs log lines, counted in `dropped`, never
        the agent's loop and with it the household's tunnel."""

        dropped = 0

        def _connect_unixsocket(self, address):
            # The stdlib's (re)connect hook, also used after a failed send.
            super()._connect_unixsocket(address)
            self.socket.setblocking(False)

        def handleError(self, record):
            self.dropped += 1
    _syslog_class = NonBlockingSyslog
    return _syslog_class


_syslog_class = None


def setup_logging(use_syslog=False, syslog_socket=SYSLOG_SOCKET):
    """Log lines to stderr, or to the syslog socket with --syslog.

    A router whose syslog daemon is missing or not yet up must still run
    (and protect the household): then the lines go to stderr, after a
    warning saying why. Log lines hold no LAN or destination address
    (../shared/DESIGN.md, privacy invariants); the gateway's address is the
    only address logged."""
    handler = None
    problem = None
    if use_syslog:
        # SysLogHandler swallows a failed first connect and retries per
        # line; one connect here tells at once whether syslog is there.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(syslog_socket)
        except OSError as e:
            problem = "cannot log to syslog at %s (%s); logging to stderr instead" % (
                syslog_socket, e.strerror or e)
        finally:
            probe.close()
        if problem is None:
            cls = nonblocking_syslog_class()
            handler = cls(address=syslog_socket, facility=cls.LOG_DAEMON)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    global _log_handler
    root = logging.getLogger()
    if _log_handler is not None:
        # Called again in one process (tests): replace, never duplicate lines.
        root.removeHandler(_log_handler)
        _log_handler.close()
    _log_handler = handler
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    if problem:
        log.warning("%s", problem)
    return handler


def cmd_agent(args):
    setup_logging(getattr(args, "syslog", False), getattr(args, "syslog_socket", SYSLOG_SOCKET))
    holder = _take_instance_lock(args.run_dir)
    if holder is not None:
        print("error: another vpnspot agent is already running (pid %s); stop it first "
              "(/etc/init.d/vpnspot stop)" % holder, file=sys.stderr)
        return EXIT_FAILURE
    if args.wg_config is None:
        if args.settings is not None:
            print("error: --settings goes with --wg-config; without it the agent reads "
                  "/etc/config/vpnspot (--config-dir)", file=sys.stderr)
            return EXIT_USAGE
        return cmd_service_agent(args)
    if args.settings is None:
        print("error: --wg-config needs --settings FILE", file=sys.stderr)
        return EXIT_USAGE
    from vpnspot_router.tunnel import dataplane, tun
    from vpnspot_router.core.config import parse_timing
    try:
        timing = parse_timing(os.environ, "VPNSPOT_WG_TIMING")
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
    alive = pid_alive(agent["pid"]) and agent["state"] == "running"
    plan = agent.get("plan") or {}
    out.update({"dns": plan.get("dns"), "ipv6": plan.get("ipv6"), "mtu": plan.get("mtu"),
                "pid": agent["pid"], "reloads": agent.get("reloads", 0),
                "data_plane": agent.get("data_plane"),
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
    if agent.get("mode") == "service":
        sup = agent.get("supervisor") or {}
        out["supervisor"] = sup
        out["crypto"] = agent.get("crypto")
        out["telemetry"] = agent.get("telemetry")
        out["debug_session"] = agent.get("debug_session")
        out["enrolled"] = agent.get("enrolled")
        out["exit_address"] = agent.get("exit_address") if alive else None
        out["server"] = sup.get("server") or out["server"]
        out["server_source"] = sup.get("server_source") or "vpnspot"
        if out["server_source"] == "own":
            out["own_endpoint"] = sup.get("own_endpoint")
            out["own_problem"] = sup.get("own_problem")
        out["events"] = [e["event"] for e in agent.get("events", [])[-8:]]
        if alive:
            out["state"] = sup.get("state", "starting")
            return out
    if not alive:
        out["state"] = "stopped" if agent["state"] == "stopped" else "not running"
    elif out["handshake_age"] is not None and out["handshake_age"] < HANDSHAKE_FRESH:
        out["state"] = "connected"
    else:
        out["state"] = "connecting"
    return out


def exit_address_text(entry, now=None):
    """One line for agent.json's "exit_address" (exitcheck.py)."""
    now = time.time() if now is None else now
    state = (entry or {}).get("state")
    if state == "checked":
        ago = max(0, int(now - (entry.get("checked_at") or now)))
        if entry.get("vpnspot"):
            return "%s, a VPN Spot exit (checked through the tunnel %d s ago)" % (
                entry["address"], ago)
        return ("%s, NOT a VPN Spot exit: traffic through the tunnel is not protected "
                "(checked %d s ago)" % (entry["address"], ago))
    if state == "checking":
        return "checking..."
    if state == "failed":
        return "not checked: %s; trying again" % entry.get("error")
    if state == "own_server":
        return "not checked: your own server is not part of VPN Spot"
    return "-"


def cmd_status(args):
    status = gather_status(args.run_dir)
    if args.json:
        print(json.dumps(status, indent=1, sort_keys=True))
        return EXIT_OK
    age = status["handshake_age"]
    server = status["server"] or "-"
    own = status.get("server_source") == "own"
    if own:
        server = "your own server (%s)" % (
            status.get("own_endpoint") or ("not usable: %s" % status["own_problem"]
                                           if status.get("own_problem") else "not connected"))
    lines = [
        "state:        %s" % status["state"],
        "server:       %s" % server,
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
    sup = status.get("supervisor")
    if sup:
        lf = sup.get("last_failover")
        lines += [
            "region:       %s%s%s" % (sup["region"], ", pinned server %s" % sup["pinned"] if sup["pinned"] else "",
                                      " (now OUTSIDE it: its servers do not answer)"
                                      if sup["outside_region"] else ""),
            "failover:     %s" % ("order %s" % ", ".join(sup["order"]) if sup["order"] else "-"),
            "failovers:    %d%s" % (sup["failovers"], "" if not lf else ", last %s -> %s %.0f s ago%s" % (
                lf["from"], lf["to"], lf["ago"], "" if lf["seconds_to_handshake"] is None else
                " (handshake %.2f s after)" % lf["seconds_to_handshake"])),
            "service:      %s" % ("not used while your own server is in use" if own else
                                  "reachable" if not sup["api_problem"] else "%s; retry in %.0f s" % (
                                      sup["api_problem"], sup["api_retry_in"] or 0)),
        ]
        lines.append("exit address: %s" % exit_address_text(status.get("exit_address")))
        tel = status.get("telemetry") or {}
        lines.append("reports:      %d sent, %d queued (model, OS, agent version and byte totals only)%s"
                     % (tel.get("sent", 0), tel.get("queued", 0),
                        "; none while your own server is in use" if own else ""))
        dbg = status.get("debug_session") or {}
        lines.append("debug:        %s" % ("open (from the %s), %d s left; vpnspot debug close "
                                            "ends it" % (dbg.get("opened_by") or "?",
                                                         dbg["expires_in"]) if dbg.get("open")
                                            else "closed (nothing detailed is kept)"))
        lines.append("transitions:")
        lines += ["  %s" % e for e in status.get("events", [])]
    plane = status.get("data_plane")
    if plane and status["state"] not in ("not running", "stopped"):
        from vpnspot_router.tunnel.backend import describe
        lines.append("data plane:   %s" % describe(plane))
    crypto = status.get("crypto")
    if crypto:
        lines.append("crypto:       %s/%s: %s" % (crypto["data_plane"], crypto["provider"], crypto["reason"]))
    print("\n".join(lines))
    return EXIT_OK


def _control(run_dir, request):
    from vpnspot_router import driver
    try:
        answer = driver.control_call(run_dir, request)
    except driver.DriverError as e:
        print(str(e), file=sys.stderr)
        return None
    if not answer.get("ok"):
        print("error: %s" % answer.get("error"), file=sys.stderr)
        return None
    return answer


def cmd_connect(args):
    request = {"cmd": "connect"}
    if args.region:
        request["region"] = args.region
    if args.server:
        request["server"] = args.server
    answer = _control(args.run_dir, request)
    if answer is None:
        return EXIT_FAILURE
    print("%s%s" % (answer["state"], " to %s" % answer["server"] if answer.get("server") else ""))
    return EXIT_OK


def cmd_disconnect(args):
    answer = _control(args.run_dir, {"cmd": "disconnect"})
    if answer is None:
        return EXIT_FAILURE
    print("disconnected: the kill switch keeps LAN traffic from leaving without the VPN")
    return EXIT_OK


def _debug_token(run_dir):
    from vpnspot_router import driver
    try:
        with open(os.path.join(run_dir, driver.DEBUG_TOKEN)) as f:
            return f.read().strip()
    except OSError:
        return None


def _debug_summary_text(answer):
    if not answer.get("open"):
        return "no debug session is open"
    return ("debug session open, opened from the %s %d min ago, %d min left, %d entries; "
            "vpnspot debug close ends it (from any administrator) and deletes them"
            % (answer.get("opened_by") or "?", round(answer["opened_ago"] / 60.0),
               round(answer["expires_in"] / 60.0), answer["entries"]))


def cmd_debug(args):
    if args.action == "status":
        answer = _control(args.run_dir, {"cmd": "debug_status"})
        if answer is None:
            return EXIT_FAILURE
        print(_debug_summary_text(answer))
        return EXIT_OK
    if args.action == "close":
        # Whoever opened it (web UI, console, this command): closing only deletes.
        answer = _control(args.run_dir, {"cmd": "debug_close"})
        if answer is None:
            return EXIT_FAILURE
        print("debug session closed; its %d entries are deleted" % answer.get("purged", 0))
        return EXIT_OK
    if args.action == "open":
        request = {"cmd": "debug_open", "by": "command line"}
        if args.ttl is not None:
            request["ttl"] = args.ttl * 60
        answer = _control(args.run_dir, request)
        if answer is None:
            return EXIT_FAILURE
        print("debug session open for %d minutes; its data stays in RAM and is deleted when it "
              "ends (vpnspot debug close)" % round(answer["expires_in"] / 60.0))
        return EXIT_OK
    token = _debug_token(args.run_dir)
    if token is None:
        print("error: no debug session is open", file=sys.stderr)
        return EXIT_FAILURE
    answer = _control(args.run_dir, {"cmd": "debug_" + args.action, "token": token})
    if answer is None:
        return EXIT_FAILURE
    print("# debug session, %d s left, %d entries" % (answer["expires_in"], len(answer["entries"])))
    for ago, category, text in answer["entries"]:
        print("%7.1f s %-14s %s" % (ago, category, text))
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


def guard_for(config_dir, state_dir, guard_file=None, root=""):
    """The BootGuard (net/guard.py) over the files the agent reads: the UCI
    file in config_dir, the ISP's provisioning file in state_dir (with the
    read-only /rom copy behind the router's own /etc/vpnspot), guard.d in
    state_dir. `root` prefixes the router's own paths (IPKG_INSTROOT)."""
    from vpnspot_router import configstore
    from vpnspot_router.net import guard as gd_mod
    prov = (os.path.join(state_dir, "provisioning"),)
    if os.path.normpath(state_dir) == os.path.normpath(root + "/etc/vpnspot"):
        prov = tuple(root + p for p in configstore.PROVISIONING_PATHS)
    paths = configstore.Paths(os.path.join(config_dir, "vpnspot"), prov)
    return gd_mod.BootGuard(paths, state_dir, guard_file or root + gd_mod.GUARD_FILE)


def cmd_guard(args):
    """`vpnspot guard sync|status`: the boot guard as the settings want it."""
    from vpnspot_router.net import guard as gd_mod
    root = args.root if args.root is not None else os.environ.get("IPKG_INSTROOT", "")
    guard = guard_for(args.config_dir or root + "/etc/config", args.state_dir or root + "/etc/vpnspot",
                      args.guard_file, root)
    if args.action == "status":
        try:
            state = guard.nft.status()
        except gd_mod.GuardError as e:
            print("error: %s" % e, file=sys.stderr)
            return EXIT_FAILURE
        print(json.dumps(state, sort_keys=True) if args.json else
              "boot guard %s%s" % ("loaded" if state["loaded"] else "absent",
                                   "" if not state["loaded"] else ", LAN DNS to the router %s, "
                                   "LAN devices %s" % ("blocked" if state["dns_guard"] else "allowed",
                                                       ", ".join(state["lan_devices"]) or "-")))
        return EXIT_OK if state["loaded"] else 3
    try:
        result = guard.sync(lan_devices=_guard_lan_devices(
            args, guard, args.config_dir or root + "/etc/config"))
    except gd_mod.GuardError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    print(gd_mod.describe(result))
    if result["problem"]:
        print("error: %s" % result["problem"], file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def register(sub):
    guard = sub.add_parser("guard", help="the boot guard: sync it with the settings, or show it")
    guard.add_argument("action", choices=["sync", "status"])
    guard.add_argument("--root", help="prefix for the router's own paths (default: $IPKG_INSTROOT)")
    guard.add_argument("--config-dir", help="UCI directory (file vpnspot; default ROOT/etc/config)")
    guard.add_argument("--state-dir", help="provisioning file and guard.d (default ROOT/etc/vpnspot)")
    guard.add_argument("--guard-file", help="the guard fw4 includes (default ROOT%s)"
                       % "/usr/share/nftables.d/ruleset-post/90-vpnspot.nft")
    guard.add_argument("--lan", action="append", metavar="DEV",
                       help="a LAN device the guard covers, may repeat (default: as last synced)")
    guard.add_argument("--json", action="store_true", help="status as JSON")
    guard.add_argument("--run-dir", default=DEFAULT_RUN_DIR,
                       help="the running agent's, asked to follow the LAN networks too")
    guard.set_defaults(func=cmd_guard)

    agent = sub.add_parser("agent", help="run the router agent in the foreground")
    agent.add_argument("--wg-config", help="a fixed WireGuard config (technician mode); without "
                       "it the agent enrolls, chooses servers and fails over by itself")
    agent.add_argument("--settings", help="settings file with --wg-config (kill_switch, dns, ...)")
    agent.add_argument("--run-dir", default=DEFAULT_RUN_DIR, help="where status files go")
    agent.add_argument("--syslog", action="store_true",
                       help="log to syslog (falls back to stderr when there is none)")
    agent.add_argument("--syslog-socket", default=SYSLOG_SOCKET, help="(default %(default)s)")
    agent.add_argument("--config-dir", default="/etc/config", help="UCI directory (file vpnspot)")
    agent.add_argument("--state-dir", default="/etc/vpnspot",
                       help="device.json, the router's key, report queue (default %(default)s)")
    agent.add_argument("--guard-file", help="the boot guard fw4 includes, kept in step with the "
                       "settings (default /usr/share/nftables.d/ruleset-post/90-vpnspot.nft)")
    agent.add_argument("--lan", action="append", metavar="DEV",
                       help="a LAN device to cover, may repeat (a lab, a non-OpenWrt host); "
                       "default: every LAN network in /etc/config/network and firewall "
                       "(main.lan_networks), followed on `vpnspot guard sync`")
    agent.add_argument("--wan", default="wan")
    agent.add_argument("--tunnel", default="vpnspot0")
    agent.add_argument("--web-listen", metavar="ADDR:PORT",
                       help="hold the web UI's socket on the LAN address and start `vpnspot web` "
                       "when a browser connects (instead of an always-on web process)")
    agent.add_argument("--web-redirect-port", type=int, metavar="PORT",
                       help="also hold a plain-HTTP port that redirects to HTTPS")
    agent.add_argument("--web-name", action="append", metavar="HOST",
                       help="another name the web UI answers to (Host header), may repeat")
    agent.add_argument("--web-idle-exit", type=int, default=300, metavar="SECONDS",
                       help="the web process stops after this long without a request "
                       "(default %(default)s)")
    agent.set_defaults(func=cmd_agent)

    connect = sub.add_parser("connect", help="connect now (optionally to a region or server)")
    where = connect.add_mutually_exclusive_group()
    where.add_argument("--region", help="a region id such as nl-ams, or fastest")
    where.add_argument("--server", help="a server id from `vpnspot servers`")
    connect.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    connect.set_defaults(func=cmd_connect)

    disconnect = sub.add_parser("disconnect", help="stop the tunnel (the kill switch stays)")
    disconnect.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    disconnect.set_defaults(func=cmd_disconnect)

    debug = sub.add_parser("debug", help="debug session: open [--ttl MIN] | close | show | status")
    debug.add_argument("action", choices=["open", "close", "show", "status"])
    debug.add_argument("--ttl", type=int, help="minutes (default 30, at most 1440)")
    debug.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    debug.set_defaults(func=cmd_debug)

    status = sub.add_parser("status", help="show the agent's and the tunnel's state")
    status.add_argument("--json", action="store_true")
    status.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    status.set_defaults(func=cmd_status)

    ks = sub.add_parser("killswitch", help="load, remove or show the kill switch (for boot)")
    ks.add_argument("action", choices=["apply", "remove", "status"])
    ks.add_argument("--settings", help="settings file (apply)")
    ks.add_argument("--wg-config", help="WireGuard config, to know the tunnel's resolver (apply)")
    ks.set_defaults(func=cmd_killswitch)
