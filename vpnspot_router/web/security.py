"""Who may use the web UI: the admin password, sessions, CSRF tokens, the
login lockout, and the checks every request passes before a page sees it.

Rules kept here:
  - the password is stored only as scrypt(salt) in STATE/web-admin.json,
    written atomically through store.FileStore with mode 0600; it is never
    logged, echoed or kept after the check;
  - one cookie (COOKIE_NAME) holds a random session id; everything else
    (signed-in flag, CSRF token, messages for the next page, the debug
    session token) lives server-side in RAM. A web process started on
    demand (webholder.py) exits when idle: it then saves the sessions and
    the lockout to a file in the RUN directory (tmpfs, 0600, read and
    removed by the next web process; save_state/load_state), so a household
    is still signed in, and a guesser still locked out, after an idle exit.
    A reboot or a crash forgets them, as before;
  - every state-changing request carries the session's CSRF token (form
    field `csrf` or header X-CSRF-Token), compared in constant time;
  - wrong passwords: after MAX_FAILURES in a row sign-in is locked for
    LOCKOUT_SECONDS, doubling with each further lockout up to
    LOCKOUT_MAX. The count is global, not per client: keeping LAN client
    addresses would break the privacy promise, and a household has one
    admin. A LAN device can therefore delay the household's sign-in, never
    guess the password;
  - requests must name the router (Host is one of the allowed names or
    addresses, with or without the port): a page on another site that
    resolves its name to the router (DNS rebinding) gets 421;
  - bodies above the size limit are refused before they are read (413).
"""

import hashlib
import hmac
import json
import os
import secrets
import threading
import time

from vpnspot_router.store import FileStore

COOKIE_NAME = "vpnspot_session"
PASSWORD_FILE = "web-admin.json"
MIN_PASSWORD = 8
MAX_PASSWORD = 256
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60
LOCKOUT_MAX = 15 * 60
SESSION_IDLE = 30 * 60
SESSION_MAX = 12 * 3600
MAX_SESSIONS = 64
# scrypt n=2^14, r=8 needs 16 MiB for about 50 ms on a router CPU: a cost
# the router can pay per sign-in, and an offline guesser pays per guess.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1


class PasswordError(ValueError):
    pass


def hash_password(password, salt=None, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P):
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 << 20,
                            dklen=32)
    return {"v": 1, "scheme": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex(),
            "hash": digest.hex()}


def verify_password(record, password):
    try:
        digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(record["salt"]),
                                n=record["n"], r=record["r"], p=record["p"], maxmem=64 << 20,
                                dklen=32)
    except (KeyError, ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), record["hash"])


