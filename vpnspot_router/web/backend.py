"""What the web UI asks of the agent: one narrow interface, two implementations.

The pages call only the methods of `Backend` below. RealBackend
(realbackend.py) answers from the router's files and the provider client;
FakeBackend (here) keeps everything in memory so tests and demos run
without a router. Both return plain dicts and lists of str/int/bool/None,
never objects, so the templates cannot reach into anything else.

Privacy rule both keep: nothing returned by any method except
debug_entries() holds a LAN client address, a destination address or name,
or a DNS query. The account email comes back masked.

Errors (each carries `.message`, written for the household):

  BackendError
   +-- NotAvailable   the feature waits for the agent's supervisor; the page
   |                  says "not available yet" instead of pretending
   +-- FieldError     a value was refused; `.field` names the input, and
                      `.line` the line of an uploaded file when there is one
"""

import random
import time

from vpnspot_router.core import accounting, config, uci
from vpnspot_router.core.debugsession import DebugSession, DebugSessionError
from vpnspot_router.core.wgconf import ConfigError, encode_key, parse as wg_parse
from vpnspot_router.version import VERSION

# Keys the settings page edits; the rest of the schema belongs to the ISP
# or the technician (console).
HOUSEHOLD_KEYS = ("kill_switch", "dns_mode", "dns_servers", "ipv6_mode", "mtu",
                  "report_period_minutes")

STATE_TEXT = {
    "protected": "Protected: all traffic of your home goes through the VPN Spot tunnel.",
    "connecting": "Connecting to the VPN Spot server.",
    "blocked": "Not connected. The kill switch is blocking your devices' internet traffic "
               "until the tunnel is back.",
    "unprotected": "NOT protected: the tunnel is down and the kill switch is off, so your "
                   "devices' traffic goes out through your internet provider unencrypted.",
    "not-enrolled": "This router is not signed in to a VPN Spot account yet.",
    "unknown": "The agent is not running, so the state of the tunnel is not known.",
}
# The status text while the household's own server carries the tunnel.
OWN_STATE_TEXT = {
    "protected": "Protected: all traffic of your home goes through the tunnel to your own "
                 "WireGuard server.",
    "connecting": "Connecting to your own WireGuard server.",
}
OWN_SERVER_NOTE = ("Your own WireGuard server is in use: the router does not contact VPN Spot "
                   "and sends it no reports while it is; the traffic chart below counts only "
                   "traffic through VPN Spot servers.")
OWN_SERVER_IN_USE = ("your own WireGuard server is in use; choose \"Use VPN Spot servers\" on "
                     "the WireGuard page first")
KILL_SWITCH_OFF_WARNING = ("The kill switch is off. If the tunnel drops, your devices keep "
                           "using the internet directly through your internet provider, who "
                           "can then see which sites they visit.")


class BackendError(Exception):
    def __init__(self, message, field=None, line=None):
        Exception.__init__(self, message)
        self.message = message
        self.field = field
        self.line = line


class NotAvailable(BackendError):
    """The supervisor that would do this is not part of this build yet."""


class FieldError(BackendError):
    pass


