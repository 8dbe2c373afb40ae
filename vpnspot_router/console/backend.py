"""What the serial console can ask of the router: a narrow interface, the
real implementation over what exists today, and a fake for tests.

The interface (every method returns JSON-able data or raises ConsoleError;
render.py turns the data into text):

  status()                 -> {state, server, handshake_age, rx_bytes, tx_bytes,
                               kill_switch, agent, provider, notes}
  diag()                   -> {checks: [{name, result: PASS|FAIL, hint}]}
  servers()                -> {servers: [{id, region, country, city, load, ipv6, endpoint}]}
  connect(target)          -> raises Unavailable until the supervisor exists
  disconnect()             -> idem
  logs(n)                  -> {lines, source}
  debug_open(minutes)      -> {expires_in}
  debug_close()            -> {purged}   (any open session, whoever opened it)
  debug_show()             -> {entries: [[time, category, text]], expires_in}
  config_get(key)          -> {settings: {key: {value, source, locked, staged}}}
  config_set(key, value)   -> {key, value}            (staged, not yet saved)
  config_diff()            -> {changes: [[key, old, new]]}
  config_commit()          -> {changes, saved, note}  (one atomic write)
  config_revert()          -> {dropped}
  factory_reset()          -> {erased, restored, kept, note}   (factoryreset.py's list)
  bundle()                 -> {base64, bytes, sha256}
  tick(now)                -> None (debug session expiry)

Exception tree:  Exception -> ConsoleError (status "error")
                                -> Unavailable (status "unavailable")

The real backend reads: the settings through configstore (ISP locks
included), the agent's and tunnel's status files in RUN_DIR (formats of
agent.py and tunnel/dataplane.py), the enrollment in STATE_DIR/device.json,
the crypto decision (crypto/select.py, from its cache when present), the
kernel's view of the WAN (/proc/net/route, /sys/class/net), and the agent
log through `logread` (OpenWrt) or a log file. What needs the agent
supervisor (connect, disconnect, agent events in a debug session) says
plainly that it is not available rather than pretend.

The debug session is the agent's while it runs (one session for the web
UI, `vpnspot debug` and this console; any of them sees that it is open and
may end it; only its opener sees its entries): the console's own detail
(endpoint addresses, unfiltered log lines) is added to it. Without an agent
the console keeps its own session in this process's RAM (core/
debugsession.py), gone on close, expiry, or when the console exits.
"""

import base64
import errno
import gzip
import hashlib
import json
import os
import socket
import struct
import subprocess
import time

from vpnspot_router.console.privacy import scrub
from vpnspot_router.core import config as core_config
from vpnspot_router.core import debugsession, uci
from vpnspot_router.store import pid_alive

NO_SUPERVISOR = "not available: the agent supervisor is not running"
HANDSHAKE_FRESH = 180.0     # WireGuard's REJECT_AFTER_TIME: older, no session is usable
WG_OVERHEAD = 80            # outer IPv6 (40) + UDP (8) + WireGuard (32)
PASS = "PASS"
FAIL = "FAIL"


class ConsoleError(Exception):
    """A request that could not be done; the message says why, for the technician."""


class Unavailable(ConsoleError):
    """The request needs a part of the router that is not running."""


def _check(name, ok, hint):
    return {"name": name, "result": PASS if ok else FAIL, "hint": hint}


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _field_text(field, value):
    text = core_config.to_text(field, value)
    if field.is_list:
        return " ".join(text) or "(none)"
    if field.key == "account_email":
        return core_config.mask_email(text)
    return text


def encode_bundle(obj, allowed):
    """JSON -> privacy filter -> gzip -> base64 text (lines of 76)."""
    text = scrub(json.dumps(obj, indent=1, sort_keys=True), allowed)
    raw = gzip.compress(text.encode("utf-8"), mtime=0)
    b64 = base64.encodebytes(raw).decode("ascii")
    return {"base64": b64, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "format": "gzip+json"}


def decode_bundle(b64):
    """The technician's side: base64 text -> the bundle's JSON object."""
    return json.loads(gzip.decompress(base64.b64decode("".join(b64.split()))))


class _Staged:
    """Config changes staged by `config set`, committed together."""

    def __init__(self):
        self.changes = {}       # key -> text (list of str for list fields)


