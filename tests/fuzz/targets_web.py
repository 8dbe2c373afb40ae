"""Fuzz targets for the web UI: form bodies and JSON bodies sent by a LAN
device to every state-changing route and to the JSON API, through the whole
WSGI app (security.Guard, Bottle, the pages, the templates) around the
in-memory FakeBackend.

Each input is one request, sent as one of four visitors:
  admin         signed in, with the session's CSRF token (form field or
                X-CSRF-Token header)
  admin-forged  the admin's session cookie, with a missing or wrong token
  signed-out    a session that is not signed in, with its own valid token
  stranger      no cookie, or a cookie the router never issued

Promises checked on every input:
  - the answer is a clean 2xx, 3xx or 4xx: never 500, never an exception
    (Bottle's catch-all would turn one into a 500 and write the traceback
    to wsgi.errors; both count as a failure);
  - a JSON answer parses as JSON;
  - a refusal changes nothing: whatever a visitor who is not the signed-in
    admin with the right token sends leaves the router's settings,
    enrollment, imported WireGuard config, debug session and admin password
    as they were, and so does any 4xx answer to the admin.

The app and its visitors live for the whole worker (building them costs
an scrypt hash); if a fuzzed request signs the admin out, they sign in
again before the next input.
"""

import io
import json
import tempfile
import urllib.parse

from tests.fuzz.registry import Bytes, register
from vpnspot_router.web import security
from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.backend import FakeBackend

LAN = "192.168.77.1"
PASSWORD = "correct horse battery"
EMAIL = "household@example.net"
CODE = "VPNS-7Q4K-M2XD"
WALL = 1700000000.0

# Every route that changes state, the JSON API, and a few pages; with the
# fields each form sends.
ROUTES = [
    ("POST", "/setup/password", ("password", "repeat", "setup_code")),
    ("POST", "/login", ("password",)),
    ("POST", "/logout", ()),
    ("POST", "/setup/account", ("email", "code")),
    ("POST", "/setup/region", ("region",)),
    ("POST", "/setup/protection", ("kill_switch",)),
    ("POST", "/servers", ("server",)),
    ("POST", "/settings", ("kill_switch", "dns_mode", "dns_servers", "ipv6_mode", "mtu_mode",
                           "mtu", "report_period_minutes")),
    ("POST", "/wireguard/import", ("text", "conf")),
    ("POST", "/wireguard/export", ("include_private",)),
    ("POST", "/wireguard/use", ()),
    ("POST", "/wireguard/vpnspot", ()),
    ("POST", "/diagnostics/debug/open", ("minutes",)),
    ("POST", "/diagnostics/debug/close", ()),
    ("GET", "/api/status", ()),
    ("GET", "/api/servers", ()),
    ("GET", "/api/debug", ()),
    ("GET", "/api/chart/hourly", ()),
    ("GET", "/api/chart/daily", ()),
    ("POST", "/api/status", ()),
    ("POST", "/api/debug", ()),
    ("GET", "/status", ()),
    ("GET", "/settings", ()),
    ("GET", "/wireguard", ()),
    ("GET", "/servers", ()),
    ("GET", "/diagnostics", ()),
    ("GET", "/", ()),
]

VALUES = ["", "1", "0", "auto", "custom", "provider", "off", "on", "fastest", "nl-ams", "de-fra",
          "1420", "1280", "65536", "-1", "60", "1440", "1441", "9.9.9.9", "1.1.1.1 2606:4700::1111",
          "::1", "yes", PASSWORD, EMAIL, CODE, "\x00", "\u00e9\u00e8", "\ud800", "%", "%zz", "a" * 300,
          "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
          "Address = 10.0.0.2/32\n[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
          "Endpoint = 203.0.113.1:51820\nAllowedIPs = 0.0.0.0/0\n"]

CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
                 "multipart/form-data; boundary=----fz", "multipart/form-data; boundary=----fz; charset=nope",
                 "multipart/form-data; boundary=----fz; charset=latin-1", "multipart/form-data", "application/json",
                 "text/plain", "", "application/x-www-form-urlencoded; boundary=\x00"]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Visitor:
    def __init__(self, world):
        self.world = world
        self.cookie = None
        self.csrf = None


