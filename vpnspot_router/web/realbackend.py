"""Backend over this router's own files, for `vpnspot web` without --fake.

What is real here and what waits for the agent's supervisor (each stub
says so in the UI through NotAvailable or a "not available yet" text;
none pretends):

  real   settings / change_settings   /etc/config/vpnspot through configstore's
                                      paths and store.FileStore (locks, atomic write)
  real   enroll                       provider client; device.json via
                                      provider/commands.save_device
  real   servers                      provider client with the saved device token
  real   select_server / set_region   written to the config file; the running
                                      agent picks them up only when the supervisor
                                      watches the file (until then: at its restart)
  real   status (tunnel part)         RUN_DIR/tunnel.json (tunnel/dataplane.py) and
                                      RUN_DIR/agent.json (agent.py)
  real   import / export              wg-quick text checked by core/wgconf.py, kept in
                                      STATE/wg-household.conf (0600); export reads
                                      the agent's config (agent.json "wg_config")
  real   about                        hw/probe.py + crypto/select.py (cached decision)
  stub   public_ip, latency_ms, the DNS-through-tunnel check: need the supervisor
  stub   traffic: reads STATE/accounting.json if something writes it; the
         supervisor owns the accounting checkpoints
  part   debug session: the policy (core/debugsession.py) runs in this process,
         but only the supervisor can feed it tunnel events, so it records
         just what the web UI itself does
"""

import json
import os
import secrets
import time

from vpnspot_router import configstore
from vpnspot_router.core import accounting, config
from vpnspot_router.core.debugsession import DebugSession, DebugSessionError
from vpnspot_router.core.wgconf import ConfigError, parse as wg_parse
from vpnspot_router.store import FileStore

from .backend import (Backend, BackendError, FieldError, HOUSEHOLD_KEYS, KILL_SWITCH_OFF_WARNING,
                      NotAvailable, STATE_TEXT, apply_changes, check_wg_text, render_wg_config,
                      settings_view)

HANDSHAKE_FRESH = 180
NOT_YET = "not available yet: the agent's supervisor will provide it"


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
        self.debug = DebugSession(secrets.token_bytes)
        self._about = None
        self._last_counters = None

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

    # -- provider ---------------------------------------------------------------

    def _device(self):
        from vpnspot_router.provider import commands
        return commands.load_device(self.state_dir)

    def _client(self, token=None, device=None):
        from vpnspot_router.provider.client import ProviderClient
        if device:
            return ProviderClient(device["api_url"], device_token=device["device_token"],
                                  ca_file=device["ca_file"], resolve=device.get("resolve") or {})
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
        try:
            client = self._client()
            enrollment = client.enroll(email, code)
        except ValueError:
            raise FieldError("the activation code is not in the expected form (codes look like "
                             "VPNS-7Q4K-M2XD)", field="code")
        except ProviderError as e:
            raise FieldError(e.message, field="code")
        commands.save_device(self.state_dir, {
            "api_url": client.api_url, "ca_file": s.ca_file or None, "resolve": {},
            "device_id": enrollment.device_id, "device_token": enrollment.device_token})
        self.change_settings({"account_email": email})

    def servers(self):
        from vpnspot_router.provider.client import ProviderError
        s = self._settings()
        device = self._device()
        if not device:
            raise BackendError("sign in with your VPN Spot account first")
        try:
            found = self._client(device=device).servers()
        except ProviderError as e:
            raise BackendError(e.message)
        return {"selected": s.server or "fastest", "region": s.region,
                "servers": [{"id": x.id, "region": x.region, "country": x.country,
                             "city": x.city, "load": x.load, "latency_ms": None} for x in found],
                "note": "Latency is not measured yet: the agent's supervisor will measure it."}

    def select_server(self, server_id):
        if server_id == "fastest":
            self.change_settings({"server": "", "region": "fastest"})
            return
        known = [x["id"] for x in self.servers()["servers"]]
        if server_id not in known:
            raise FieldError("there is no server %r; pick one from the list" % server_id[:40],
                             field="server")
        self.change_settings({"server": server_id})

    def set_region(self, region):
        if region != "fastest":
            if region not in [x["region"] for x in self.servers()["servers"]]:
                raise FieldError("there is no region %r; pick one from the list" % region[:40],
                                 field="region")
        self.change_settings({"region": region, "server": ""})

    # -- status -----------------------------------------------------------------

    def status(self):
        s = self._settings()
        now = self.clock()
        enrolled = self._device() is not None
        agent = _read_json(os.path.join(self.run_dir, "agent.json"))
        tunnel = _read_json(os.path.join(self.run_dir, "tunnel.json"))
        out = {"enrolled": enrolled, "account": config.mask_email(s.account_email),
               "kill_switch": s.kill_switch, "server": None, "uptime_s": None,
               "handshake_age_s": None, "public_ip": None, "rx_rate": None, "tx_rate": None,
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
        if not enrolled:
            state = "not-enrolled"
        elif running and out["handshake_age_s"] is not None and out["handshake_age_s"] < HANDSHAKE_FRESH:
            state = "protected"
        elif running or agent:
            state = "blocked" if s.kill_switch else "unprotected"
        else:
            state = "unknown"
        out["state"] = state
        out["state_text"] = STATE_TEXT[state]
        out["notes"].append("Public address seen through the tunnel: " + NOT_YET + ".")
        if not s.kill_switch:
            out["notes"].append(KILL_SWITCH_OFF_WARNING)
        return out

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
            FileStore(os.path.join(self.state_dir, "wg-household.conf")).write(text.encode("utf-8"))
        finally:
            os.umask(old)
        return {"peers": len(conf.peers), "warnings": list(conf.warnings)
                + ["The agent uses this file once its supervisor supports household servers; "
                   "that is not available yet."]}

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
        now = int(self.clock())
        self.debug.tick(now)
        try:
            token = self.debug.open(now, ttl)
        except DebugSessionError as e:
            raise FieldError(str(e), field="ttl")
        self.debug.record(now, "web", "debug session opened from the web UI; tunnel events "
                                      "are recorded once the agent's supervisor feeds this "
                                      "session (not available yet)")
        return token

    def close_debug(self, token):
        try:
            self.debug.close(token, int(self.clock()))
        except DebugSessionError as e:
            raise BackendError(str(e))

    def debug_entries(self, token):
        try:
            return [{"time": t, "category": c, "text": x}
                    for t, c, x in self.debug.show(token, int(self.clock()))]
        except DebugSessionError as e:
            raise BackendError(str(e))

    def diagnostics(self):
        now = int(self.clock())
        self.debug.tick(now)
        st = self.status()
        wan = _has_default_route()
        age = st["handshake_age_s"]
        s = self._settings()
        checks = [
            {"name": "Internet connection (WAN)", "ok": wan,
             "detail": "default route present" if wan else "no default route"},
            {"name": "DNS through the tunnel", "ok": None, "detail": NOT_YET},
            {"name": "WireGuard handshake", "ok": age is not None and age < HANDSHAKE_FRESH,
             "detail": ("%d s ago" % age) if age is not None else "no handshake yet"},
            {"name": "MTU", "ok": None if s.mtu == "auto" else True,
             "detail": ("automatic; path MTU probing: " + NOT_YET) if s.mtu == "auto"
             else "%d (manual)" % s.mtu},
        ]
        return {"checks": checks, "debug": {"open": self.debug.is_open(now),
                                            "expires_at": self.debug.expires_at, "now": now}}

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
        return dict(self._about)


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