class Backend:
    """The interface. Each method documents what it returns."""

    def status(self):
        """{state, state_text, enrolled, account, server: {id, region, city, country}|None,
        uptime_s, handshake_age_s, public_ip, public_ip_vpnspot, public_ip_text, rx_rate,
        tx_rate, rx_total, tx_total, kill_switch, notes: [str]}; numbers may be None when
        unknown. public_ip: the address the VPN Spot service saw through the tunnel (None
        until checked); public_ip_vpnspot: whether it is a VPN Spot exit (None unknown);
        public_ip_text: what the page shows for it ("checking...", "not checked: ...")."""
        raise NotImplementedError

    def traffic(self):
        """{"hourly": [(start, rx, tx)] x24, "daily": [(start, rx, tx)] x30}"""
        raise NotImplementedError

    def servers(self):
        """{"selected": id|"fastest", "servers": [{id, region, country, city, load,
        latency_ms|None}], "note": str|None}"""
        raise NotImplementedError

    def select_server(self, server_id):
        raise NotImplementedError

    def enroll(self, email, code):
        raise NotImplementedError

    def set_region(self, region):
        raise NotImplementedError

    def settings(self):
        """{"values": {key: text}, "locked": {key: why}, "source": {key: "default" |
        "provisioning" | "household"}, "provider_name": str, "branding": {}}"""
        raise NotImplementedError

    def change_settings(self, changes):
        """{key: text or [text]} applied together or not at all; FieldError names the key."""
        raise NotImplementedError

    def change_setting(self, key, value):
        return self.change_settings({key: value})

    def import_wg_config(self, text):
        """Check and keep an uploaded wg-quick file; FieldError with .line and .field."""
        raise NotImplementedError

    def export_wg_config(self, include_private):
        raise NotImplementedError

    def own_server(self):
        """{"in_use": bool, "imported": {endpoint, peers, addresses}|None,
        "locked": why|None, "problem": str|None}: the household's own server."""
        raise NotImplementedError

    def use_own_server(self):
        """server_source own, with the imported file; -> {"applied": bool,
        "problem": str|None}. FieldError when nothing usable was imported or
        the provider locked the choice; nothing changes then."""
        raise NotImplementedError

    def use_vpnspot_servers(self):
        """server_source vpnspot; -> {"applied": bool}."""
        raise NotImplementedError

    def open_debug(self, ttl):
        """-> token; only its holder may see what the session holds."""
        raise NotImplementedError

    def close_debug(self, token=None):
        """End the open session, whoever opened it; its data is deleted."""
        raise NotImplementedError

    def debug_summary(self):
        """{"open": bool, "opened_by": str|None, "expires_in": seconds|None},
        for every signed-in administrator (never what the session holds)."""
        raise NotImplementedError

    def debug_entries(self, token):
        raise NotImplementedError

    def diagnostics(self):
        """{"checks": [{name, ok: True|False|None, detail}], "debug": {open, expires_at, ttl_max}}"""
        raise NotImplementedError

    def support_bundle(self):
        """Text for support: versions, settings, counters; no LAN or destination address."""
        raise NotImplementedError

    def about(self):
        """{model, os, agent_version, data_plane, crypto, crypto_reason}"""
        raise NotImplementedError


# ---------------------------------------------------------------------------
# Shared helpers


def settings_view(settings):
    """Settings -> the dict settings() returns (text values, locks with why)."""
    values = {}
    for key in HOUSEHOLD_KEYS + ("region", "server", "enabled", "server_source"):
        field = config.FIELD_BY_KEY[key]
        values[key] = config.to_text(field, settings.value(key))
    locked = {}
    for key, name in settings.locked.items():
        locked[key] = "locked by your provider %s" % name
    # Where each value came from ('default', 'provisioning', 'household'):
    # the setup wizard counts a step done once someone chose its value.
    source = {}
    for key in values:
        source[key] = settings.source.get(key, "default")
    return {"values": values, "locked": locked, "source": source,
            "provider_name": settings.provider_name, "branding": dict(settings.branding)}


def apply_changes(text, provisioning, changes, filename):
    """UCI text + {key: value} -> new text, all checked; FieldError on the first refusal.
    Several keys at once because some only make sense together (dns_mode
    custom needs dns_servers in the same change)."""
    try:
        settings = config.load(text or None, provisioning, filename)
        doc = uci.parse(text or "", filename)
        changed = False
        for key, value in changes.items():
            if key not in HOUSEHOLD_KEYS + ("region", "server", "account_email", "server_source"):
                raise FieldError("%s cannot be changed here" % str(key)[:40], field=key)
            try:
                changed = config.change(doc, settings, key, value) or changed
            except ConfigError as e:
                raise FieldError("%s: %s" % (key, e.message), field=key)
        new_text = doc.serialize()
        config.load(new_text, provisioning, filename)
    except ConfigError as e:
        raise FieldError("%s: %s" % (e.field, e.message) if e.field else e.message, field=e.field)
    return new_text, changed


