"""An in-memory backend for the console's tests (the interface is drawn in
backend.py). Its config commands run the real schema, locks and diff of
core/config.py over an in-memory file, so a test sees the same refusals a
router gives; everything else is canned data a test may change
(`fake.state`, `fake.log_lines`, `fake.fail[name] = error`, `fake.delay`).
"""

import time

from vpnspot_router.console.backend import (ConsoleError, Unavailable, NO_SUPERVISOR, PASS, FAIL,
                                            encode_bundle, _config_message, _field_text)
from vpnspot_router.console.privacy import scrub
from vpnspot_router.core import config as core_config
from vpnspot_router.core import uci

PROVISIONING = """config provider 'provider'
\toption name 'Example ISP'
\tlist lock 'kill_switch'

config vpnspot 'main'
\toption kill_switch '1'
\toption partner_id 'example-isp'
"""


class FakeBackend:
    def __init__(self, household="config vpnspot 'main'\n\toption region 'nl-ams'\n",
                 provisioning=PROVISIONING, clock=time.time):
        self.clock = clock
        self.text = household
        self.provisioning = core_config.parse_provisioning(provisioning) if provisioning else None
        self.staged = {}
        self.state = "connected"
        self.log_lines = ["vpnspot[812]: tunnel up: 1 peer(s)",
                          "vpnspot[812]: handshake with gateway complete",
                          # A line that should never have been logged: the filter catches it.
                          "vpnspot[812]: warning: slow client 192.168.77.10"]
        self.fail = {}          # method name -> ConsoleError to raise
        self.delay = 0.0        # seconds every call takes (a slow router)
        self.debug_until = None
        self.debug_entries = []
        self.calls = []
        self.reset_done = False

    def _enter(self, name):
        self.calls.append(name)
        if self.delay:
            time.sleep(self.delay)
        if name in self.fail:
            raise self.fail[name]

    def _settings(self):
        return core_config.load(self.text, self.provisioning, "/etc/config/vpnspot")

    def tick(self, now=None):
        now = self.clock() if now is None else now
        if self.debug_until is not None and now >= self.debug_until:
            self.debug_until = None
            self.debug_entries = []

    def status(self):
        self._enter("status")
        s = self._settings()
        up = self.state == "connected"
        return {"state": self.state, "agent": "running", "server": "nl-ams-1 (203.0.113.10:51820)",
                "handshake_age": 12.0 if up else None, "rx_bytes": 1234567 if up else None,
                "tx_bytes": 234567 if up else None, "kill_switch": "on",
                "kill_switch_setting": s.kill_switch, "enabled": s.enabled, "region": s.region,
                "provider": s.provider_name, "enrolled": True, "notes": []}

    def diag(self):
        self._enter("diag")
        up = self.state == "connected"
        checks = [
            ("settings", True, "/etc/config/vpnspot is valid"),
            ("WAN link", True, "wan is up, default route via 198.51.100.1"),
            ("enrollment", True, "this router is enrolled"),
            ("agent", True, "running, pid 812"),
            ("DNS through the tunnel", up, "LAN DNS goes to 10.77.0.1 through the tunnel"),
            ("endpoint reachable", up, "the gateway 203.0.113.10:51820 answered"),
            ("handshake age", up, "12 s ago" if up else "never"),
            ("MTU", True, "tunnel 1420 fits WAN MTU 1500"),
            ("route and kill switch", True, "LAN traffic can leave only through the tunnel"),
            ("crypto engine", True, "kernel/kernel: kernel WireGuard module present; the fastest "
             "way on this router (engine safexcel has no ChaCha20-Poly1305)"),
        ]
        return {"checks": [{"name": n, "result": PASS if ok else FAIL, "hint": h}
                           for n, ok, h in checks]}

    def servers(self):
        self._enter("servers")
        return {"servers": [
            {"id": "nl-ams-1", "region": "nl-ams", "country": "NL", "city": "Amsterdam",
             "load": 31, "ipv6": True, "endpoint": "203.0.113.10:51820"},
            {"id": "de-fra-2", "region": "de-fra", "country": "DE", "city": "Frankfurt am Main",
             "load": 64, "ipv6": False, "endpoint": "203.0.113.20:51820"}]}

    def connect(self, target):
        self._enter("connect")
        raise Unavailable(NO_SUPERVISOR)

    def disconnect(self):
        self._enter("disconnect")
        raise Unavailable(NO_SUPERVISOR)

    def logs(self, n):
        self._enter("logs")
        return {"lines": [scrub(l, ["203.0.113.10"]) for l in self.log_lines[-n:]],
                "source": "fake"}

    def debug_open(self, minutes):
        self._enter("debug_open")
        now = self.clock()
        self.tick(now)
        if self.debug_until is not None:
            raise ConsoleError("a debug session is already open; close it first")
        minutes = minutes or 30
        self.debug_until = now + minutes * 60
        self.debug_entries = [[int(now), "handshake", "endpoint 203.0.113.10:51820"]]
        return {"expires_in": minutes * 60, "agent_events": NO_SUPERVISOR}

    def debug_close(self):
        self._enter("debug_close")
        self.tick()
        if self.debug_until is None:
            raise ConsoleError("no debug session is open")
        count = len(self.debug_entries)
        self.debug_until = None
        self.debug_entries = []
        return {"purged": count}

    def debug_show(self):
        self._enter("debug_show")
        now = self.clock()
        self.tick(now)
        if self.debug_until is None:
            raise ConsoleError("no debug session is open")
        return {"entries": list(self.debug_entries), "expires_in": int(self.debug_until - now)}

    def _apply(self, changes):
        settings = self._settings()
        doc = uci.parse(self.text, "/etc/config/vpnspot")
        try:
            for key, value in changes.items():
                core_config.change(doc, settings, key, value)
            text = doc.serialize()
            return text, core_config.load(text, self.provisioning, "/etc/config/vpnspot")
        except core_config.ConfigError as e:
            raise ConsoleError(_config_message(e))

    def config_get(self, key=None):
        self._enter("config_get")
        s = self._settings()
        out = {}
        for f in core_config.FIELDS:
            if key and f.key != key:
                continue
            staged = self.staged.get(f.key)
            if staged is not None and f.is_list:
                staged = " ".join(staged) or "(none)"
            out[f.key] = {"value": _field_text(f, getattr(s, f.key)), "source": s.source[f.key],
                          "locked": s.locked.get(f.key), "staged": staged}
        return {"settings": out, "notes": []}

    def config_set(self, key, value):
        self._enter("config_set")
        changes = dict(self.staged)
        changes[key] = value
        self._apply(changes)
        self.staged = changes
        return {"key": key, "value": value}

    def config_diff(self):
        self._enter("config_diff")
        text, new = self._apply(self.staged)
        return {"changes": [list(c) for c in core_config.diff(self._settings(), new)]}

    def config_commit(self):
        self._enter("config_commit")
        if not self.staged:
            return {"changes": [], "saved": None, "note": "nothing staged"}
        old = self._settings()
        self.text, new = self._apply(self.staged)
        self.staged = {}
        return {"changes": [list(c) for c in core_config.diff(old, new)],
                "saved": "/etc/config/vpnspot",
                "note": "applying it now is " + NO_SUPERVISOR}

    def config_revert(self):
        self._enter("config_revert")
        count = len(self.staged)
        self.staged = {}
        return {"dropped": count}

    def factory_reset(self):
        self._enter("factory_reset")
        self.text = ""
        self.staged = {}
        self.reset_done = True
        return {"erased": ["/etc/config/vpnspot", "/etc/vpnspot/device.json"],
                "note": "the provider's provisioning is kept; the household must enroll again"}

    def bundle(self):
        self._enter("bundle")
        obj = {"bundle": 1, "status": self.status(), "diag": self.diag(),
               "config": self.config_get(), "logs": {"lines": list(self.log_lines)}}
        return encode_bundle(obj, ["203.0.113.10"])
