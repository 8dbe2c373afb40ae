"""Backend over this router's own files and its running agent, for
`vpnspot web` without --fake.

What is real here and what still waits (each gap says so in the UI through
NotAvailable or a "not available yet" text; none pretends):

  real   settings / change_settings   /etc/config/vpnspot through configstore's
                                      paths and store.FileStore (locks, atomic write);
                                      then the running agent applies it: the kill switch
                                      by its own request, the rest by "reload" (what it
                                      applied now, what waits for a restart: the page
                                      says); kill_switch and dns_mode reach the boot
                                      guard (net/guard.py) through the agent, or here
                                      when none runs
  real   enroll                       provider client; device.json via
                                      provider/commands.save_device
  real   servers                      provider client with the saved device token
  real   select_server / set_region   written to the config file AND sent to the running
                                      agent (control socket "connect"), which reconnects
  real   status                       the agent's RUN_DIR/agent.json (supervisor state,
                                      server, live kill switch) and RUN_DIR/tunnel.json
                                      (handshake, counters)
  real   import / export              wg-quick text checked by core/wgconf.py, kept in
                                      STATE/wg-household.conf (0600); export reads
                                      the agent's config (agent.json "wg_config")
  real   own server                   use_own_server / use_vpnspot_servers write the
                                      option server_source (the provider's lock applies)
                                      AND send it to the running agent (control socket
                                      "server_source"), which switches at once
  real   debug session                opened, shown and closed in the agent through its
                                      control socket: the entries are the agent's own
                                      (transitions, endpoints, LAN neighbours), in its RAM
  real   about                        hw/probe.py + crypto/select.py (cached decision)
  real   latency_ms                   the agent's timed WireGuard handshakes from its last
                                      server choice (control socket "diagnose")
  real   DNS and MTU checks           checks.py, sent from here out of the tunnel
                                      interface to the resolver the agent's server gave;
                                      the handshake check reads the tunnel's status
  real   public_ip                    agent.json "exit_address": the address the VPN
                                      Spot service's connection check (GET /v1/connection)
                                      saw, asked by the agent out of the tunnel interface
                                      (exitcheck.py), and whether it is a VPN Spot exit;
                                      "checking..." until the first answer, a warning when
                                      the address is not VPN Spot's, "not checked" with
                                      the household's own server
  stub   traffic: reads STATE/accounting.json, the agent's checkpoint (written at
         most every checkpoint period, so the chart lags the live counters)

Control requests need the agent's control socket (root only, 0600), so this
backend runs as root on the router, as the agent does.
"""

import json
import os
import time

from vpnspot_router import configstore
from vpnspot_router.core import accounting, config
from vpnspot_router.core.wgconf import ConfigError, parse as wg_parse
from vpnspot_router.store import FileStore, pid_alive

from .backend import (Backend, BackendError, FieldError, HOUSEHOLD_KEYS, KILL_SWITCH_OFF_WARNING,
                      NotAvailable, OWN_SERVER_IN_USE, OWN_SERVER_NOTE, OWN_STATE_TEXT, STATE_TEXT,
                      apply_changes, check_wg_text, own_summary, own_warnings, render_wg_config,
                      settings_view)

HANDSHAKE_FRESH = 180
OWN_CONFIG = "wg-household.conf"        # = driver.OWN_CONFIG (not imported: the agent's module)
# What the status page says of the public address seen through the tunnel
# (agent.json "exit_address", written by the agent's exitcheck.py).
CHECKING = "checking..."
OWN_SERVER_TEXT = "not checked: your own server is not part of VPN Spot"
NOT_VPNSPOT_WARNING = ("Warning: through the tunnel, the VPN Spot service sees your traffic come "
                       "from %s, which is NOT a VPN Spot address: your traffic is not protected "
                       "by VPN Spot. Choose another server, or contact VPN Spot support.")