def render_wg_config(conf, include_private):
    """A WgConfig back to wg-quick text; the private key only when asked."""
    iface = conf.interface
    lines = ["[Interface]"]
    if include_private and iface.private_key:
        lines.append("PrivateKey = %s" % encode_key(iface.private_key))
    else:
        lines.append("# PrivateKey = (left out; it stays on the router unless you ask for it)")
    if iface.addresses:
        lines.append("Address = %s" % ", ".join(["%s/%d" % a for a in iface.addresses]))
    if iface.listen_port:
        lines.append("ListenPort = %d" % iface.listen_port)
    if iface.dns:
        lines.append("DNS = %s" % ", ".join(iface.dns))
    if iface.mtu:
        lines.append("MTU = %d" % iface.mtu)
    for peer in conf.peers:
        lines.append("")
        lines.append("[Peer]")
        lines.append("PublicKey = %s" % encode_key(peer.public_key))
        if peer.preshared_key and include_private:
            lines.append("PresharedKey = %s" % encode_key(peer.preshared_key))
        if peer.endpoint:
            host, port = peer.endpoint
            lines.append("Endpoint = %s:%d" % ("[%s]" % host if ":" in host else host, port))
        if peer.allowed_ips:
            lines.append("AllowedIPs = %s" % ", ".join(["%s/%d" % p for p in peer.allowed_ips]))
        if peer.persistent_keepalive:
            lines.append("PersistentKeepalive = %d" % peer.persistent_keepalive)
    return "\n".join(lines) + "\n"


def check_wg_text(text, filename):
    """Parse an uploaded .conf -> WgConfig, or FieldError naming line and field."""
    if len(text) > 64 * 1024:
        raise FieldError("the file is larger than 64 KiB; a WireGuard config is a few lines",
                         field="file")
    try:
        conf = wg_parse(text, filename)
    except ConfigError as e:
        raise FieldError(str(e), field=e.field, line=e.line)
    if conf.interface is None or conf.interface.private_key is None:
        raise FieldError("%s: [Interface] needs a PrivateKey" % filename, field="PrivateKey")
    if not conf.peers:
        raise FieldError("%s: the file has no [Peer]; add your server's [Peer] section" % filename,
                         field="Peer")
    if not conf.interface.addresses:
        raise FieldError("%s:%d: [Interface] has no Address; add the router's tunnel address "
                         "(Address = 10.0.0.2/32)" % (filename, conf.interface.line or 1),
                         field="Address", line=conf.interface.line)
    if not [p for p in conf.peers if p.endpoint]:
        # The router starts the tunnel, so it must know where the server is.
        raise FieldError("%s:%d: no [Peer] has an Endpoint; add your server's Endpoint = "
                         "host:port" % (filename, conf.peers[0].line or 1), field="Endpoint",
                         line=conf.peers[0].line)
    return conf


def own_summary(conf):
    """What the WireGuard page shows of an imported file (no key)."""
    host, port = [p.endpoint for p in conf.peers if p.endpoint][0]
    return {"endpoint": "%s:%d" % ("[%s]" % host if ":" in host else host, port),
            "peers": len(conf.peers),
            "addresses": ["%s/%d" % a for a in conf.interface.addresses]}


def own_warnings(conf):
    """What a household should know before using this file for all its traffic."""
    out = []
    if ("0.0.0.0", 0) not in [a for p in conf.peers for a in p.allowed_ips]:
        out.append("No [Peer] has AllowedIPs = 0.0.0.0/0: with this file in use, only the "
                   "addresses its AllowedIPs name go through the tunnel, and the kill switch "
                   "blocks everything else.")
    if not conf.interface.dns:
        out.append("The file has no DNS line: while it is in use your devices' name lookups "
                   "are blocked, unless you add DNS = to the file or choose another DNS "
                   "setting in Settings.")
    return out