class RealBackend:
    def __init__(self, paths=None, run_dir="/run/vpnspot", state_dir="/etc/vpnspot",
                 log_file="/tmp/log/vpnspot.log", logread="logread", crypto_cache=None,
                 hw_root="/", net_root="/", clock=time.time, random_bytes=os.urandom,
                 supervisor=None, reset_places=None, stop_timeout=30):
        from vpnspot_router import configstore
        self.paths = paths or configstore.Paths()
        self.run_dir = run_dir
        self.state_dir = state_dir
        self.log_file = log_file
        self.logread = logread
        self.crypto_cache = crypto_cache
        self.hw_root = hw_root
        self.net_root = net_root
        self.clock = clock
        self.debug = debugsession.DebugSession(random_bytes)
        self.debug_token = None         # of the console's own session (no agent running)
        self.agent_debug_token = None   # of the agent's session this console opened
        self.staged = _Staged()
        self.supervisor = supervisor    # the agent supervisor's control interface, when it exists
        self.reset_places = reset_places    # factoryreset.Places; None: from the dirs above
        self.stop_timeout = stop_timeout
        self.guard = None               # net/guard.BootGuard; None: the router's own

    # -- the agent's files --------------------------------------------------

    def _agent(self):
        agent = _read_json(os.path.join(self.run_dir, "agent.json"))
        if not isinstance(agent, dict):
            return None, False
        alive = pid_alive(agent.get("pid")) and agent.get("state") == "running"
        return agent, alive

    def _tunnel(self, agent):
        path = (agent or {}).get("tunnel_status") or os.path.join(self.run_dir, "tunnel.json")
        tunnel = _read_json(path)
        return tunnel if isinstance(tunnel, dict) else None

    def _settings(self):
        from vpnspot_router import configstore
        try:
            return configstore.load_settings(self.paths)
        except core_config.ConfigError as e:
            raise ConsoleError(str(e))

    def _peer(self, tunnel):
        peers = (tunnel or {}).get("peers") or []
        return peers[0] if peers else None

    def _allowed(self, tunnel):
        """What the privacy filter keeps: the gateway endpoints and the
        provider API's host (the service's names, not the household's)."""
        out = self._endpoints(tunnel)
        try:
            from urllib.parse import urlsplit
            host = urlsplit(self._settings()[0].api_url).hostname
        except (ConsoleError, ValueError):
            host = None
        if host:
            out.append(host)
        return out

    def _endpoints(self, tunnel):
        out = []
        for p in (tunnel or {}).get("peers") or []:
            for key in ("endpoint", "endpoint_name"):
                if p.get(key):
                    host = p[key].rsplit(":", 1)[0].strip("[]")
                    out.append(host)
        return out

    def status(self):
        now = self.clock()
        settings, problems = self._settings()
        agent, alive = self._agent()
        tunnel = self._tunnel(agent) if agent else None
        peer = self._peer(tunnel)
        age = None
        if peer and peer.get("last_handshake"):
            age = round(now - peer["last_handshake"], 1)
        if not alive:
            state = "not running"
        elif age is not None and age < HANDSHAKE_FRESH:
            state = "connected"
        else:
            state = "connecting"
        firewall = self._firewall()
        if firewall is None:
            kill = "unknown"
        else:
            kill = "on" if firewall.get("kill_switch") else "off"
        out = {"state": state, "agent": "running" if alive else "not running",
               "server": peer and (peer.get("endpoint_name") or peer.get("endpoint")),
               "handshake_age": age,
               "rx_bytes": peer.get("rx_bytes") if peer else None,
               "tx_bytes": peer.get("tx_bytes") if peer else None,
               "kill_switch": kill, "kill_switch_setting": settings.kill_switch,
               "enabled": settings.enabled, "region": settings.region,
               "provider": settings.provider_name,
               "enrolled": os.path.exists(os.path.join(self.state_dir, "device.json")),
               "notes": list(problems)}
        if not alive:
            out["notes"].append("the agent is not running: " + NO_SUPERVISOR)
        sup = ((agent or {}).get("supervisor") or {}) if alive else {}
        if sup.get("server_source") == "own":
            # The household's own WireGuard server (its endpoint is the one
            # address, like a gateway's, that may be shown).
            out["server"] = "your own server (%s)" % (sup.get("own_endpoint") or "not connected")
            if sup.get("own_problem"):
                out["notes"].append("your own server cannot be used: %s" % sup["own_problem"])
        out["debug_session"] = self.debug_summary(now)
        self._record(now, [("status", "endpoints %s" % " ".join(self._endpoints(tunnel)))])
        return out

    def _firewall(self):
        try:
            from vpnspot_router.net import firewall
            return firewall.Firewall().status()
        except Exception:       # no nft, not root, or a newer module: unknown, not fatal
            return None

    # -- diag ---------------------------------------------------------------

    def _default_route(self):
        """(ifname, gateway dotted) of the IPv4 default route, or (None, None)."""
        try:
            with open(os.path.join(self.net_root, "proc/net/route")) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            return None, None
        best = None
        for line in lines:
            parts = line.split()
            if len(parts) < 8 or parts[1] != "00000000" or parts[7] != "00000000":
                continue
            metric = int(parts[6]) if parts[6].isdigit() else 0
            if best is None or metric < best[0]:
                gw = socket.inet_ntoa(struct.pack("<I", int(parts[2], 16)))
                best = (metric, parts[0], gw)
        return (best[1], best[2]) if best else (None, None)

    def _sys_net(self, ifname, name):
        try:
            with open(os.path.join(self.net_root, "sys/class/net", ifname, name)) as f:
                return f.read().strip()
        except OSError:
            return None

    def _path_mtu(self, host, port):
        """The kernel's path MTU towards the endpoint (no packet is sent)."""
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(1.0)
            if s.family == socket.AF_INET:
                s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_MTU_DISCOVER", 10), 2)
                s.connect((host, port))
                return s.getsockopt(socket.IPPROTO_IP, getattr(socket, "IP_MTU", 14))
            s.connect((host, port))
            return s.getsockopt(socket.IPPROTO_IPV6, getattr(socket, "IPV6_MTU", 24))
        finally:
            s.close()

    def diag(self):
        now = self.clock()
        checks = []
        try:
            settings, problems = self._settings()
            checks.append(_check("settings", not problems,
                                 "/etc/config/vpnspot is valid" if not problems else problems[0]))
        except ConsoleError as e:
            settings = core_config.Settings()
            checks.append(_check("settings", False, str(e)))
        ifname, gw = self._default_route()
        if ifname is None:
            checks.append(_check("WAN link", False, "no default route: check the WAN cable "
                                 "and the ISP's DHCP/PPPoE"))
        else:
            state = self._sys_net(ifname, "operstate")
            carrier = self._sys_net(ifname, "carrier")
            up = state in ("up", "unknown") and carrier != "0"
            checks.append(_check("WAN link", up, "%s is %s, default route via %s"
                                 % (ifname, state or "?", gw) if up else
                                 "%s is %s: check the WAN cable" % (ifname, state or "?")))
        enrolled = os.path.exists(os.path.join(self.state_dir, "device.json"))
        checks.append(_check("enrollment", enrolled, "this router is enrolled" if enrolled else
                             "not enrolled: run vpnspot enroll with the household's code"))
        agent, alive = self._agent()
        tunnel = self._tunnel(agent) if alive else None
        plan = (agent or {}).get("plan") or {}
        checks.append(_check("agent", alive, "running, pid %s" % agent.get("pid") if alive else
                             NO_SUPERVISOR))
        peer = self._peer(tunnel)
        last = peer.get("last_handshake") if peer else None
        age = None if last is None else now - last
        if not alive:
            checks.append(_check("DNS through the tunnel", False, NO_SUPERVISOR))
        else:
            dns = plan.get("dns")
            checks.append(_check("DNS through the tunnel", bool(dns) and age is not None
                                 and age < HANDSHAKE_FRESH,
                                 "LAN DNS goes to %s through the tunnel" % dns if dns else
                                 "no tunnel DNS in the agent's plan"))
        endpoint = peer.get("endpoint") if peer else None
        if not alive:
            checks.append(_check("endpoint reachable", False, NO_SUPERVISOR))
        else:
            fresh = age is not None and age < HANDSHAKE_FRESH
            checks.append(_check("endpoint reachable", fresh,
                                 "the gateway %s answered" % endpoint if fresh else
                                 "no answer from %s: check that the WAN lets UDP out"
                                 % (endpoint or "the gateway")))
        if age is None:
            checks.append(_check("handshake age", False, "never" + ("" if alive else
                                                                 ": " + NO_SUPERVISOR)))
        else:
            checks.append(_check("handshake age", age < HANDSHAKE_FRESH,
                                 "%d s ago" % age if age < HANDSHAKE_FRESH else
                                 "%d s ago, over %d s: the tunnel is down" % (age, HANDSHAKE_FRESH)))
        checks.append(self._mtu_check(settings, ifname, endpoint))
        checks.append(self._killswitch_check(settings, alive))
        checks.append(self._crypto_check())
        self._record(now, [("diag", "WAN %s via %s; endpoint %s" % (ifname, gw, endpoint))])
        return {"checks": checks}

    def _mtu_check(self, settings, ifname, endpoint):
        wan_mtu = self._sys_net(ifname, "mtu") if ifname else None
        path = None
        if endpoint:
            host, _, port = endpoint.rpartition(":")
            try:
                path = self._path_mtu(host.strip("[]"), int(port))
            except (OSError, ValueError):
                path = None
        limit = path or (int(wan_mtu) if wan_mtu and wan_mtu.isdigit() else None)
        if limit is None:
            return _check("MTU", False, "no WAN MTU known (no default route)")
        tunnel = limit - WG_OVERHEAD if settings.mtu == "auto" else settings.mtu
        ok = tunnel + WG_OVERHEAD <= limit and tunnel >= 1280
        where = "path MTU %d to the gateway" % path if path else "WAN MTU %d" % limit
        if ok:
            return _check("MTU", True, "tunnel %d fits %s" % (tunnel, where))
        return _check("MTU", False, "tunnel %d does not fit %s; config set mtu %d"
                      % (tunnel, where, max(1280, limit - WG_OVERHEAD)))

    def _killswitch_check(self, settings, alive):
        fw = self._firewall()
        if not settings.kill_switch:
            return _check("route and kill switch", False,
                          "the kill switch is switched off in the settings")
        if fw is None:
            return _check("route and kill switch", False,
                          "cannot read the firewall (nft missing or not root)")
        if not fw.get("kill_switch"):
            return _check("route and kill switch", False,
                          "kill switch not loaded: LAN traffic is not protected; restart the agent")
        return _check("route and kill switch", True,
                      "LAN traffic can leave only through the tunnel")

    def _crypto_check(self):
        try:
            from vpnspot_router.crypto import select
            from vpnspot_router.hw import probe
            profile = probe.probe(self.hw_root)
            decision = select.choose(profile, cache_path=self.crypto_cache or select.DEFAULT_CACHE)
        except Exception as e:      # a probe failure is a finding, not a crash
            return _check("crypto engine", False, "cannot decide: %s" % e)
        agent, alive = self._agent()
        plane = (agent or {}).get("data_plane") if alive else None
        if isinstance(plane, dict) and plane.get("backend"):
            # What the running agent uses, which may differ from the decision
            # (kernel WireGuard failed to start: userspace carries the tunnel).
            provider = "kernel" if plane["backend"] == "kernel" else decision.provider
            return _check("crypto engine", True, "%s/%s (in use): %s"
                          % (plane["backend"], provider, plane.get("reason") or decision.reason))
        return _check("crypto engine", True, "%s/%s: %s" % (decision.data_plane, decision.provider,
                                                           decision.reason))

    # -- servers, connect ---------------------------------------------------

    def servers(self):
        from vpnspot_router.provider import commands
        from vpnspot_router.provider.client import ProviderClient, ProviderError
        saved = commands.load_device(self.state_dir)
        if not saved:
            raise ConsoleError("this router is not enrolled: run vpnspot enroll first")
        try:
            client = ProviderClient(saved["api_url"], device_token=saved["device_token"],
                                    ca_file=saved["ca_file"], resolve=saved["resolve"],
                                    timeout=5.0, retries=0)
            servers = client.servers()
        except ProviderError as e:
            raise ConsoleError(e.message)
        return {"servers": [dict(s._asdict()) for s in servers]}

    def _control(self, request, unavailable):
        # The running agent's control socket (driver.py); without an agent
        # the answer says so plainly.
        from vpnspot_router import driver
        try:
            answer = driver.control_call(self.run_dir, request)
        except driver.DriverError:
            raise Unavailable(unavailable)
        if not answer.get("ok"):
            raise ConsoleError(answer.get("error") or "the agent refused")
        return answer

    def connect(self, target):
        if self.supervisor is None:
            answer = self._control({"cmd": "connect", "target": target},
                                   NO_SUPERVISOR + "; to choose a server for the next start: "
                                   "config set server ID, then config commit")
            return {"state": answer["state"], "server": answer.get("server")}
        return self.supervisor.connect(target)

    def disconnect(self):
        if self.supervisor is None:
            answer = self._control({"cmd": "disconnect"}, NO_SUPERVISOR)
            return {"state": answer["state"]}
        return self.supervisor.disconnect()

    # -- logs ---------------------------------------------------------------

    def _raw_logs(self, n):
        try:
            proc = subprocess.run([self.logread, "-e", "vpnspot", "-l", str(n)],
                                  capture_output=True, text=True, timeout=5, errors="replace")
            if proc.returncode == 0:
                return proc.stdout.splitlines()[-n:], "logread"
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            with open(self.log_file, errors="replace") as f:
                return [l.rstrip("\n") for l in f.readlines()[-n:]], self.log_file
        except OSError:
            pass
        agent, _ = self._agent()
        events = [e.get("event", "") for e in (agent or {}).get("events", [])][-n:]
        if events:
            return ["%s" % e for e in events], "agent status file (recent events)"
        return [], "none (no logread, no %s, no agent status)" % self.log_file

    def logs(self, n):
        now = self.clock()
        lines, source = self._raw_logs(n)
        agent, _ = self._agent()
        allowed = self._allowed(self._tunnel(agent) if agent else None)
        self._record(now, [("log", line) for line in lines])
        return {"lines": [scrub(l, allowed) for l in lines], "source": source}

    # -- debug session ------------------------------------------------------
    #
    # One session for the whole router: while the agent runs, the console
    # opens, ends and reads the agent's (the web UI and `vpnspot debug` see
    # the same one, and any of them may end it), and adds its own detail
    # (endpoint addresses, unfiltered log lines) to it with debug_record.
    # Without an agent there is nothing else to observe: the console keeps a
    # session of its own in this process's RAM, gone when it ends or the
    # console exits.

    def _record(self, now, entries):
        """Keep (category, text) entries in whichever session is open."""
        if self.agent_debug_token is not None:
            try:
                self._control({"cmd": "debug_record", "token": self.agent_debug_token,
                               "entries": [[c, t] for c, t in entries]}, NO_SUPERVISOR)
            except ConsoleError:
                # Ended by another administrator, expired, or the agent is
                # gone: nothing more is kept anywhere.
                self.agent_debug_token = None
            return
        for category, text in entries:
            self.debug.record(now, category, text)

    def _agent_debug(self):
        """The agent's debug summary, or None when no agent answers."""
        try:
            return self._control({"cmd": "debug_status"}, NO_SUPERVISOR)
        except ConsoleError:
            return None

    def debug_summary(self, now=None):
        now = self.clock() if now is None else now
        agent = self._agent_debug()
        if agent is not None and agent.get("open"):
            return {"open": True, "opened_by": agent.get("opened_by"),
                    "expires_in": int(agent["expires_in"]), "where": "agent"}
        if self.debug.is_open(now):
            return {"open": True, "opened_by": "console",
                    "expires_in": int(self.debug.expires_at - now), "where": "console"}
        return {"open": False, "opened_by": None, "expires_in": None, "where": None}

    def tick(self, now=None):
        now = self.clock() if now is None else now
        if self.debug.tick(now):
            self.debug_token = None

    def debug_open(self, minutes):
        now = self.clock()
        self.tick(now)
        if minutes is None:
            try:
                minutes = self._settings()[0].debug_ttl_default
            except ConsoleError:
                minutes = debugsession.DEFAULT_TTL // 60
        agent = self._agent_debug()
        if agent is not None:
            if agent.get("open"):
                raise ConsoleError("a debug session is already open (opened from the %s, %d min "
                                   "left); debug close ends it" % (agent.get("opened_by") or "?",
                                                                   agent["expires_in"] // 60))
            answer = self._control({"cmd": "debug_open", "ttl": minutes * 60, "by": "console"},
                                   NO_SUPERVISOR)
            self.agent_debug_token = answer.get("token")
            return {"expires_in": minutes * 60, "agent_events": "included"}
        try:
            self.debug_token = self.debug.open(now, minutes * 60, "console")
        except debugsession.DebugSessionError as e:
            raise ConsoleError(str(e))
        return {"expires_in": minutes * 60,
                "agent_events": NO_SUPERVISOR if self.supervisor is None else "included"}

    def debug_close(self):
        """Ends the open session, whoever opened it (web UI, command line,
        this console); what it recorded is deleted."""
        now = self.clock()
        self.tick(now)
        purged = None
        agent = self._agent_debug()
        if agent is not None and agent.get("open"):
            answer = self._control({"cmd": "debug_close"}, NO_SUPERVISOR)
            purged = int(answer.get("purged") or 0)
        self.agent_debug_token = None
        if self.debug.state == debugsession.OPEN:
            purged = (purged or 0) + len(self.debug.entries)
            self.debug.end(now)
            self.debug_token = None
        if purged is None:
            raise ConsoleError("no debug session is open")
        return {"purged": purged}

    def debug_show(self):
        now = self.clock()
        self.tick(now)
        agent = self._agent_debug()
        if agent is not None and agent.get("open"):
            if self.agent_debug_token is None:
                raise ConsoleError("a debug session opened from the %s is open (%d min left); "
                                   "only whoever opened it sees what it records; debug close "
                                   "ends it" % (agent.get("opened_by") or "?",
                                                agent["expires_in"] // 60))
            answer = self._control({"cmd": "debug_show", "token": self.agent_debug_token},
                                   NO_SUPERVISOR)
            return {"entries": [[int(now + ago), c, x] for ago, c, x in answer["entries"]],
                    "expires_in": int(answer["expires_in"])}
        try:
            entries = self.debug.show(self.debug_token, now)
        except debugsession.DebugSessionError as e:
            raise ConsoleError(str(e))
        return {"entries": [list(e) for e in entries],
                "expires_in": int(self.debug.expires_at - now)}

    # -- config -------------------------------------------------------------

    def config_get(self, key=None):
        settings, problems = self._settings()
        out = {}
        for f in core_config.FIELDS:
            if key and f.key != key:
                continue
            staged = self.staged.changes.get(f.key)
            if staged is not None and f.is_list:
                staged = " ".join(staged) or "(none)"
            out[f.key] = {"value": _field_text(f, getattr(settings, f.key)),
                          "source": settings.source[f.key],
                          "locked": settings.locked.get(f.key), "staged": staged}
        return {"settings": out, "notes": problems}

    def _apply(self, text, settings, provisioning, changes):
        """The household file text with `changes` applied, validated whole."""
        doc = uci.parse(text, self.paths.config_path)
        for key, value in changes.items():
            core_config.change(doc, settings, key, value)
        new_text = doc.serialize()
        new_settings = core_config.load(new_text, provisioning, self.paths.config_path)
        return new_text, new_settings

    def _current(self):
        from vpnspot_router import configstore
        from vpnspot_router.store import FileStore
        try:
            provisioning = configstore.load_provisioning(self.paths)
        except core_config.ConfigError as e:
            raise ConsoleError(str(e))
        store = FileStore(self.paths.config_path)
        result = store.read(configstore._validator(self.paths, provisioning))
        text = result.data.decode("utf-8") if result.data is not None else ""
        settings = core_config.load(text or None, provisioning, self.paths.config_path)
        return store, provisioning, text, settings

    def config_set(self, key, value):
        store, provisioning, text, settings = self._current()
        changes = dict(self.staged.changes)
        changes[key] = value
        pending = None
        try:
            self._apply(text, settings, provisioning, changes)
        except core_config.PairError as e:
            # dns_mode custom and its dns_servers: staged one at a time, so
            # the second is still to come; config commit refuses them apart.
            pending = _config_message(e)
        except core_config.ConfigError as e:
            raise ConsoleError(_config_message(e))
        self.staged.changes = changes
        return {"key": key, "value": value, "pending": pending}

    def config_diff(self):
        store, provisioning, text, settings = self._current()
        try:
            new_text, new_settings = self._apply(text, settings, provisioning, self.staged.changes)
        except core_config.ConfigError as e:
            raise ConsoleError(_config_message(e))
        return {"changes": [list(c) for c in core_config.diff(settings, new_settings)]}

    def config_commit(self):
        if not self.staged.changes:
            return {"changes": [], "saved": None, "note": "nothing staged"}
        store, provisioning, _, _ = self._current()
        validate = lambda data: core_config.load(data.decode("utf-8"), provisioning,
                                                 self.paths.config_path)
        with store.locked():
            # Re-read under the lock: the web UI may have saved in between.
            result = store.read(validate)
            text = result.data.decode("utf-8") if result.data is not None else ""
            settings = core_config.load(text or None, provisioning, self.paths.config_path)
            try:
                new_text, new_settings = self._apply(text, settings, provisioning,
                                                     self.staged.changes)
            except core_config.ConfigError as e:
                raise ConsoleError(_config_message(e))
            os.makedirs(os.path.dirname(os.path.abspath(self.paths.config_path)), exist_ok=True)
            store.write(new_text.encode("utf-8"))
        self.staged.changes = {}
        changes = [list(c) for c in core_config.diff(settings, new_settings)]
        changed = set(c[0] for c in changes)
        notes = []
        if "kill_switch" in changed:
            # The running agent reloads its firewall and routes at once (the
            # web UI sends the same request); the file is already saved.
            state = "on" if new_settings.kill_switch else "off"
            try:
                self._control({"cmd": "kill_switch", "on": bool(new_settings.kill_switch)},
                              NO_SUPERVISOR)
                notes.append("the agent turned the kill switch %s now" % state)
            except Unavailable as e:
                notes.append("the kill switch was not changed now (%s); it is %s from the "
                             "agent's next start" % (e, state))
                notes += [n for n in [self._sync_guard()] if n]
            except ConsoleError as e:
                notes.append("the kill switch was not changed now (%s); it is %s from the "
                             "agent's next start" % (e, state))
        if "server_source" in changed:
            # Which server the tunnel goes to is switched by the running
            # agent at once (the web UI sends the same request), which takes
            # it into its settings: the reload below does not switch again.
            try:
                self._control({"cmd": "server_source", "source": new_settings.server_source},
                              NO_SUPERVISOR)
                notes.append("the agent switched to %s now" % (
                    "your own server" if new_settings.server_source == "own" else
                    "VPN Spot servers"))
            except ConsoleError as e:
                notes.append("the agent did not switch now (%s); it reads the file when it "
                             "starts" % e)
        rest = [c[0] for c in changes if c[0] not in ("kill_switch", "server_source")]
        if rest:
            # The running agent reads the files again ("reload", as SIGHUP)
            # and answers what it applied now and what waits for a restart.
            from vpnspot_router import applynote
            try:
                answer = self._control({"cmd": "reload"}, NO_SUPERVISOR)
            except Unavailable:
                answer = None
            except ConsoleError as e:
                answer = {"ok": False, "error": str(e)}
            if answer is None:
                if "dns_mode" in changed:
                    # The boot guard lets LAN DNS to the router through only
                    # with dns_mode isp: with no agent, it follows here.
                    notes += [n for n in [self._sync_guard()] if n]
                if notes:
                    notes.append("the other changes apply when the agent starts")
            else:
                done = applynote.summarize(rest, answer)
                if not answer.get("ok") and "dns_mode" in changed:
                    try:
                        self._control({"cmd": "guard_sync"}, NO_SUPERVISOR)
                    except Unavailable:
                        notes += [n for n in [self._sync_guard()] if n]
                if done["problem"]:
                    notes.append(done["problem"])
                notes.append(applynote.sentence(done))
        if not notes:
            notes.append(("applying it now is " + NO_SUPERVISOR + "; the agent reads it when "
                          "it starts") if self.supervisor is None else "the agent is applying it")
        return {"changes": changes, "saved": self.paths.config_path, "note": "; ".join(notes)}

    def _sync_guard(self):
        """With no agent running (main.enabled 0, say), the boot guard
        follows kill_switch and dns_mode here, by the one code path that
        owns it (net/guard.py). Returns a note for the technician."""
        from vpnspot_router.net import guard as gd_mod
        guard = self.guard or gd_mod.BootGuard(self.paths, self.state_dir)
        if not guard.installed():
            return None         # not the package's install: nothing to keep in step
        try:
            return gd_mod.describe(guard.sync())
        except gd_mod.GuardError as e:
            raise ConsoleError("saved, but the boot guard did not follow: %s" % e)

    def config_revert(self):
        count = len(self.staged.changes)
        self.staged.changes = {}
        return {"dropped": count}

    # -- factory reset, bundle ------------------------------------------------

    def _reset_places(self):
        from vpnspot_router import factoryreset as fr
        if self.reset_places is not None:
            return self.reset_places
        on_router = self.state_dir == fr.STATE
        return fr.Places(config=self.paths.config_path, state=self.state_dir,
                         cache=os.path.dirname(self.crypto_cache) if self.crypto_cache
                         else (fr.CACHE if on_router else None),
                         run=self.run_dir, rom=fr.ROM if on_router else None,
                         guard_file=fr.GUARD_FILE if on_router else None)

    def _stop_agent(self):
        """A running agent stops first: on its way out it would write the
        bandwidth totals and reports back, and its web UI child its sessions.
        procd starts it again (fresh: not enrolled, a new key)."""
        agent, alive = self._agent()
        if not alive:
            return False
        try:
            self._control({"cmd": "factory_reset"}, NO_SUPERVISOR)
        except Unavailable:
            return False            # it ended in between
        deadline = time.monotonic() + self.stop_timeout
        while pid_alive(agent.get("pid")):
            if time.monotonic() >= deadline:
                raise ConsoleError("the agent did not stop within %d s; nothing was erased; "
                                   "stop it (/etc/init.d/vpnspot stop) and run factory-reset "
                                   "again" % self.stop_timeout)
            time.sleep(0.05)
        return True

    def _agent_lock_held(self):
        """An agent holds RUN/agent.lock from its first moment (agent.py),
        before it answers on its control socket: one still starting."""
        import fcntl
        try:
            fd = os.open(os.path.join(self.run_dir, "agent.lock"), os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except OSError as e:
            return e.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
        finally:
            os.close(fd)

    def factory_reset(self):
        from vpnspot_router import factoryreset
        stopped = self._stop_agent()
        if self._agent_lock_held():
            raise ConsoleError("an agent is running (still starting?) and does not answer yet; "
                               "nothing was erased; try again in a minute, or stop it "
                               "(/etc/init.d/vpnspot stop) first")
        try:
            result = factoryreset.erase(self._reset_places())
        except (factoryreset.ResetError, OSError) as e:
            raise ConsoleError(str(e))
        except Exception as e:      # the guard (nft) after everything was erased
            raise ConsoleError("erased, but the boot guard could not be synced: %s" % e)
        self.staged.changes = {}
        self.agent_debug_token = None
        if self.debug.state == debugsession.OPEN:
            self.debug.end(self.clock())
            self.debug_token = None
        notes = ["the ISP's provisioning in the firmware image is kept; the household must "
                 "set a web UI password and enroll again"]
        if stopped:
            notes.append("the agent was stopped for the reset and starts again fresh")
        if result["guard"]:
            notes.append(result["guard"])
        return {"erased": result["erased"], "restored": result["restored"],
                "kept": result["kept"], "note": "; ".join(notes)}

    def bundle(self):
        now = self.clock()
        obj = {"bundle": 1, "time": int(now)}
        for name, call in (("status", self.status), ("diag", self.diag),
                           ("config", self.config_get), ("logs", lambda: self.logs(200))):
            try:
                obj[name] = call()
            except ConsoleError as e:
                obj[name] = {"error": str(e)}
        try:
            from vpnspot_router.crypto import select
            obj["agent_version"] = select.agent_version()
        except Exception:
            pass
        agent, _ = self._agent()
        return encode_bundle(obj, self._allowed(self._tunnel(agent) if agent else None))


def _config_message(e):
    """ConfigError names the file; on the console the field and reason matter."""
    field = getattr(e, "field", None)
    reason = getattr(e, "reason", None) or getattr(e, "message", None)
    if field and reason:
        return "%s: %s" % (field, reason)
    return str(e)