class World:
    def __init__(self):
        self.clock = Clock()
        self.backend = FakeBackend(clock=lambda: WALL + self.clock.t)
        # The password in memory; the setup code file in a directory of its own.
        config = WebConfig(host=LAN, port=443, state_dir=tempfile.mkdtemp(prefix="vpnspot-fuzz-"),
                           memory_only=True)
        self.app = make_app(self.backend, config, clock=self.clock)
        self.passwords = self.app.bottle.config["vpnspot.passwords"]
        self.admin = Visitor(self)
        self.signed_out = Visitor(self)
        self.refresh(self.admin, "/setup/password")
        r = self.send(self.admin, "POST", "/setup/password",
                      self.form({"password": PASSWORD, "repeat": PASSWORD, "csrf": self.admin.csrf,
                                 "setup_code": self.app.bottle.config["vpnspot.setup_code"]()}))
        assert r[0] == 303, r
        for path, fields in (("/setup/account", {"email": EMAIL, "code": CODE}),
                             ("/setup/region", {"region": "fastest"}),
                             ("/setup/protection", {"kill_switch": "1"})):
            self.refresh(self.admin, path)
            fields["csrf"] = self.admin.csrf
            r = self.send(self.admin, "POST", path, self.form(fields))
            assert r[0] == 303, (path, r)
        self.refresh(self.admin)

    @staticmethod
    def form(fields):
        return urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"

    def send(self, visitor, method, path, body_ct=(b"", None), headers=None, host=LAN,
             cookie=None, tick=True):
        """One request; returns (status, headers dict, body bytes, errors text)."""
        body, ctype = body_ct
        if tick:
            self.clock.t += 0.01
        path, _, query = path.partition("?")
        errors = io.StringIO()
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "router", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(body), "wsgi.errors": errors,
            "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": host,
        }
        if ctype is not None:
            environ["CONTENT_TYPE"] = ctype
        cookie = cookie if cookie is not None else (visitor.cookie if visitor else None)
        if cookie:
            environ["HTTP_COOKIE"] = "%s=%s" % (security.COOKIE_NAME, cookie)
        for k, v in (headers or {}).items():
            # As a server hands them over (PEP 3333): the header's bytes as latin-1.
            environ["HTTP_" + k.upper().replace("-", "_")] = v.encode("utf-8", "surrogatepass").decode("latin-1") \
                if isinstance(v, str) else v.decode("latin-1")
        captured = {}

        def start_response(status, hdrs, exc_info=None):
            captured["status"], captured["headers"] = status, hdrs
        chunks = self.app(environ, start_response)
        out = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        hdrs = {}
        for k, v in captured["headers"]:
            if k.lower() == "set-cookie":
                if visitor is not None and v.startswith(security.COOKIE_NAME + "="):
                    value = v.split(";", 1)[0].split("=", 1)[1]
                    visitor.cookie = value or None
                    visitor.csrf = None
            hdrs[k.lower()] = v
        return int(captured["status"].split()[0]), hdrs, out, errors.getvalue()

    def refresh(self, visitor, path="/login"):
        """Load a page to learn the visitor's CSRF token (and get a session)."""
        _, _, body, _ = self.send(visitor, "GET", path)
        text = body.decode("utf-8", "replace")
        marker = 'name="csrf-token" content="'
        i = text.find(marker)
        visitor.csrf = text[i + len(marker):text.index('"', i + len(marker))] if i >= 0 else None

    def admin_signed_in(self):
        status = self.send(self.admin, "GET", "/api/debug")[0]
        return status == 200

    def sign_in_again(self):
        """After a fuzzed sign-out, eviction or lockout: wait out the lockout, sign in."""
        self.clock.t += security.LOCKOUT_MAX + 1
        self.admin.cookie = None
        self.refresh(self.admin)
        r = self.send(self.admin, "POST", "/login",
                      self.form({"password": PASSWORD, "csrf": self.admin.csrf}))
        assert r[0] == 303, r
        self.refresh(self.admin, "/settings")
        assert self.admin.csrf

    def snapshot(self):
        b = self.backend
        d = b.debug
        return (b.config_text, b.enrolled_email, id(b.imported), b.imported is None,
                d.state, d.token, d.expires_at, len(getattr(d, "entries", ()) or ()),
                json.dumps(self.passwords.record, sort_keys=True))


