"""Who may use the web UI: the admin password, sessions, CSRF tokens, the
login lockout, and the checks every request passes before a page sees it.

Rules kept here:
  - the password is stored only as scrypt(salt) in STATE/web-admin.json,
    mode 0600; it is never logged, echoed or kept after the check. The
    first one is created, never replaced (create(): link(2) of a complete
    file, which fails when one exists), and only with the router's setup
    code (setupcode.py) in the same request: of two first-run forms sent at
    once exactly one wins, the other is told a password was already set;
  - one password check at a time, always in the same thread (_Hasher):
    scrypt needs 16 MiB, and 32 parallel checks would need 512 MiB the
    router does not have. One thread, because the C allocator keeps a
    freed work area in the arena of the thread that used it: checks run
    one after another in 16 connection threads would still keep 16 x 16
    MiB;
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
  - wrong passwords and wrong setup codes: after MAX_FAILURES in a row
    sign-in is locked for LOCKOUT_SECONDS, doubling with each further
    lockout up to LOCKOUT_MAX. Attempts run one at a time
    (Lockout.attempt), and each is counted (and written to the lockout
    file, when there is one) BEFORE it is checked: parallel requests cannot
    all slip past the limit, a right answer is never refused because of
    wrong ones still being checked, and a web process killed mid-check
    (out of memory, kill -9) does not forget them. The
    count is global, not per client: keeping LAN client addresses would
    break the privacy promise, and a household has one admin. A LAN device
    can therefore delay the household's sign-in, never guess the password;
  - the session table is bounded (MAX_SESSIONS); when it is full a new
    anonymous visit evicts the oldest anonymous session, never a signed-in
    one (a flood of anonymous visits cannot sign the household out);
  - requests must name the router (Host is one of the allowed names or
    addresses, with or without the port): a page on another site that
    resolves its name to the router (DNS rebinding) gets 421;
  - bodies above the size limit are refused before they are read (413);
  - forwarding headers (X-Forwarded-Host/-Proto/-For/..., Forwarded) are
    removed before any page sees them: the UI is never behind a proxy, and
    Bottle would otherwise build absolute redirects from them
    (Location: http://evil.example/...).
"""

import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time

from vpnspot_router.store import SOURCE_FILE, FileStore, create_exclusive

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