def check_new_password(password, repeat):
    if len(password) < MIN_PASSWORD:
        raise PasswordError("choose a password of at least %d characters" % MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise PasswordError("choose a password of at most %d characters" % MAX_PASSWORD)
    if password != repeat:
        raise PasswordError("the two passwords are not the same; type them again")


def _validate_record(data):
    record = json.loads(data)
    if not isinstance(record, dict) or record.get("scheme") != "scrypt":
        raise ValueError("not a password record")
    for key in ("n", "r", "p", "salt", "hash"):
        if key not in record:
            raise ValueError("missing %s" % key)


class PasswordStore:
    """The admin password record on flash (None in memory_only mode until set)."""

    def __init__(self, state_dir, memory_only=False):
        self.memory_only = memory_only
        self.record = None
        self.store = None
        if not memory_only:
            os.makedirs(state_dir, mode=0o700, exist_ok=True)
            self.store = FileStore(os.path.join(state_dir, PASSWORD_FILE))
            result = self.store.read(_validate_record)
            if result.data:
                self.record = json.loads(result.data)

    def is_set(self):
        return self.record is not None

    def set(self, password):
        record = hash_password(password)
        if self.store is not None:
            old = os.umask(0o077)
            try:
                self.store.write(json.dumps(record).encode() + b"\n")
            finally:
                os.umask(old)
        self.record = record

    def verify(self, password):
        return self.record is not None and verify_password(self.record, password)


class Lockout:
    """Global wrong-password counter with growing lockouts."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.failures = 0
        self.lockouts = 0
        self.locked_until = 0.0
        self.lock = threading.Lock()

    def remaining(self):
        return max(0, int(self.locked_until - self.clock() + 0.999))

    def failed(self):
        with self.lock:
            self.failures += 1
            if self.failures >= MAX_FAILURES:
                seconds = min(LOCKOUT_SECONDS * (2 ** self.lockouts), LOCKOUT_MAX)
                self.locked_until = self.clock() + seconds
                self.lockouts += 1
                self.failures = 0

    def succeeded(self):
        with self.lock:
            self.failures = 0
            self.lockouts = 0


class Session:
    def __init__(self, sid, now):
        self.sid = sid
        self.csrf = secrets.token_urlsafe(32)
        self.created = now
        self.last_seen = now
        self.authenticated = False
        self.flash = []             # (kind, text) shown once on the next page
        self.debug_token = None


class Sessions:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.by_id = {}
        self.lock = threading.Lock()

    def get(self, sid):
        if not sid or not isinstance(sid, str) or len(sid) > 100:
            return None
        now = self.clock()
        with self.lock:
            s = self.by_id.get(sid)
            if s is None:
                return None
            if now - s.last_seen > SESSION_IDLE or now - s.created > SESSION_MAX:
                del self.by_id[sid]
                return None
            s.last_seen = now
            return s

    def new(self):
        now = self.clock()
        with self.lock:
            if len(self.by_id) >= MAX_SESSIONS:
                # Oldest first: a flood of anonymous visits cannot grow RAM.
                oldest = sorted(self.by_id.values(), key=lambda s: s.last_seen)
                for s in oldest[:len(self.by_id) - MAX_SESSIONS + 1]:
                    del self.by_id[s.sid]
            s = Session(secrets.token_urlsafe(32), now)
            self.by_id[s.sid] = s
            return s

    def rotate(self, session):
        """A new id for the same person (on sign-in), so an id planted before
        sign-in is worthless after it."""
        with self.lock:
            self.by_id.pop(session.sid, None)
        fresh = self.new()
        fresh.flash = session.flash
        return fresh

    def drop(self, session):
        with self.lock:
            self.by_id.pop(session.sid, None)


def csrf_ok(session, token):
    return (session is not None and isinstance(token, str) and token != ""
            and hmac.compare_digest(token.encode(), session.csrf.encode()))


def host_allowed(host_header, allowed):
    """True when Host names the router: an allowed name or address, any port."""
    if not host_header or len(host_header) > 300:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        name = host[:end + 1]
        rest = host[end + 1:]
    else:
        name, _, port = host.partition(":")
        rest = ":" + port if _ else ""
    if rest and (not rest.startswith(":") or not rest[1:].isdigit()):
        return False
    return name in allowed


class Guard:
    """WSGI middleware run before Bottle: Host check, body size limit, and the
    security headers every answer carries (static files and errors too)."""

    HEADERS = [
        ("Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
         "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]

    def __init__(self, app, allowed_hosts, max_body, hsts=False):
        self.app = app
        self.allowed = set(h.lower() for h in allowed_hosts)
        self.max_body = max_body
        self.extra = list(self.HEADERS)
        if hsts:
            self.extra.append(("Strict-Transport-Security", "max-age=31536000"))

    def _refuse(self, start_response, status, text):
        body = (text + "\n").encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body)))] + self.extra)
        return [body]

    def __call__(self, environ, start_response):
        if not host_allowed(environ.get("HTTP_HOST", ""), self.allowed):
            return self._refuse(start_response, "421 Misdirected Request",
                                "This router answers only to its own address; open it by its "
                                "LAN address or name.")
        length = environ.get("CONTENT_LENGTH") or "0"
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() not in ("", "identity"):
            return self._refuse(start_response, "411 Length Required",
                                "Send the request with a Content-Length.")
        try:
            n = int(length)
        except ValueError:
            return self._refuse(start_response, "400 Bad Request", "Bad Content-Length.")
        if n < 0 or n > self.max_body:
            return self._refuse(start_response, "413 Content Too Large",
                                "The request is larger than %d KiB; nothing was changed."
                                % (self.max_body // 1024))

        def start(status, headers, exc_info=None):
            names = set(h[0].lower() for h in headers)
            return start_response(status, headers + [h for h in self.extra
                                                     if h[0].lower() not in names], exc_info)
        return self.app(environ, start)


# -- surviving an idle exit (on-demand web process) ------------------------------
#
# time.monotonic() is CLOCK_MONOTONIC on Linux: one clock for every process
# since boot, so the saved timestamps stay comparable in the next process.
# The file is in the RUN directory (tmpfs): gone at reboot, never on flash.

STATE_VERSION = 1


def save_state(path, sessions, lockout):
    """Write the sessions and the lockout to `path` (0600, atomic rename)."""
    with sessions.lock:
        items = [{"sid": s.sid, "csrf": s.csrf, "created": s.created, "last_seen": s.last_seen,
                  "authenticated": s.authenticated, "flash": [list(f) for f in s.flash],
                  "debug_token": s.debug_token} for s in sessions.by_id.values()]
    with lockout.lock:
        lock = {"failures": lockout.failures, "lockouts": lockout.lockouts,
                "locked_until": lockout.locked_until}
    data = json.dumps({"v": STATE_VERSION, "sessions": items, "lockout": lock}).encode()
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def load_state(path, sessions, lockout):
    """Take over what an earlier web process saved (and remove the file, so
    it is read once). A missing or unreadable file means a fresh start."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return False
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        return False
    now = sessions.clock()
    try:
        lock = data.get("lockout") or {}
        with lockout.lock:
            lockout.failures = int(lock.get("failures", 0))
            lockout.lockouts = int(lock.get("lockouts", 0))
            lockout.locked_until = float(lock.get("locked_until", 0.0))
        with sessions.lock:
            for item in (data.get("sessions") or [])[-MAX_SESSIONS:]:
                s = Session(str(item["sid"]), float(item["created"]))
                s.csrf = str(item["csrf"])
                s.last_seen = float(item["last_seen"])
                s.authenticated = item.get("authenticated") is True
                s.flash = [tuple(f) for f in item.get("flash") or []]
                s.debug_token = item.get("debug_token")
                if now - s.last_seen <= SESSION_IDLE and now - s.created <= SESSION_MAX:
                    sessions.by_id[s.sid] = s
    except (KeyError, TypeError, ValueError):
        return False
    return True