# ---------------------------------------------------------------------------
# The fake


DEMO_SERVERS = (
    {"id": "de-fra-1", "region": "de-fra", "country": "DE", "city": "Frankfurt", "load": 31,
     "latency_ms": 14},
    {"id": "nl-ams-1", "region": "nl-ams", "country": "NL", "city": "Amsterdam", "load": 55,
     "latency_ms": 19},
    {"id": "us-east-1", "region": "us-east", "country": "US", "city": "New York", "load": 12,
     "latency_ms": 92},
)
DEMO_ACCOUNTS = {"household@example.net": "VPNS-7Q4K-M2XD"}
DEMO_KEY = bytes(range(1, 33))
DEMO_PEER_KEY = bytes(range(33, 65))


class FakeBackend(Backend):
    """In memory, deterministic, with the real settings schema (core/config.py)
    and the real debug session policy. `locks` ({key: provider name})
    plays an ISP's provisioning; `servers` may be replaced to test escaping."""

    def __init__(self, clock=time.time, locks=None, servers=DEMO_SERVERS, accounts=None):
        self.clock = clock
        self.config_text = ""
        self.provisioning = None
        if locks:
            prov = config.Provisioning("/etc/vpnspot/provisioning")
            for key, name in locks.items():
                prov.locks[key] = 1
                prov.values[key] = config.FIELD_BY_KEY[key].default
                prov.name = name
            self.provisioning = prov
        self.server_list = [dict(s) for s in servers]
        self.accounts = dict(DEMO_ACCOUNTS if accounts is None else accounts)
        self.enrolled_email = None
        self.connected_at = None
        self.imported = None
        self.debug = DebugSession(lambda n: bytes(random.getrandbits(8) for _ in range(n)))
        self.started = clock()
        self.acct = accounting.Accounting()
        self._demo_traffic()

    def _settings(self):
        return config.load(self.config_text or None, self.provisioning, "/etc/config/vpnspot")

    def _demo_traffic(self):
        # A plausible day and month of totals through the real accounting code.
        now = int(self.clock())
        rx = tx = 0
        self.acct.observe(0, 0, now - 30 * 86400, "demo")
        for h in range(30 * 24, 0, -1):
            t = now - h * 3600
            hour = (t // 3600) % 24
            busy = 3 if 18 <= hour <= 23 else 1
            rx += busy * (150 + (h * 37) % 90) * 1000 * 1000
            tx += busy * (20 + (h * 13) % 15) * 1000 * 1000
            self.acct.observe(rx, tx, t, "demo")
        self.rx_total, self.tx_total = rx, tx

    # -- status ---------------------------------------------------------------

    def status(self):
        s = self._settings()
        now = self.clock()
        server = self._current_server(s)
        base = {"enrolled": self.enrolled_email is not None,
                "account": config.mask_email(self.enrolled_email or ""),
                "kill_switch": s.kill_switch, "server": None, "uptime_s": None,
                "handshake_age_s": None, "public_ip": None, "public_ip_vpnspot": None,
                "public_ip_text": "-", "rx_rate": None, "tx_rate": None,
                "rx_total": self.rx_total, "tx_total": self.tx_total, "notes": []}
        if self.enrolled_email is None:
            state = "not-enrolled"
        elif self.connected_at is None:
            state = "blocked" if s.kill_switch else "unprotected"
        else:
            state = "protected"
            base.update({"server": server, "uptime_s": int(now - self.connected_at),
                         "handshake_age_s": int(now - self.connected_at) % 120,
                         "public_ip": "203.0.113.10", "public_ip_vpnspot": True,
                         "public_ip_text": "203.0.113.10 (a VPN Spot address, checked "
                                           "through the tunnel)",
                         "rx_rate": 1250000, "tx_rate": 98000})
        base["state"] = state
        base["state_text"] = STATE_TEXT[state]
        if s.server_source == "own" and self.imported is not None:
            if base["server"]:
                base["server"] = {"id": "own", "own": True, "region": "-", "city": "-",
                                  "country": "-",
                                  "endpoint": own_summary(self.imported)["endpoint"]}
                base.update({"public_ip": None, "public_ip_vpnspot": None,
                             "public_ip_text": "not checked: your own server is not part of "
                                               "VPN Spot"})
            base["state_text"] = OWN_STATE_TEXT.get(state, base["state_text"])
            base["notes"].append(OWN_SERVER_NOTE)
        if not s.kill_switch:
            base["notes"].append(KILL_SWITCH_OFF_WARNING)
        return base

    def traffic(self):
        now = int(self.clock())
        return {"hourly": self.acct.hourly(now), "daily": self.acct.daily(now)}

    def _current_server(self, s):
        candidates = self.server_list
        if s.server:
            candidates = [x for x in self.server_list if x["id"] == s.server] or candidates
        elif s.region != "fastest":
            candidates = [x for x in self.server_list if x["region"] == s.region] or candidates
        best = min(candidates, key=lambda x: x["latency_ms"] if x["latency_ms"] is not None else 1e9)
        return {"id": best["id"], "region": best["region"], "city": best["city"],
                "country": best["country"]}

    # -- servers, enrollment --------------------------------------------------

    def servers(self):
        s = self._settings()
        return {"selected": s.server or "fastest", "region": s.region,
                "servers": [dict(x) for x in self.server_list], "note": None}

    def _require_enrolled(self):
        if self.enrolled_email is None:
            raise BackendError("sign in with your VPN Spot account first")

    def select_server(self, server_id):
        self._require_enrolled()
        if self._settings().server_source == "own":
            raise FieldError(OWN_SERVER_IN_USE, field="server")
        if server_id == "fastest":
            self._write({"server": "", "region": "fastest"})
        elif server_id in [x["id"] for x in self.server_list]:
            self._write({"server": server_id})
        else:
            raise FieldError("there is no server %r; pick one from the list" % server_id[:40],
                             field="server")
        self.connected_at = self.clock()

    def set_region(self, region):
        self._require_enrolled()
        if region != "fastest" and region not in [x["region"] for x in self.server_list]:
            raise FieldError("there is no region %r; pick one from the list" % region[:40],
                             field="region")
        self._write({"region": region, "server": ""})

    def enroll(self, email, code):
        email = email.strip()
        code = code.strip().upper()
        try:
            config.FIELD_BY_KEY["account_email"].check(email)
        except ValueError:
            raise FieldError("that is not an email address", field="email")
        if not email:
            raise FieldError("enter the email address of your VPN Spot account", field="email")
        if self.accounts.get(email) != code:
            raise FieldError("activation code not recognised: check the email address and the "
                             "code for typos", field="code")
        self._write({"account_email": email})
        self.enrolled_email = email

    # -- settings -------------------------------------------------------------

    def settings(self):
        return settings_view(self._settings())

    def _write(self, changes):
        self.config_text, _ = apply_changes(self.config_text, self.provisioning, changes,
                                            "/etc/config/vpnspot")

    def change_settings(self, changes):
        self._write(changes)
        if self.enrolled_email is not None and self.connected_at is None:
            # In the demo, finishing setup (the last settings step) connects.
            self.connected_at = self.clock()

    # -- WireGuard ------------------------------------------------------------

    def import_wg_config(self, text):
        self.imported = check_wg_text(text, "uploaded.conf")
        return {"peers": len(self.imported.peers),
                "warnings": list(self.imported.warnings) + own_warnings(self.imported)}

    def own_server(self):
        s = self._settings()
        return {"in_use": s.server_source == "own",
                "imported": own_summary(self.imported) if self.imported is not None else None,
                "locked": settings_view(s)["locked"].get("server_source"), "problem": None}

    def use_own_server(self):
        if self.imported is None:
            raise FieldError("there is no imported configuration yet; import your server's "
                             ".conf first", field="conf")
        self._write({"server_source": "own"})
        self.connected_at = self.clock()
        return {"applied": True, "problem": None}

    def use_vpnspot_servers(self):
        self._write({"server_source": "vpnspot"})
        self.connected_at = self.clock()
        return {"applied": True}

    def export_wg_config(self, include_private):
        conf = self.imported
        if conf is None:
            conf = wg_parse("[Interface]\nPrivateKey = %s\nAddress = 10.77.0.2/32\n\n[Peer]\n"
                            "PublicKey = %s\nEndpoint = 203.0.113.10:51820\nAllowedIPs = 0.0.0.0/0, ::/0\n"
                            "PersistentKeepalive = 25\n" % (encode_key(DEMO_KEY),
                                                             encode_key(DEMO_PEER_KEY)), "demo")
        return render_wg_config(conf, include_private)

    # -- diagnostics ----------------------------------------------------------

    def open_debug(self, ttl):
        now = int(self.clock())
        self.debug.tick(now)
        try:
            token = self.debug.open(now, ttl, "web UI")
        except DebugSessionError as e:
            raise FieldError(str(e), field="ttl")
        self.debug.record(now, "web", "debug session opened from the web UI")
        self.debug.record(now, "handshake", "handshake with 203.0.113.10:51820 completed")
        return token

    def close_debug(self, token=None):
        try:
            self.debug.end(int(self.clock()))
        except DebugSessionError as e:
            raise BackendError(str(e))

    def debug_summary(self):
        now = int(self.clock())
        self.debug.tick(now)
        s = self.debug.summary(now)
        return {"open": s["open"], "opened_by": s["opened_by"], "expires_in": s["expires_in"]}

    def debug_entries(self, token):
        try:
            return [{"time": t, "category": c, "text": x}
                    for t, c, x in self.debug.show(token, int(self.clock()))]
        except DebugSessionError as e:
            raise BackendError(str(e))

    def diagnostics(self):
        now = int(self.clock())
        self.debug.tick(now)
        up = self.connected_at is not None
        return {"checks": [
            {"name": "Internet connection (WAN)", "ok": True, "detail": "default route present"},
            {"name": "DNS through the tunnel", "ok": up, "detail": "answered" if up else "tunnel down"},
            {"name": "WireGuard handshake", "ok": up,
             "detail": "recent" if up else "no handshake yet"},
            {"name": "MTU", "ok": True, "detail": "1420 (auto)"},
        ], "debug": {"open": self.debug.is_open(now), "expires_at": self.debug.expires_at,
                     "opened_by": self.debug.opened_by,
                     "now": now}}

    def support_bundle(self):
        s = self._settings()
        st = self.status()
        lines = ["# VPN Spot router support bundle (demo)", "agent_version: " + VERSION,
                 "state: %s" % st["state"], "account: %s" % st["account"],
                 "rx_total: %d" % st["rx_total"], "tx_total: %d" % st["tx_total"]]
        for key in HOUSEHOLD_KEYS + ("region", "server"):
            if key != "dns_servers":
                lines.append("setting %s: %s" % (key, config.to_text(config.FIELD_BY_KEY[key],
                                                                    s.value(key))))
        for c in self.diagnostics()["checks"]:
            lines.append("check %s: %s" % (c["name"], "ok" if c["ok"] else "FAILED"))
        return "\n".join(lines) + "\n"

    def about(self):
        return {"model": "Demo Router DR-1", "os": "OpenWrt 23.05.3", "agent_version": VERSION,
                "data_plane": "kernel", "crypto": "kernel WireGuard",
                "crypto_reason": "kernel WireGuard module present; it is the fastest here"}