class _Hasher:
    """Runs every scrypt of this process, one at a time, in one thread of
    its own (started on first use, a daemon): its 16 MiB work area is then
    kept once, in that thread's allocator arena, whatever thread asks."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = None

    def run(self, fn):
        with self.lock:
            if self.jobs is None:
                import queue
                self.jobs = queue.Queue()
                threading.Thread(target=self._serve, name="vpnspot-scrypt", daemon=True).start()
        done = threading.Event()
        box = {}
        self.jobs.put((fn, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _serve(self):
        while True:
            fn, box, done = self.jobs.get()
            try:
                box["result"] = fn()
            except Exception as e:
                box["error"] = e
            done.set()


HASHER = _Hasher()


class PasswordError(ValueError):
    pass


class AlreadySet(Exception):
    """create() found a password record: someone else finished the first run."""


def _scrypt(password, salt, n, r, p):
    data = password.encode("utf-8")
    return HASHER.run(lambda: hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=64 << 20,
                                             dklen=32))


def hash_password(password, salt=None, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P):
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p)
    return {"v": 1, "scheme": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex(),
            "hash": digest.hex()}


def verify_password(record, password):
    try:
        digest = _scrypt(password, bytes.fromhex(record["salt"]), record["n"], record["r"],
                         record["p"])
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
    """The admin password record on flash (None in memory_only mode until set).

    The file is the truth, not this copy: every check first compares the
    file's os.stat (inode, mtime, ctime, size; one stat call) with the one
    the copy was read from, and reads it again when they differ. A record
    removed (a factory reset, by hand) is no password at once, so the
    first-run page is offered and the old password no longer signs in; a
    record written by another process is the one checked. identity() names
    the record (not the file's timestamps): a session remembers it at
    sign-in and is signed out when it changes (Session.password_id)."""

    def __init__(self, state_dir, memory_only=False):
        self.memory_only = memory_only
        self.record = None
        self.ident = None
        self.stamp = None           # os.stat of the file self.record was read from
        self.store = None
        self.lock = threading.Lock()        # create(): one at a time
        self.reading = threading.Lock()     # _follow(): one read at a time
        if not memory_only:
            os.makedirs(state_dir, mode=0o700, exist_ok=True)
            self.store = FileStore(os.path.join(state_dir, PASSWORD_FILE))
            self._follow()

    def _stat(self):
        try:
            st = os.stat(self.store.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def _follow(self):
        """Bring the copy in step with the file (stat first, then read: a
        file changed in between is read again at the next check)."""
        if self.store is None:
            return
        with self.reading:
            stamp = self._stat()
            if stamp is not None and stamp == self.stamp:
                return
            record = None
            if stamp is not None:
                result = self.store.read(_validate_record)
                if result.data:
                    record = json.loads(result.data)
                if result.source != SOURCE_FILE:
                    stamp = None        # moved aside or restored: stat again next time
            self._take(record, stamp)

    def _take(self, record, stamp):
        self.record, self.ident, self.stamp = record, record_identity(record), stamp

    def is_set(self):
        self._follow()
        return self.record is not None

    def identity(self):
        """The current record's identity (None: no password set)."""
        self._follow()
        return self.ident

    def create(self, password):
        """The first password. Raises AlreadySet, and writes nothing, when a
        record exists (in this process or on flash)."""
        with self.lock:
            if self.is_set():
                raise AlreadySet()
            record = hash_password(password)
            if self.store is None:
                self._take(record, None)
                return
            data = json.dumps(record).encode() + b"\n"
            try:
                create_exclusive(self.store.path, data)
            except FileExistsError:
                self._follow()
                raise AlreadySet()
            # The copy FileStore.read falls back to if the record is damaged.
            self.store._atomic_write(self.store.last_good, data)
            self._follow()

    def verify(self, password):
        self._follow()
        record = self.record
        return record is not None and verify_password(record, password)


def record_identity(record):
    """A short name of one password record (its salt and hash: a new record,
    even of the same password, has a new random salt); None for no record."""
    if not record:
        return None
    return hashlib.sha256(("%s:%s" % (record.get("salt"), record.get("hash"))).encode()
                          ).hexdigest()[:32]


class Lockout:
    """Global wrong-password (and wrong setup code) counter with growing
    lockouts. attempt(check) counts, then checks, one attempt at a time.
    `path`: a file (in the RUN directory, tmpfs) that holds the count
    across a killed web process; written atomically at every counted
    attempt (before its check), read at start."""

    def __init__(self, clock=time.monotonic, path=None):
        self.clock = clock
        self.path = path
        self.failures = 0
        self.lockouts = 0
        self.locked_until = 0.0
        self.lock = threading.Lock()
        self.warned = False
        if path:
            self._read()

    def remaining(self):
        return max(0, int(self.locked_until - self.clock() + 0.999))

    def attempt(self, check):
        """None while locked (nothing counted, `check` not run: refuse);
        else count the attempt as wrong, then run check() -> True (right:
        the count starts again) or False. Attempts wait for each other, so
        the count is always that of finished checks."""
        with self.lock:
            if self.locked_until - self.clock() > 0:
                return None
            self.failures += 1
            if self.failures >= MAX_FAILURES:
                # This attempt is still checked; any later one is refused.
                seconds = min(LOCKOUT_SECONDS * (2 ** self.lockouts), LOCKOUT_MAX)
                self.locked_until = self.clock() + seconds
                self.lockouts += 1
                self.failures = 0
            self._write()
            if not check():
                return False
            self.failures = 0
            self.lockouts = 0
            self.locked_until = 0.0
            self._write()
            return True

    def _write(self):
        if not self.path:
            return
        data = json.dumps({"failures": self.failures, "lockouts": self.lockouts,
                           "locked_until": self.locked_until}).encode()
        tmp = "%s.tmp-%d" % (self.path, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.rename(tmp, self.path)
        except OSError as e:
            if not self.warned:
                self.warned = True
                print("vpnspot web: the sign-in lockout is not saved (%s): a restart of the web "
                      "process would forget it" % (e.strerror or e), file=sys.stderr)

    def _read(self):
        try:
            with open(self.path, "rb") as f:
                data = json.loads(f.read(4096))
            failures = int(data.get("failures", 0))
            lockouts = int(data.get("lockouts", 0))
            locked_until = float(data.get("locked_until", 0.0))
        except (OSError, ValueError, TypeError, AttributeError):
            return
        if locked_until - self.clock() > LOCKOUT_MAX:
            return      # written before a reboot (monotonic clock restarted): void
        self.failures, self.lockouts, self.locked_until = failures, lockouts, locked_until


class Session:
    def __init__(self, sid, now):
        self.sid = sid
        self.csrf = secrets.token_urlsafe(32)
        self.created = now
        self.last_seen = now
        self.authenticated = False
        self.password_id = None     # PasswordStore.identity() it signed in with
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

    def new(self, authenticated=False):
        """A session; `authenticated` only for a sign-in (rotate). The table
        stays at MAX_SESSIONS: an anonymous session makes room by evicting
        the oldest anonymous one, never a signed-in one (when all are signed
        in, the visitor gets a session that is not kept: its forms expire).
        A sign-in may evict the oldest session of either kind."""
        now = self.clock()
        s = Session(secrets.token_urlsafe(32), now)
        s.authenticated = authenticated
        with self.lock:
            if len(self.by_id) >= MAX_SESSIONS:
                candidates = [x for x in self.by_id.values() if not x.authenticated]
                if authenticated and not candidates:
                    candidates = list(self.by_id.values())
                # Oldest first: a flood of anonymous visits cannot grow RAM.
                candidates.sort(key=lambda x: x.last_seen)
                for x in candidates[:len(self.by_id) - MAX_SESSIONS + 1]:
                    del self.by_id[x.sid]
                if len(self.by_id) >= MAX_SESSIONS:
                    return s
            self.by_id[s.sid] = s
            return s

    def rotate(self, session, password_id=None):
        """A new, signed-in id for the same person (on sign-in), so an id
        planted before sign-in is worthless after it. `password_id`: the
        identity of the password record it signed in with; the session is
        signed in only while that record is the one in force (app.session)."""
        with self.lock:
            self.by_id.pop(session.sid, None)
        fresh = self.new(authenticated=True)
        fresh.password_id = password_id
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
        for key in [k for k in environ if k.startswith("HTTP_X_FORWARDED_")
                    or k in ("HTTP_FORWARDED", "HTTP_X_REAL_IP")]:
            del environ[key]
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
                  "authenticated": s.authenticated, "password_id": s.password_id,
                  "flash": [list(f) for f in s.flash],
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
        if not lockout.path:            # else the lockout's own file, newer, is in force
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
                s.password_id = item.get("password_id")
                s.flash = [tuple(f) for f in item.get("flash") or []]
                s.debug_token = item.get("debug_token")
                if now - s.last_seen <= SESSION_IDLE and now - s.created <= SESSION_MAX:
                    sessions.by_id[s.sid] = s
    except (KeyError, TypeError, ValueError):
        return False
    return True