# Asked of the tunnel's resolver when the API is addressed by number: the
# root, which every recursive resolver answers.
CHECK_NAME = "."
# Supervisor states (core/supervisor.py) on the way to a tunnel.
CONNECTING_STATES = ("boot", "enrolled", "fetching", "registering", "choosing", "connecting",
                     "failing_over")


def _read_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


class RealBackend(Backend):
    def __init__(self, paths=None, state_dir="/etc/vpnspot", run_dir="/run/vpnspot",
                 clock=time.time):
        self.paths = paths or configstore.Paths()
        self.state_dir = state_dir
        self.run_dir = run_dir
        self.clock = clock
        self._server_info = {}
        self.guard = None           # net/guard.BootGuard; None: the router's own
        self._about = None
        self._last_counters = None

    # -- the running agent ------------------------------------------------------

    def _agent(self):
        """agent.json of a live agent in service mode, else None."""
        agent = _read_json(os.path.join(self.run_dir, "agent.json"))
        if agent and agent.get("mode") == "service" and agent.get("state") == "running" \
                and pid_alive(agent.get("pid")):
            return agent
        return None

    def _control(self, request, required=True):
        """One control request to the agent; NotAvailable when none runs
        (required) or None (not required)."""
        from vpnspot_router import driver
        try:
            answer = driver.control_call(self.run_dir, request, timeout=20)
        except (driver.DriverError, OSError):
            if required:
                raise NotAvailable("the VPN Spot agent is not running on this router; "
                                   "start it (/etc/init.d/vpnspot start) and try again")
            return None
        if not answer.get("ok"):
            raise BackendError(str(answer.get("error") or "the agent refused the request"))
        return answer

    # -- settings ---------------------------------------------------------------

    def _settings(self):
        try:
            settings, _problems = configstore.load_settings(self.paths)
        except ConfigError as e:
            raise BackendError("the settings cannot be read: %s" % e)
        return settings

    def settings(self):
        return settings_view(self._settings())

    def change_settings(self, changes):
        """Saved, then applied by the running agent now ("reload": what it
        can apply live, and what waits for a restart), or kept for its start.
        -> {"applied": bool (an agent took it), "now": [keys], "restart":
        [keys], "later": [keys], "note": str, "problem": str|None}."""
        return self._follow(changes, self._save(changes))

    def _save(self, changes):
        """The changes written (atomically, under the file's lock); the keys
        whose value changed."""
        try:
            provisioning = configstore.load_provisioning(self.paths)
        except ConfigError as e:
            raise BackendError("the provider's settings cannot be read: %s" % e)
        path = self.paths.config_path
        store = FileStore(path)

        def validate(data):
            config.load(data.decode("utf-8"), provisioning, path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with store.locked():
            result = store.read(validate)
            text = result.data.decode("utf-8") if result.data is not None else ""
            new_text, changed = apply_changes(text, provisioning, changes, path)
            if changed:
                store.write(new_text.encode("utf-8"))
        if not changed:
            return []
        try:
            return [c[0] for c in config.diff(config.load(text or None, provisioning, path),
                                              config.load(new_text, provisioning, path))]
        except ConfigError:
            return sorted(changes)

    def _follow(self, changes, keys):
        """The running agent applies the saved settings: the kill switch by
        its own request, as ever (it needs no settings file read), the rest
        by "reload", which answers what it applied now and what waits for a
        restart. With no agent running (main.enabled 0, say) the boot guard
        follows kill_switch and dns_mode here, by the one code path that
        owns it (net/guard.py); the rest applies when the agent starts."""
        from vpnspot_router import applynote
        rest = [k for k in keys if k != "kill_switch"]
        agent = self._agent() is not None
        now = []
        if "kill_switch" in changes and agent:
            if self._control({"cmd": "kill_switch", "on": self._settings().kill_switch},
                             required=False) is not None:
                now.append("kill_switch")
        answer = None
        if rest and agent:
            try:
                answer = self._control({"cmd": "reload"}, required=False)
            except BackendError as e:
                answer = {"ok": False, "error": e.message}
        # The boot guard follows the files: the agent's kill_switch and reload
        # requests sync it; else its guard_sync request, else this process.
        if ("kill_switch" in changes or "dns_mode" in keys) and not now \
                and not (answer and answer.get("ok")):
            if answer is None or self._control({"cmd": "guard_sync"}, required=False) is None:
                self._sync_guard()
        if answer is None:
            out = {"applied": bool(now), "now": now, "restart": [],
                   "later": [k for k in keys if k not in now], "problem": None}
            out["note"] = "saved" + ("; the kill switch is applied now" if now else "")
            if out["later"]:
                out["note"] += ("; the VPN Spot agent is not running: it applies %s when it "
                                "starts" % ", ".join(out["later"]))
            return out
        out = applynote.summarize(rest, answer)
        out["now"] = sorted(set(out["now"] + now))
        out["applied"] = bool(out["now"])
        out["note"] = "saved; " + applynote.sentence(out)
        return out

    def _sync_guard(self):
        from vpnspot_router.net import guard as gd_mod
        guard = self.guard or gd_mod.BootGuard(self.paths, self.state_dir)
        if not guard.installed():
            return
        try:
            guard.sync()
        except gd_mod.GuardError as e:
            raise BackendError("your choice is saved, but the router's boot guard did not "
                               "follow it: %s" % e)

    # -- provider ---------------------------------------------------------------

    def _device(self):
        from vpnspot_router.provider import commands
        return commands.load_device(self.state_dir)

    def _client(self, token=None, device=None, address=None):
        from vpnspot_router.provider.client import ProviderClient
        if device:
            return ProviderClient(device["api_url"], device_token=device["device_token"],
                                  ca_file=device["ca_file"], resolve=device.get("resolve") or {})
        if address and address["api_url"]:
            return ProviderClient(address["api_url"], ca_file=address["ca_file"],
                                  resolve=address["resolve"])
        s = self._settings()
        # The settings name the API with its version path; the client adds it.
        url = s.api_url[:-3] if s.api_url.endswith("/v1") else s.api_url
        return ProviderClient(url, ca_file=s.ca_file or None)

    def enroll(self, email, code):
        from vpnspot_router.provider import commands
        from vpnspot_router.provider.client import ProviderError
        email, code = email.strip(), code.strip()
        try:
            config.FIELD_BY_KEY["account_email"].check(email)
        except ValueError:
            raise FieldError("that is not an email address", field="email")
        s = self._settings()
        # A router enrolled before (`vpnspot enroll --api --ca --resolve`, a
        # technician, the lab demo) moves to another account at the service
        # it knows, as `vpnspot enroll` reuses the saved address; otherwise
        # the settings' api_url and ca_file name the service.
        saved = self._device() or {}
        if saved.get("api_url"):
            address = {"api_url": saved["api_url"], "ca_file": saved.get("ca_file"),
                       "resolve": saved.get("resolve") or {}}
        else:
            address = {"api_url": None, "ca_file": s.ca_file or None, "resolve": {}}
        try:
            client = self._client(address=address)
            enrollment = client.enroll(email, code)
        except ValueError:
            raise FieldError("the activation code is not in the expected form (codes look like "
                             "VPNS-7Q4K-M2XD)", field="code")
        except ProviderError as e:
            raise FieldError(e.message, field="code")
        commands.save_device(self.state_dir, {
            "api_url": client.api_url, "ca_file": address["ca_file"],
            "resolve": address["resolve"],
            "device_id": enrollment.device_id, "device_token": enrollment.device_token})
        self.change_settings({"account_email": email})

    def servers(self):
        from vpnspot_router.provider.client import ProviderError
        s = self._settings()
        if s.server_source == "own":
            # The router does not contact VPN Spot while the own server is in use.
            return {"selected": s.server or "fastest", "region": s.region, "servers": [],
                    "note": "VPN Spot's servers are not listed while your own server is in use."}
        device = self._device()
        if not device:
            raise BackendError("sign in with your VPN Spot account first")
        try:
            found = self._client(device=device).servers()
        except ProviderError as e:
            raise BackendError(e.message)
        self._server_info = {x.id: {"id": x.id, "region": x.region, "city": x.city,
                                    "country": x.country} for x in found}
        measured = self._diagnose() or {}
        latencies = measured.get("latencies") or {}
        if measured.get("probed_ago") is not None:
            note = ("Latency: a WireGuard handshake timed by this router when it last chose a "
                    "server, %s ago; \"not measured yet\": that server was not tried or did "
                    "not answer."
                    % _ago(measured["probed_ago"]))
        elif measured:
            note = "Latency: not measured yet; the router times each server when it chooses one."
        else:
            note = ("Latency: not available yet: the VPN Spot agent, which measures it, is not "
                    "running.")
        return {"selected": s.server or "fastest", "region": s.region,
                "servers": [{"id": x.id, "region": x.region, "country": x.country,
                             "city": x.city, "load": x.load,
                             "latency_ms": _ms(latencies.get(x.id))} for x in found],
                "note": note}

    def select_server(self, server_id):
        if self._settings().server_source == "own":
            raise FieldError(OWN_SERVER_IN_USE, field="server")
        if server_id == "fastest":
            self._choose({"server": "", "region": "fastest"},
                         {"cmd": "connect", "region": "fastest"})
            return
        known = [x["id"] for x in self.servers()["servers"]]
        if server_id not in known:
            raise FieldError("there is no server %r; pick one from the list" % server_id[:40],
                             field="server")
        self._choose({"server": server_id}, {"cmd": "connect", "server": server_id})

    def set_region(self, region):
        if region != "fastest":
            if region not in [x["region"] for x in self.servers()["servers"]]:
                raise FieldError("there is no region %r; pick one from the list" % region[:40],
                                 field="region")
        self._choose({"region": region, "server": ""}, {"cmd": "connect", "region": region})

    def _choose(self, changes, request):
        """Saved and reloaded; when the reload did not connect again (the
        household had disconnected, or chose what was already saved), the
        "connect" request does, as the choice asks."""
        done = self.change_settings(changes)
        if not set(done["now"]) & {"region", "server"}:
            self._reconnect(request)

    def _diagnose(self):
        """The running agent's "diagnose" answer, or None without one (or
        with an agent too old to know the request)."""
        if self._agent() is None:
            return None
        try:
            return self._control({"cmd": "diagnose"}, required=False)
        except BackendError:
            return None

    def _reconnect(self, request):
        """The choice is saved either way; a running agent also acts on it now
        (without one, it takes the saved choice when it starts). With the
        own server in use the choice waits for the switch back."""
        if self._agent() is not None and self._settings().server_source != "own":
            self._control(request, required=False)

    # -- status -----------------------------------------------------------------

    def status(self):
        s = self._settings()
        now = self.clock()
        enrolled = self._device() is not None
        agent = _read_json(os.path.join(self.run_dir, "agent.json"))
        tunnel = _read_json(os.path.join(self.run_dir, "tunnel.json"))
        out = {"enrolled": enrolled, "account": config.mask_email(s.account_email),
               "kill_switch": s.kill_switch, "server": None, "uptime_s": None,
               "handshake_age_s": None, "public_ip": None, "public_ip_vpnspot": None,
               "public_ip_text": "-", "rx_rate": None, "tx_rate": None,
               "rx_total": None, "tx_total": None, "notes": []}
        running = bool(tunnel and tunnel.get("running"))
        if tunnel:
            peers = tunnel.get("peers") or []
            handshakes = [p.get("last_handshake") for p in peers if p.get("last_handshake")]
            if handshakes:
                out["handshake_age_s"] = int(max(0, now - max(handshakes)))
            rx = sum([int(p.get("rx_bytes") or 0) for p in peers])
            tx = sum([int(p.get("tx_bytes") or 0) for p in peers])
            out["rx_total"], out["tx_total"] = rx, tx
            stamp = tunnel.get("time") or now
            if self._last_counters and stamp > self._last_counters[0]:
                dt = stamp - self._last_counters[0]
                out["rx_rate"] = max(0, int((rx - self._last_counters[1]) / dt))
                out["tx_rate"] = max(0, int((tx - self._last_counters[2]) / dt))
            self._last_counters = (stamp, rx, tx)
            if peers and peers[0].get("endpoint_name"):
                out["server"] = {"id": s.server or "automatic", "region": s.region,
                                 "city": peers[0]["endpoint_name"], "country": "-"}
        if agent and agent.get("started_at"):
            out["uptime_s"] = int(max(0, now - agent["started_at"]))
        live = self._agent()
        sup = (live or {}).get("supervisor") or {}
        if live is not None:
            # The running agent knows better than the file: its plan is the
            # kill switch actually loaded, its supervisor the server in use.
            plan = live.get("plan") or {}
            if plan.get("kill_switch") in ("on", "off"):
                out["kill_switch"] = plan["kill_switch"] == "on"
            if sup.get("server_source") == "own":
                if sup.get("own_endpoint"):
                    out["server"] = {"id": "own", "own": True, "endpoint": sup["own_endpoint"],
                                     "region": "-", "city": "-", "country": "-"}
            elif sup.get("server"):
                info = self._server_info.get(sup["server"]) or self._lookup_server(sup["server"])
                out["server"] = {"id": sup["server"],
                                 "region": (info or {}).get("region") or sup.get("server_region")
                                 or "-",
                                 "city": (info or {}).get("city") or "-",
                                 "country": (info or {}).get("country") or "-"}
            enrolled = enrolled or bool(live.get("enrolled"))
            out["enrolled"] = enrolled
        fresh = out["handshake_age_s"] is not None and out["handshake_age_s"] < HANDSHAKE_FRESH
        # Which server the tunnel goes to: the running agent's word, else the setting.
        own = sup.get("server_source") == "own" if live is not None else s.server_source == "own"
        if not enrolled and not own:
            state = "not-enrolled"
        elif live is not None and sup:
            if sup.get("state") == "connected" and running and fresh:
                state = "protected"
            elif sup.get("state") in CONNECTING_STATES:
                state = "connecting"
            else:
                state = "blocked" if out["kill_switch"] else "unprotected"
        elif running and fresh:
            state = "protected"
        elif running or agent:
            state = "blocked" if out["kill_switch"] else "unprotected"
        else:
            state = "unknown"
        out["state"] = state
        out["state_text"] = STATE_TEXT[state]
        if own:
            out["state_text"] = OWN_STATE_TEXT.get(state, out["state_text"])
            out["notes"].append(OWN_SERVER_NOTE)
            if sup.get("own_problem"):
                out["notes"].append("Your own server cannot be used: %s" % sup["own_problem"])
        # The household's own server is never checked (exitcheck.py): say so
        # even before the agent has written it.
        exit_entry = {"state": "own_server"} if own else (live or {}).get("exit_address")
        address, vpnspot, text = public_address(exit_entry, state, live is not None, now)
        out["public_ip"], out["public_ip_vpnspot"], out["public_ip_text"] = address, vpnspot, text
        if vpnspot is False:
            out["notes"].append(NOT_VPNSPOT_WARNING % address)
        if not out["kill_switch"]:
            out["notes"].append(KILL_SWITCH_OFF_WARNING)
        return out

    def _lookup_server(self, server_id):
        """City and country of the server in use, asked of the provider once."""
        try:
            self.servers()
        except BackendError:
            self._server_info.setdefault(server_id, None)
        return self._server_info.get(server_id)

    def traffic(self):
        acct = accounting.Accounting()
        try:
            with open(os.path.join(self.state_dir, "accounting.json"), "rb") as f:
                acct.restore(f.read())
        except (OSError, ValueError):
            pass        # no totals yet: the chart shows zeros
        now = int(self.clock())
        return {"hourly": acct.hourly(now), "daily": acct.daily(now)}

    # -- WireGuard ----------------------------------------------------------------

    def import_wg_config(self, text):
        conf = check_wg_text(text, "uploaded.conf")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        old = os.umask(0o077)
        try:
            FileStore(os.path.join(self.state_dir, OWN_CONFIG)).write(text.encode("utf-8"))
        finally:
            os.umask(old)
        return {"peers": len(conf.peers), "warnings": list(conf.warnings) + own_warnings(conf)}

    def _imported(self):
        """The saved own-server file, parsed, or None (missing or unusable)."""
        try:
            with open(os.path.join(self.state_dir, OWN_CONFIG), encoding="utf-8") as f:
                return check_wg_text(f.read(), os.path.join(self.state_dir, OWN_CONFIG))
        except (OSError, UnicodeError, BackendError):
            return None

    def own_server(self):
        s = self._settings()
        conf = self._imported()
        sup = ((self._agent() or {}).get("supervisor")) or {}
        return {"in_use": s.server_source == "own",
                "imported": own_summary(conf) if conf is not None else None,
                "locked": settings_view(s)["locked"].get("server_source"),
                "problem": sup.get("own_problem") if sup.get("server_source") == "own" else None}

    def use_own_server(self):
        if self._imported() is None:
            raise FieldError("there is no usable imported configuration; import your server's "
                             ".conf first", field="conf")
        self._save({"server_source": "own"})
        return self._switch("own")

    def use_vpnspot_servers(self):
        self._save({"server_source": "vpnspot"})
        return self._switch("vpnspot")

    def _switch(self, source):
        """The setting is saved; a running agent switches now (without one,
        it starts on the saved choice). Its own request, not "reload": the
        answer says why the own server cannot be used, which the page shows;
        the agent takes the choice into its settings, so a later reload does
        not switch again."""
        if self._agent() is None:
            return {"applied": False, "problem": None}
        answer = self._control({"cmd": "server_source", "source": source}, required=False)
        if answer is None:
            return {"applied": False, "problem": None}
        return {"applied": True, "problem": answer.get("problem")}

    def export_wg_config(self, include_private):
        agent = _read_json(os.path.join(self.run_dir, "agent.json")) or {}
        candidates = [agent.get("wg_config"), os.path.join(self.state_dir, "wg-household.conf")]
        for path in candidates:
            if not path:
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            try:
                return render_wg_config(wg_parse(text, path), include_private)
            except ConfigError as e:
                raise BackendError("the router's WireGuard config cannot be read: %s" % e)
        raise NotAvailable("there is no WireGuard configuration on this router yet")

    # -- diagnostics --------------------------------------------------------------

    def open_debug(self, ttl):
        """In the running agent: its session holds what the agent sees
        (transitions, endpoints, LAN neighbours). Without an agent there is
        nothing to observe, and the page says so."""
        if self._agent() is None:
            raise NotAvailable("debug sessions run inside the VPN Spot agent, which is not "
                               "running on this router")
        try:
            answer = self._control({"cmd": "debug_open", "ttl": int(ttl), "by": "web UI"})
        except BackendError as e:
            raise FieldError(e.message, field="ttl")
        if answer.get("token"):
            return answer["token"]
        from vpnspot_router import driver
        try:
            with open(os.path.join(self.run_dir, driver.DEBUG_TOKEN)) as f:
                return f.read().strip()
        except OSError:
            raise BackendError("the agent opened the session but its token cannot be read")

    def close_debug(self, token=None):
        # Any signed-in administrator ends any session (the agent needs no
        # token to delete); only its opener sees what it holds.
        self._control({"cmd": "debug_close"})

    def debug_summary(self):
        dbg = ((self._agent() or {}).get("debug_session")) or {}
        if not dbg.get("open"):
            return {"open": False, "opened_by": None, "expires_in": None}
        return {"open": True, "opened_by": dbg.get("opened_by"),
                "expires_in": int(dbg.get("expires_in") or 0)}

    def debug_entries(self, token):
        answer = self._control({"cmd": "debug_show", "token": token})
        now = int(self.clock())
        return [{"time": int(now + ago), "category": c, "text": x}
                for ago, c, x in answer["entries"]]

    def diagnostics(self):
        now = int(self.clock())
        st = self.status()
        wan = _has_default_route()
        age = st["handshake_age_s"]
        s = self._settings()
        dns, mtu = self._tunnel_checks(s)
        checks = [
            {"name": "Internet connection (WAN)", "ok": wan,
             "detail": "default route present" if wan else "no default route"},
            dict(dns, name="DNS through the tunnel"),
            {"name": "WireGuard handshake", "ok": age is not None and age < HANDSHAKE_FRESH,
             "detail": ("%d s ago" % age) if age is not None else "no handshake yet"},
            dict(mtu, name="MTU"),
        ]
        dbg = ((self._agent() or {}).get("debug_session")) or {}
        is_open = bool(dbg.get("open"))
        return {"checks": checks, "debug": {
            "open": is_open, "opened_by": dbg.get("opened_by") if is_open else None,
            "expires_at": now + int(dbg.get("expires_in") or 0) if is_open else None,
            "now": now}}

    def _tunnel_checks(self, s):
        """The DNS and MTU checks, run now through the tunnel the agent
        reports; each says why when it cannot run."""
        from . import checks
        mode = ("%d (manual)" % s.mtu) if s.mtu != "auto" else "automatic"
        info = self._diagnose()
        if info is None:
            why = "not checked: the VPN Spot agent is not running"
            return {"ok": None, "detail": why}, {"ok": None, "detail": "%s; %s" % (mode, why)}
        if not info.get("tunnel_up") or not info.get("tunnel"):
            why = "not checked: the tunnel is not up"
            return {"ok": None, "detail": why}, {"ok": None, "detail": "%s; %s" % (mode, why)}
        resolvers = [a for a in info.get("dns") or [] if ":" not in a]
        if not resolvers:
            why = "not checked: the server gave no IPv4 resolver inside the tunnel"
            return {"ok": None, "detail": why}, {"ok": None, "detail": "%s; %s" % (mode, why)}
        dns = checks.dns_check(resolvers[0], self._check_name(), info["tunnel"])
        if info.get("mtu"):
            mtu = checks.mtu_check(resolvers[0], int(info["mtu"]), info["tunnel"])
            mtu["detail"] = "%s, %s" % (mode, mtu["detail"])
        else:
            mtu = {"ok": None, "detail": "%s; not checked: the agent reports no tunnel MTU" % mode}
        return dns, mtu

    def _check_name(self):
        """The name asked of the tunnel's resolver: the VPN Spot API's own
        host, which VPN Spot's resolvers know (never a name a household
        device looked up)."""
        from urllib.parse import urlsplit
        device = self._device() or {}
        host = urlsplit(device.get("api_url") or self._settings().api_url).hostname or ""
        try:
            import ipaddress
            ipaddress.ip_address(host)
        except ValueError:
            if host:
                return host
        return CHECK_NAME

    def support_bundle(self):
        about = self.about()
        st = self.status()
        s = self._settings()
        lines = ["# VPN Spot router support bundle",
                 "# no LAN client addresses, destinations or DNS queries are included"]
        for key in ("model", "os", "agent_version", "data_plane", "crypto", "crypto_reason"):
            lines.append("%s: %s" % (key, about.get(key)))
        for key in ("state", "account", "uptime_s", "handshake_age_s", "rx_total", "tx_total"):
            lines.append("%s: %s" % (key, st.get(key)))
        for key in HOUSEHOLD_KEYS + ("region", "server", "partner_id"):
            if key == "dns_servers":
                continue
            lines.append("setting %s: %s" % (key, config.to_text(config.FIELD_BY_KEY[key],
                                                                s.value(key))))
        for c in self.diagnostics()["checks"]:
            lines.append("check %s: %s (%s)" % (c["name"], {True: "ok", False: "FAILED",
                                                            None: "not checked"}[c["ok"]],
                                                c["detail"]))
        return "\n".join(lines) + "\n"

    def about(self):
        if self._about is None:
            from vpnspot_router.crypto import select
            from vpnspot_router.hw import probe
            profile = probe.probe("/")
            try:
                decision = select.choose(profile)
                crypto, reason, plane = decision.provider, decision.reason, decision.data_plane
            except Exception as e:     # a probe problem must not take the page down
                crypto, reason, plane = None, "not measured: %s" % type(e).__name__, None
            os_text = " ".join([x for x in (profile.os_name, profile.os_version) if x]) or None
            self._about = {"model": profile.model, "os": os_text,
                           "agent_version": select.agent_version(), "data_plane": plane,
                           "crypto": crypto or ("kernel WireGuard" if plane == "kernel" else None),
                           "crypto_reason": reason}
        out = dict(self._about)
        # The decision says what should run; a running agent says what does
        # (e.g. userspace after kernel WireGuard failed to start).
        in_use = _running_data_plane(self.run_dir)
        if in_use is not None:
            out["data_plane"] = in_use.get("backend")
            out["crypto_reason"] = in_use.get("reason") or out["crypto_reason"]
            if in_use.get("backend") == "kernel":
                out["crypto"] = "kernel WireGuard"
        return out


def public_address(entry, state, agent_running, now):
    """(address or None, VPN Spot exit True/False/None, text for the page)
    from agent.json's "exit_address" (see exitcheck.py for its forms)."""
    kind = (entry or {}).get("state")
    if kind == "checked" and entry.get("address"):
        ago = _ago(max(0, now - (entry.get("checked_at") or now)))
        if entry.get("vpnspot"):
            return entry["address"], True, "%s (a VPN Spot address, checked %s ago)" % (
                entry["address"], ago)
        return entry["address"], False, "%s: NOT a VPN Spot address (checked %s ago)" % (
            entry["address"], ago)
    if kind == "own_server":
        return None, None, OWN_SERVER_TEXT
    if kind == "failed":
        return None, None, ("not checked: %s; the router tries again shortly"
                            % (entry.get("error") or "no answer"))
    if kind == "checking" or (agent_running and state == "protected"):
        return None, None, CHECKING
    if state == "protected":
        return None, None, "not checked: the VPN Spot agent does not manage this tunnel"
    return None, None, "-"


def _ms(value):
    return None if value is None else int(round(value))


def _ago(seconds):
    seconds = int(seconds)
    if seconds < 120:
        return "%d s" % seconds
    if seconds < 7200:
        return "%d min" % (seconds // 60)
    return "%d h" % (seconds // 3600)


def _running_data_plane(run_dir):
    """agent.json's data_plane while that agent is alive, else None."""
    agent = _read_json(os.path.join(run_dir, "agent.json"))
    if not isinstance(agent, dict) or agent.get("state") != "running":
        return None
    plane = agent.get("data_plane")
    try:
        os.kill(int(agent.get("pid")), 0)
    except PermissionError:
        pass
    except (OSError, TypeError, ValueError):
        return None
    return plane if isinstance(plane, dict) else None


def _has_default_route():
    try:
        with open("/proc/net/route") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    return True
    except OSError:
        return None
    return False