_world = None


def world():
    global _world
    if _world is None:
        _world = World()
    return _world


def _text(r, maxlen=300):
    n = r.byte() % 8
    if n == 7:
        return r.take(r.byte() + r.byte() * 4 % maxlen).decode("latin-1")
    if n >= 4:
        return r.take(r.byte() % 40).decode("utf-8", "replace")
    return r.choice(VALUES)


def _fields(r, names, token):
    fields = []
    for _ in range(r.byte() % 6 + (1 if names else 0)):
        if names and r.byte() % 4:
            name = r.choice(names)
        else:
            name = r.choice(("csrf", "x", "", "kill_switch", _text(r, 40)))
        fields.append((name, _text(r)))
    if token is not None:
        fields.insert(r.byte() % (len(fields) + 1), ("csrf", token))
    return fields


def _multipart(fields, r):
    boundary = "----fz"
    parts = []
    for name, value in fields:
        if name == "conf" or r.byte() % 8 == 0:
            parts.append('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                         'Content-Type: text/plain\r\n\r\n%s\r\n' % (boundary, name,
                                                                      r.choice(("a.conf", "", '"', "\u00e9")),
                                                                      value))
        else:
            parts.append('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                         % (boundary, name, value))
    if r.byte() % 4:
        parts.append("--%s--\r\n" % boundary)
    body = "".join(parts).encode("utf-8", "surrogatepass")
    if r.byte() % 4 == 0:
        # A part that is not UTF-8 (a file from another system, line noise).
        body = body.replace(b"\r\n\r\n", b"\r\n\r\n" + r.take(4), 1)
    return body


def _request(w, r, json_body):
    """Fuzz bytes -> (visitor, method, path, body, content type, headers, cookie, host)."""
    kind = r.choice(("admin", "admin", "admin", "admin-forged", "signed-out", "stranger"))
    method, path, names = r.choice(ROUTES)
    if r.byte() % 16 == 0:
        method = r.choice(("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"))
    if r.byte() % 32 == 0:
        path += "?" + _text(r, 60)
    visitor = None
    cookie = None
    token = None
    if kind == "admin":
        visitor = w.admin
        token = w.admin.csrf
    elif kind == "admin-forged":
        visitor = w.admin
        token = r.choice((None, "", w.admin.csrf[:-1], w.admin.csrf + "x", w.signed_out.csrf or "",
                          _text(r, 60)))
    elif kind == "signed-out":
        if w.signed_out.cookie is None or w.signed_out.csrf is None:
            w.refresh(w.signed_out)
        visitor = w.signed_out
        token = w.signed_out.csrf
    else:
        cookie = r.choice(("", "x" * 43, "\x00", w.admin.cookie[:-1] + "A", _text(r, 120), ";;=="))
    headers = {}
    in_header = r.byte() % 3 == 0 or json_body
    fields = _fields(r, list(names), None if in_header else token)
    if in_header and token is not None:
        headers["X-CSRF-Token"] = token
    if r.byte() % 16 == 0:
        headers[r.choice(("X-CSRF-Token", "Cookie", "Content-Type", "Accept", "Referer"))] = r.take(r.byte() % 40)
    if json_body:
        shape = r.byte() % 6
        if shape == 0:
            body = r.rest()
        elif shape == 1:
            body = json.dumps([v for _, v in fields]).encode()
        elif shape == 2:
            body = json.dumps({n: {"v": v, "n": [1, 2.5, None, True]} for n, v in fields}).encode()
        else:
            body = json.dumps(dict(fields), ensure_ascii=bool(shape % 2)).encode("utf-8", "surrogatepass")
        ctype = r.choice(("application/json", "application/json; charset=utf-8", "text/json",
                          "application/x-www-form-urlencoded", None))
    else:
        shape = r.byte() % 4
        ctype = r.choice(CONTENT_TYPES)
        if ctype.startswith("multipart"):
            body = _multipart(fields, r)
        elif shape == 0:
            prefix = ("csrf=%s&" % urllib.parse.quote(token.encode("utf-8", "surrogatepass"))).encode() if token and not in_header else b""
            body = prefix + r.rest()
        else:
            body = urllib.parse.urlencode([(n.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                                           for n, v in fields],
                                          doseq=True).encode()
    host = LAN
    if r.byte() % 32 == 0:
        host = r.choice(("evil.example", "", LAN + ":8443", "[::1]", "vpnspot.lan", _text(r, 60)))
    return kind, visitor, method, path, body, ctype, headers, cookie, host


def _check(data, json_body):
    w = world()
    r = Bytes(data)
    kind, visitor, method, path, body, ctype, headers, cookie, host = _request(w, r, json_body)
    # A debug session ends on time, not because of a request: let time pass
    # first, so the snapshot compares only what the request itself did.
    w.clock.t += 0.01
    w.backend.debug.tick(int(w.backend.clock()))
    before = w.snapshot()
    try:
        host.encode("latin-1")
    except UnicodeEncodeError:
        host = LAN
    status, hdrs, out, errors = w.send(visitor, method, path, (body, ctype), headers, host, cookie,
                                       tick=False)
    assert not errors, "the app logged an error: %s" % errors[-1500:]
    assert status != 500, "500 for %s %s" % (method, path)
    assert 200 <= status < 500, "status %d for %s %s" % (status, method, path)
    if status == 200 and method != "HEAD" and hdrs.get("content-type", "").startswith("application/json"):
        json.loads(out)
    refused = status >= 400 or kind != "admin" or (
        status in (301, 302, 303) and hdrs.get("location", "").endswith("/login"))
    if refused:
        after = w.snapshot()
        assert after == before, "a refused %s %s (%s, %d) changed the router: %r -> %r" % (
            method, path, kind, status, before, after)
    if visitor is w.signed_out and status == 303 and path == "/login":
        # The fuzzer found the password: that visitor is the admin now, so
        # the next signed-out request starts a fresh session.
        w.signed_out.cookie = w.signed_out.csrf = None
    if visitor is w.admin and (path in ("/logout", "/login") or status in (401,) or
                               hdrs.get("location", "").endswith("/login") or w.admin.csrf is None):
        if not w.admin_signed_in():
            w.sign_in_again()
        elif w.admin.csrf is None:
            w.refresh(w.admin, "/settings")


def check_form(data):
    _check(data, json_body=False)


def check_json(data):
    _check(data, json_body=True)


def _seed(route_index, kind_index=0, *tail):
    return bytes([kind_index, 1, route_index, 1, 1]) + bytes(tail)


SEEDS = [_seed(i, k) for i in range(len(ROUTES)) for k in (0, 3, 4, 5)] + [
    b"\x00\x01\x07\x01\x01\x03\x00\x00\x01\x01\x02\x01\x05\x00\x06",
    b"\x00\x01\x08\x01\x01\x01\x00\x00\x1f" + b"[Interface]\nPrivateKey = x\n",
]

register("web.form", check_form, expected=(), seeds=SEEDS, max_len=2048, setup=world,
         doc="web UI form bodies (urlencoded, multipart, raw) to every state-changing route and "
             "the JSON API, as the admin with and without the CSRF token, signed out and as a "
             "stranger")
register("web.json", check_json, expected=(), seeds=SEEDS, max_len=2048, setup=world,
         doc="web UI JSON bodies (and non-JSON under a JSON type) to every state-changing route and "
             "the JSON API, with the token in X-CSRF-Token, with a wrong one and without")
