"""The web UI's pages and JSON API: app(backend, config) -> a WSGI app.

Request pipeline (outermost first):
  security.Guard   Host must name the router (else 421), body within the
                   size limit (else 413), security headers on every answer
  Bottle routes    session from the one cookie (made on the first visit);
                   pages that need the admin redirect to the wizard or the
                   sign-in; every POST checks the session's CSRF token
                   before it looks at any other field
  templates        webui/templates, Bottle SimpleTemplate: {{ }} escapes
                   everything; the only unescaped output is the chart SVG,
                   which chart.py builds from numbers and escapes itself

The wizard is derived from state, not stored (wizard_steps): 1 password
(done once set), 2 account (done once enrolled, however: this page, the
`vpnspot enroll` command, a technician), 3 region and 4 kill switch (done
once chosen by anyone: the household's config file or the ISP's
provisioning names them). A visitor without a password is sent to step 1
and one not signed in to the sign-in; one not enrolled to step 2. After a
step's form, the next step NOT done is shown, else the status page, so a
router enrolled before its first visit goes from the password straight to
the status page. Every setup page lists all four steps with their state
and links (a done step can be opened again and changed; one not done can
be skipped, keeping the current value): no step is a dead end and none is
reachable only by typing its address.

The status page and /api/status show the same fields (status_view): the
page's script replaces every one of them, the state's colour and the notes
on each refresh, so an open page never shows a new state in an old box.
"""

import codecs
import http.cookies
import json
import os
import time

import bottle

from vpnspot_router import setupcode

from . import chart, security
from .backend import BackendError, FieldError, KILL_SWITCH_OFF_WARNING, NotAvailable

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WEBUI = os.path.join(os.path.dirname(os.path.dirname(PACKAGE_DIR)), "webui")
STATIC_FILES = ("style.css", "app.js")

# The status box's headline per backend state (backend.STATE_TEXT explains
# each); the page's colour comes from the state (style.css .state-STATE).
STATE_LABEL = {"protected": "Protected", "connecting": "Connecting",
               "blocked": "Blocked", "unprotected": "NOT protected",
               "not-enrolled": "Not signed in", "unknown": "Unknown"}
# The setup wizard: (step, path, title) in order; see wizard_steps().
WIZARD = (("password", "/setup/password", "Protect these pages"),
          ("account", "/setup/account", "Sign in to VPN Spot"),
          ("region", "/setup/region", "Choose a region"),
          ("protection", "/setup/protection", "The kill switch"))


# The charsets a request body may name: the router's pages are UTF-8 (so
# are the forms a browser sends from them); ASCII and Latin-1 are what other
# clients commonly declare. Any other name (or one Python does not know) is
# a body the UI cannot read as its sender meant it.
FORM_CHARSETS = ("utf-8", "ascii", "iso8859-1")


def form_charset_ok(content_type):
    """True when every charset= parameter of a Content-Type header names one
    of FORM_CHARSETS (or there is none)."""
    for param in content_type.split(";")[1:]:
        name, sep, value = param.partition("=")
        if not sep or name.strip().lower() != "charset":
            continue
        try:
            codec = codecs.lookup(value.strip().strip('"'))
        except (LookupError, ValueError):     # ValueError: a NUL in the name
            return False
        if codec.name not in FORM_CHARSETS:
            return False
    return True


class WebConfig:
    """Where and how the UI is served. allowed_hosts: the names and addresses
    the Host header may carry (the LAN address is always added)."""

    def __init__(self, host="192.168.1.1", port=443, state_dir="/etc/vpnspot", https=True,
                 allowed_hosts=(), webui_dir=None, max_body=128 * 1024, memory_only=False,
                 redirect_port=None, names=("vpnspot.lan", "router.lan", "openwrt.lan"),
                 state_file=None, provisioning_paths=(), lockout_file=None):
        if host in ("0.0.0.0", "::", ""):
            raise ValueError("the web UI binds one LAN address, never all of them (%r)" % host)
        self.host = host
        self.port = port
        self.state_dir = state_dir
        self.https = https
        self.webui_dir = webui_dir or DEFAULT_WEBUI
        self.max_body = max_body
        self.memory_only = memory_only
        self.redirect_port = redirect_port
        # Sessions and lockout saved here at an idle exit (on-demand mode).
        self.state_file = state_file
        # The ISP's provisioning files (their setup code wins over the
        # generated one, setupcode.py), and where the sign-in lockout is
        # kept across a killed web process (RUN directory, tmpfs).
        self.provisioning_paths = tuple(provisioning_paths)
        self.lockout_file = lockout_file
        shown = "[%s]" % host if ":" in host else host
        self.allowed_hosts = [shown] + list(names) + list(allowed_hosts)

    def url(self):
        shown = "[%s]" % self.host if ":" in self.host else self.host
        scheme = "https" if self.https else "http"
        default = 443 if self.https else 80
        return "%s://%s%s/" % (scheme, shown, "" if self.port == default else ":%d" % self.port)


class Templates:
    def __init__(self, directory):
        self.directory = directory
        self.cache = {}

    def render(self, name, **kw):
        tpl = self.cache.get(name)
        if tpl is None:
            tpl = bottle.SimpleTemplate(name=name, lookup=[self.directory])
            self.cache[name] = tpl
        return tpl.render(**kw)


def app(backend, config, clock=time.monotonic):
    """The WSGI application (Guard around Bottle). `clock` drives sessions and
    the lockout, so tests can pass time without sleeping."""
    web = bottle.Bottle(catchall=True)
    templates = Templates(os.path.join(config.webui_dir, "templates"))
    static_dir = os.path.join(config.webui_dir, "static")
    passwords = security.PasswordStore(config.state_dir, memory_only=config.memory_only)
    sessions = security.Sessions(clock)
    lockout = security.Lockout(clock, config.lockout_file)
    web.config["vpnspot.passwords"] = passwords       # for tests and the server
    web.config["vpnspot.sessions"] = sessions

    def setup_code():
        return setupcode.current(config.state_dir, config.provisioning_paths)[0]
    web.config["vpnspot.setup_code"] = setup_code     # for tests and the demos
    if config.state_file:
        security.load_state(config.state_file, sessions, lockout)
        web.config["vpnspot.save_state"] = lambda: security.save_state(config.state_file,
                                                                       sessions, lockout)

    @web.hook("before_request")
    def read_body():
        # Parse a request body once, before any page looks at it: Bottle's
        # multipart reader raises on a part that is not in its charset (or
        # names an unknown one); that is a bad request, not a 500. GET is
        # the one method whose body no page reads (HEAD runs the GET route
        # but checks the CSRF token of the API).
        if bottle.request.method != "GET":
            # Bottle 0.13.5 and later decode a body that names an unknown
            # charset as UTF-8 instead of raising: refuse it here, the same
            # with every Bottle.
            unreadable = not form_charset_ok(bottle.request.environ.get("CONTENT_TYPE", ""))
            try:
                bottle.request.forms
                bottle.request.files
            except (UnicodeError, LookupError, ValueError):
                unreadable = True
            if unreadable:
                raise bottle.HTTPError(400, "The form could not be read; nothing was changed.")

    # -- per-request helpers ----------------------------------------------------

    def session():
        s = bottle.request.environ.get("vpnspot.session")
        if s is not None:
            return s
        s = sessions.get(session_cookie())
        if s is not None and s.authenticated and s.password_id != passwords.identity():
            # The password it signed in with was erased (a factory reset)
            # or replaced: signed out, as by /logout.
            if s.debug_token:
                try:
                    backend.close_debug()
                except BackendError:
                    pass
            sessions.drop(s)
            s = None
        if s is None:
            s = sessions.new()
            set_cookie(s)
        bottle.request.environ["vpnspot.session"] = s
        return s

    def session_cookie():
        try:
            sid = bottle.request.get_cookie(security.COOKIE_NAME)
        except http.cookies.CookieError:
            sid = None
        if sid is None:
            # One malformed cookie (another program's on this address, or a
            # forged header) makes Python's parser refuse the whole header
            # (or silently drop the rest of it): find ours by hand.
            for part in bottle.request.environ.get("HTTP_COOKIE", "").split(";"):
                name, sep, value = part.strip().partition("=")
                if sep and name == security.COOKIE_NAME:
                    return value
        return sid

    def set_cookie(s):
        bottle.response.set_cookie(security.COOKIE_NAME, s.sid, path="/", httponly=True,
                                   samesite="strict", secure=config.https)

    def form(name, limit=4096):
        value = bottle.request.forms.getunicode(name, default="") or ""
        return value[:limit]

    def flash(kind, text):
        session().flash.append((kind, text))

    def render(name, status=200, **kw):
        s = session()
        settings = {}
        try:
            settings = backend.settings()
        except BackendError:
            pass
        page = {"csrf": s.csrf, "signed_in": s.authenticated,
                "provider": settings.get("provider_name", "VPN Spot"),
                "branded": bool(settings.get("branding")),
                "flash": s.flash, "active": kw.get("active", ""),
                "title": kw.get("title", "")}
        s.flash = []
        kw["page"] = page
        bottle.response.status = status
        bottle.response.set_header("Content-Type", "text/html; charset=utf-8")
        bottle.response.set_header("Cache-Control", "no-store")
        return templates.render(name, **kw)

    def refuse_csrf():
        return render("message.tpl", status=403, title="Refused",
                      heading="This form has expired",
                      text="The page was open too long, or the request did not come from this "
                           "router's own pages. Nothing was changed. Go back, reload the page "
                           "and try again.")

    def check_csrf():
        # The header as the server handed it over (latin-1 text, PEP 3333):
        # Bottle's get_header() decodes it as UTF-8 and raises on other bytes.
        token = bottle.request.forms.getunicode("csrf", default="") or \
            bottle.request.environ.get("HTTP_X_CSRF_TOKEN", "")
        return security.csrf_ok(session(), token)

    def wizard_target():
        """Where an authenticated visitor belongs before setup is finished."""
        if not passwords.is_set():
            return "/setup/password"
        if not session().authenticated:
            return "/login"
        try:
            if not backend.status().get("enrolled"):
                return "/setup/account"
        except BackendError:
            pass
        return None

    def wizard_steps(current=None):
        """The four steps with their state, for the list on every setup page:
        [{key, href, title, number, done, detail, current}]."""
        try:
            st = backend.status()
        except BackendError:
            st = {}
        try:
            settings = backend.settings()
        except BackendError:
            settings = {"values": {}, "source": {}}
        values = settings.get("values", {})
        chosen = settings.get("source", {})
        region = values.get("region") or "fastest"
        kill = values.get("kill_switch") == "1"
        state = {
            "password": (passwords.is_set(), ""),
            "account": (bool(st.get("enrolled")),
                        ("signed in as %s" % st["account"]) if st.get("account") else
                        "signed in"),
            "region": (chosen.get("region", "default") != "default",
                       "fastest" if region == "fastest" else region),
            "protection": (chosen.get("kill_switch", "default") != "default",
                           "kill switch on" if kill else "kill switch OFF"),
        }
        steps = []
        for number, (key, href, title) in enumerate(WIZARD, 1):
            done, detail = state[key]
            steps.append({"key": key, "href": href, "title": title, "number": number,
                          "done": done, "detail": detail if done else "",
                          "current": key == current})
        return steps

    def next_step(after):
        """Where the wizard goes after step `after`: the next step not done,
        else the status page."""
        keys = [key for key, _, _ in WIZARD]
        for step in wizard_steps()[keys.index(after) + 1:]:
            if not step["done"]:
                return step["href"]
        return "/status"

    def page(handler):
        """A page for the signed-in admin; POSTs need the CSRF token."""
        def wrapped(*a, **kw):
            # The session first: one whose password is gone is signed out
            # (and its debug session ended) now, not at a later request.
            signed_in = session().authenticated
            if not passwords.is_set():
                return bottle.redirect("/setup/password", 303)
            if not signed_in:
                return bottle.redirect("/login", 303)
            if bottle.request.method == "POST" and not check_csrf():
                return refuse_csrf()
            return handler(*a, **kw)
        wrapped.__name__ = handler.__name__
        return wrapped

    def api(handler):
        def wrapped(*a, **kw):
            bottle.response.set_header("Cache-Control", "no-store")
            if not session().authenticated or not passwords.is_set():
                bottle.response.status = 401
                bottle.response.set_header("Content-Type", "application/json")
                return json.dumps({"error": "sign in first"})
            if bottle.request.method != "GET" and not check_csrf():
                bottle.response.status = 403
                bottle.response.set_header("Content-Type", "application/json")
                return json.dumps({"error": "missing or wrong CSRF token; nothing was changed"})
            result = handler(*a, **kw)
            if isinstance(result, (dict, list)):
                bottle.response.set_header("Content-Type", "application/json")
                return json.dumps(result)
            return result
        wrapped.__name__ = handler.__name__
        return wrapped

    # -- wizard -----------------------------------------------------------------

    @web.get("/")
    def index():
        return bottle.redirect(wizard_target() or "/status", 303)

    def already_set():
        return render("message.tpl", status=409, title="Password already set",
                      heading="A password was already set",
                      text="Someone finished this step first (another browser or tab), so "
                           "yours was not saved and you are not signed in. Sign in with the "
                           "password that was set; if it was not you, factory-reset the router.")

    @web.route("/setup/password", method=["GET", "POST"])
    def setup_password():
        """The first run: a new password and, in the same request, the
        router's setup code (proof that this is the router's owner, not any
        device on the LAN). A wrong code counts against the sign-in
        lockout; the record is created, never replaced."""
        if passwords.is_set():
            if bottle.request.method == "POST":
                return already_set()
            return bottle.redirect("/login" if not session().authenticated else "/status", 303)
        error = field = None
        status = 200
        if bottle.request.method == "POST":
            if not check_csrf():
                return refuse_csrf()
            password = form("password", 10000)
            right = False
            try:
                security.check_new_password(password, form("repeat", 10000))
            except security.PasswordError as e:
                error, field, status = str(e), "password", 400
            else:
                try:
                    expected = setup_code()
                except OSError as e:
                    error, field, status = ("The router cannot read its setup code (%s); "
                                            "nothing was changed." % (e.strerror or e),
                                            "setup_code", 500)
                else:
                    given = form("setup_code", 200)
                    right = lockout.attempt(lambda: setupcode.matches(expected, given))
                    if right is None:
                        status = 429
                    elif not right:
                        error, field = ("That setup code is not right; nothing was changed. "
                                        "Type it exactly as shown (dashes and spaces do not "
                                        "matter)."), "setup_code"
                        status = 429 if lockout.remaining() else 401
            if right:
                try:
                    passwords.create(password)
                except security.AlreadySet:
                    return already_set()
                s = sessions.rotate(session(), passwords.identity())
                bottle.request.environ["vpnspot.session"] = s
                set_cookie(s)
                # A router enrolled before (the `vpnspot enroll` command, a
                # technician, the lab demo) skips what is already done.
                return bottle.redirect(next_step("password"), 303)
        wait = lockout.remaining()
        if wait and status != 400:
            error = ((error + " ") if field == "setup_code" else "") + (
                "Too many wrong setup codes or passwords: this step is locked for %d seconds, "
                "and nothing was changed. Try again after that." % wait)
        return render("setup_password.tpl", status=status, title="Welcome", error=error,
                      field=field, locked=bool(wait), steps=wizard_steps("password"))

    @web.route("/login", method=["GET", "POST"])
    def login():
        if not passwords.is_set():
            return bottle.redirect("/setup/password", 303)
        error = None
        status = 200
        if bottle.request.method == "POST":
            if not check_csrf():
                return refuse_csrf()
            # Counted before the check, one check at a time, so parallel
            # guesses cannot slip past the limit (security.Lockout).
            given = form("password", security.MAX_PASSWORD + 1)
            right = lockout.attempt(lambda: passwords.verify(given))
            if right is None:
                status = 429
            elif right:
                s = sessions.rotate(session(), passwords.identity())
                bottle.request.environ["vpnspot.session"] = s
                set_cookie(s)
                return bottle.redirect(wizard_target() or "/status", 303)
            else:
                status = 429 if lockout.remaining() else 401
                error = "That password is not right."
        wait = lockout.remaining()
        if wait:
            # A password checked and wrong says so; one refused unchecked
            # (the lockout was on) only the wait.
            error = ((error + " ") if error else "") + (
                "Too many wrong passwords. Signing in is locked for %d seconds; "
                "try again after that." % wait)
        return render("login.tpl", status=status, title="Sign in", error=error, locked=bool(wait))

    @web.post("/logout")
    @page
    def logout():
        if session().debug_token:
            # Only this browser could see what its debug session records:
            # signing out ends it rather than leave it recording unseen.
            try:
                backend.close_debug()
            except BackendError:
                pass
        sessions.drop(session())
        bottle.response.delete_cookie(security.COOKIE_NAME, path="/")
        return bottle.redirect("/login", 303)

    @web.route("/setup/account", method=["GET", "POST"])
    @page
    def setup_account():
        error = None
        field = None
        email = ""
        if bottle.request.method == "POST":
            email = form("email", 254)
            try:
                backend.enroll(email, form("code", 64))
            except BackendError as e:
                error, field = e.message, e.field
            else:
                flash("ok", "Signed in to your VPN Spot account.")
                return bottle.redirect(next_step("account"), 303)
        steps = wizard_steps("account")
        return render("setup_account.tpl", status=400 if error else 200, title="Your account",
                      error=error, field=field, email=email, steps=steps, step=steps[1],
                      skip=next_step("account"))

    @web.route("/setup/region", method=["GET", "POST"])
    @page
    def setup_region():
        error = None
        if bottle.request.method == "POST":
            try:
                backend.set_region(form("region", 64))
            except BackendError as e:
                error = e.message
            else:
                return bottle.redirect(next_step("region"), 303)
        data = _servers(backend)
        regions = []
        for srv in data["servers"]:
            if srv["region"] not in [r[0] for r in regions]:
                regions.append((srv["region"], "%s, %s" % (srv["city"], srv["country"])))
        steps = wizard_steps("region")
        # The form shows the current choice (an ISP's or the household's):
        # "Continue" without touching it keeps it.
        current = backend.settings()["values"].get("region") or "fastest"
        if current not in [r[0] for r in regions]:
            current = "fastest"
        return render("setup_region.tpl", status=400 if error else 200, title="Choose a region",
                      error=error, regions=regions, note=data.get("note"), steps=steps,
                      step=steps[2], current=current, skip=next_step("region"))

    @web.route("/setup/protection", method=["GET", "POST"])
    @page
    def setup_protection():
        error = None
        if bottle.request.method == "POST":
            locked = "kill_switch" in backend.settings()["locked"]
            try:
                # A locked kill switch keeps the provider's value; the empty
                # change still tells the backend that setup is finished.
                backend.change_settings({} if locked else
                                        {"kill_switch": "1" if form("kill_switch") else "0"})
            except BackendError as e:
                error = e.message
            else:
                flash("ok", "Setup is finished.")
                return bottle.redirect("/status", 303)
        settings = backend.settings()
        steps = wizard_steps("protection")
        return render("setup_protection.tpl", status=400 if error else 200, title="Protection",
                      error=error, locked=settings["locked"].get("kill_switch"),
                      warning=KILL_SWITCH_OFF_WARNING, steps=steps, step=steps[3],
                      on=settings["values"].get("kill_switch") != "0")

    # -- pages ------------------------------------------------------------------

    @web.get("/status")
    @page
    def status_page():
        target = wizard_target()
        if target:
            return bottle.redirect(target, 303)
        st = backend.status()
        traffic = backend.traffic()
        return render("status.tpl", title="Status", active="status", st=st,
                      shown=status_view(st), debug=_debug_summary(backend), day_svg=chart.svg(traffic["hourly"], "hourly", "chart-day"),
                      month_svg=chart.svg(traffic["daily"], "daily", "chart-month"))

    @web.route("/servers", method=["GET", "POST"])
    @page
    def servers_page():
        error = None
        if bottle.request.method == "POST":
            try:
                backend.select_server(form("server", 64))
            except BackendError as e:
                error = e.message
            else:
                flash("ok", "Server choice saved.")
                return bottle.redirect("/servers", 303)
        return render("servers.tpl", status=400 if error else 200, title="Servers",
                      active="servers", error=error, data=_servers(backend), own=_own(backend))

    @web.route("/settings", method=["GET", "POST"])
    @page
    def settings_page():
        error = None
        field = None
        current = backend.settings()
        if bottle.request.method == "POST":
            changes = _settings_changes(current, form)
            done = None
            try:
                if changes:
                    done = backend.change_settings(changes)
            except BackendError as e:
                error, field = e.message, e.field
            else:
                # What the running router applied now and what waits for a
                # restart (the real backend's answer; the demo says nothing).
                note = (done or {}).get("note")
                if done and done.get("problem"):
                    flash("error", "Settings saved, but %s." % done["problem"])
                flash("ok", ("Settings %s." % note) if note else
                      "Settings saved." if changes else "Nothing to change.")
                return bottle.redirect("/settings", 303)
        return render("settings.tpl", status=400 if error else 200, title="Settings",
                      active="settings", error=error, field=field, s=current,
                      warning=KILL_SWITCH_OFF_WARNING)

    def wireguard(status=200, error=None, result=None):
        return render("wireguard.tpl", status=status, title="WireGuard", active="wireguard",
                      error=error, result=result, own=_own(backend))

    @web.get("/wireguard")
    @page
    def wireguard_page():
        return wireguard()

    @web.post("/wireguard/import")
    @page
    def wireguard_import():
        upload = bottle.request.files.get("conf")
        text = ""
        if upload is not None and upload.filename:
            raw = upload.file.read(64 * 1024 + 1)
            text = raw.decode("utf-8", "replace")
        else:
            text = form("text", 64 * 1024 + 1)
        if not text.strip():
            return wireguard(400, error={"message": "choose a .conf file or paste its text",
                                         "line": None, "field": None})
        try:
            result = backend.import_wg_config(text)
        except BackendError as e:
            return wireguard(400, error={"message": e.message, "line": e.line, "field": e.field})
        return wireguard(result=result)

    @web.post("/wireguard/use")
    @page
    def wireguard_use():
        """Use the imported file: server_source own, applied by the agent at once."""
        try:
            done = backend.use_own_server()
        except BackendError as e:
            flash("error", e.message)
            return bottle.redirect("/wireguard", 303)
        if done.get("problem"):
            flash("error", "Saved, but the router cannot use it: %s" % done["problem"])
        elif done.get("applied"):
            flash("ok", "Your own server is now in use: all traffic of your home goes through "
                        "the tunnel to it.")
        else:
            flash("ok", "Saved. The VPN Spot agent is not running; it uses your own server "
                        "when it starts.")
        return bottle.redirect("/wireguard", 303)

    @web.post("/wireguard/vpnspot")
    @page
    def wireguard_vpnspot():
        try:
            done = backend.use_vpnspot_servers()
        except BackendError as e:
            flash("error", e.message)
            return bottle.redirect("/wireguard", 303)
        flash("ok", "VPN Spot servers are in use again." if done.get("applied") else
              "Saved. The VPN Spot agent is not running; it uses VPN Spot servers when it "
              "starts.")
        return bottle.redirect("/wireguard", 303)

    @web.post("/wireguard/export")
    @page
    def wireguard_export():
        include = form("include_private") == "1"
        try:
            text = backend.export_wg_config(include)
        except BackendError as e:
            flash("error", e.message)
            return bottle.redirect("/wireguard", 303)
        bottle.response.set_header("Content-Type", "text/plain; charset=utf-8")
        bottle.response.set_header("Content-Disposition", 'attachment; filename="vpnspot-router.conf"')
        bottle.response.set_header("Cache-Control", "no-store")
        return text

    @web.get("/diagnostics")
    @page
    def diagnostics_page():
        diag = backend.diagnostics()
        entries = None
        s = session()
        if s.debug_token and diag["debug"]["open"]:
            try:
                entries = backend.debug_entries(s.debug_token)
            except BackendError:
                entries = None
        elif not diag["debug"]["open"]:
            s.debug_token = None
        return render("diagnostics.tpl", title="Diagnostics", active="diagnostics", diag=diag,
                      entries=entries, mine=bool(s.debug_token), fmt=_fmt)

    @web.post("/diagnostics/debug/open")
    @page
    def debug_open():
        text = form("minutes", 10).strip()
        if not text.isdigit() or not 1 <= int(text) <= 1440:
            flash("error", "The time limit is a whole number of minutes from 1 to 1440 (24 hours).")
            return bottle.redirect("/diagnostics", 303)
        try:
            session().debug_token = backend.open_debug(int(text) * 60)
        except BackendError as e:
            flash("error", e.message)
        else:
            flash("ok", "Debug session open for %s minutes. Its details stay in the router's "
                        "memory and are deleted when it ends." % text)
        return bottle.redirect("/diagnostics", 303)

    @web.post("/diagnostics/debug/close")
    @page
    def debug_close():
        # Any signed-in administrator closes it, whoever opened it (another
        # browser that signed out, the console, the command line).
        s = session()
        back = "/status" if form("back", 16) == "status" else "/diagnostics"
        try:
            backend.close_debug()
        except BackendError as e:
            flash("error", e.message)
        else:
            flash("ok", "Debug session closed; everything it recorded is deleted.")
        s.debug_token = None
        return bottle.redirect(back, 303)

    @web.get("/diagnostics/bundle")
    @page
    def support_bundle():
        try:
            text = backend.support_bundle()
        except BackendError as e:
            flash("error", e.message)
            return bottle.redirect("/diagnostics", 303)
        bottle.response.set_header("Content-Type", "text/plain; charset=utf-8")
        bottle.response.set_header("Content-Disposition",
                                   'attachment; filename="vpnspot-support.txt"')
        return text

    @web.get("/about")
    @page
    def about_page():
        return render("about.tpl", title="About", active="about", about=backend.about())

    # -- JSON API (same session as the pages) -------------------------------------

    @web.get("/api/status")
    @api
    def api_status():
        st = backend.status()
        st["shown"] = status_view(st)
        return st

    @web.get("/api/chart/<kind:re:hourly|daily>")
    @api
    def api_chart(kind):
        bottle.response.set_header("Content-Type", "image/svg+xml")
        ident = "chart-day" if kind == "hourly" else "chart-month"
        return chart.svg(backend.traffic()[kind], kind, ident)

    @web.get("/api/servers")
    @api
    def api_servers():
        return _servers(backend)

    @web.get("/api/debug")
    @api
    def api_debug():
        return backend.diagnostics()["debug"]

    # -- static and errors ----------------------------------------------------------

    @web.get("/favicon.ico")
    def favicon():
        # Browsers ask for it on every visit; no icon ships (flash budget).
        return bottle.HTTPResponse(status=204)

    @web.get("/static/<name>")
    def static(name):
        if name == "brand.css":
            branding = backend.settings().get("branding", {})
            # Colours come checked as #rrggbb from core/config.py.
            lines = [":root {"]
            if "colour_primary" in branding:
                lines.append("  --primary: %s;" % branding["colour_primary"])
            if "colour_accent" in branding:
                lines.append("  --accent: %s;" % branding["colour_accent"])
            lines.append("}")
            bottle.response.set_header("Content-Type", "text/css; charset=utf-8")
            return "\n".join(lines) + "\n"
        if name not in STATIC_FILES:
            return bottle.HTTPError(404, "Not found")
        result = bottle.static_file(name, root=static_dir)
        result.set_header("Cache-Control", "max-age=3600")
        return result

    def error_page(code, heading):
        def handler(error):
            bottle.response.set_header("Cache-Control", "no-store")
            try:
                return render("message.tpl", status=code, title=heading, heading=heading,
                              text="Go back to the status page.")
            except Exception:
                return heading
        return handler

    web.error(400)(error_page(400, "The request could not be read"))
    web.error(404)(error_page(404, "Page not found"))
    web.error(405)(error_page(405, "Not allowed"))
    web.error(500)(error_page(500, "Something went wrong on the router"))

    wrapped = security.Guard(web, config.allowed_hosts, config.max_body, hsts=False)
    wrapped.bottle = web
    return wrapped


def _servers(backend):
    try:
        return backend.servers()
    except NotAvailable as e:
        return {"selected": "fastest", "region": "fastest", "servers": [], "note": e.message}
    except BackendError as e:
        return {"selected": "fastest", "region": "fastest", "servers": [], "note": e.message}


def _own(backend):
    """The own-server box of the WireGuard and servers pages; a backend
    that cannot tell says so rather than failing the page."""
    try:
        return backend.own_server()
    except BackendError as e:
        return {"in_use": False, "imported": None, "locked": None, "problem": e.message}


def _settings_changes(current, form):
    """The settings form -> {key: new text} for the unlocked fields that differ."""
    values = current["values"]
    locked = current["locked"]
    wanted = {"kill_switch": "1" if form("kill_switch") == "1" else "0",
              "dns_mode": form("dns_mode", 20),
              "ipv6_mode": form("ipv6_mode", 20),
              "report_period_minutes": form("report_period_minutes", 20).strip()}
    mtu_mode = form("mtu_mode", 10)
    wanted["mtu"] = "auto" if mtu_mode == "auto" else form("mtu", 20).strip()
    servers = [s for s in form("dns_servers", 1000).replace(",", " ").split() if s]
    wanted["dns_servers"] = servers if wanted["dns_mode"] == "custom" else []
    changes = {}
    for key, value in wanted.items():
        if key in locked:
            continue
        now = values.get(key)
        if key == "dns_servers":
            if list(value) != list(now or []):
                changes[key] = value
        elif value != now:
            changes[key] = value
    return changes


def _debug_summary(backend):
    """The status page's notice of an open debug session; a backend that
    cannot tell (no agent) shows none."""
    try:
        return backend.debug_summary()
    except (BackendError, NotImplementedError):
        return None


def status_view(st):
    """backend.status() -> {data-field: text}: every field of the status page,
    as the page renders it and as /api/status carries it for the live update
    (one formatting, so a refreshed page and a reloaded one agree)."""
    server = st.get("server")
    if server and server.get("own"):
        server_text = "Your own server (%s)" % server.get("endpoint")
    elif server:
        server_text = "%s (%s, %s)" % (server["id"], server["city"], server["country"])
    else:
        server_text = "-"
    age = st.get("handshake_age_s")
    return {"state": STATE_LABEL.get(st["state"], st["state"]),
            "state_text": st["state_text"],
            "server": server_text,
            "region": server["region"] if server else "-",
            "uptime": _fmt("duration", st.get("uptime_s")),
            "handshake": _fmt("duration", age) + " ago" if age is not None else "-",
            "public_ip": st.get("public_ip_text") or st.get("public_ip") or "-",
            "rx_rate": _fmt("rate", st.get("rx_rate")),
            "tx_rate": _fmt("rate", st.get("tx_rate")),
            "kill_switch": "on" if st.get("kill_switch") else "OFF",
            "account": st.get("account") or "-"}


def _fmt(kind, value):
    """Numbers for people: durations, rates and byte counts; '-' when unknown."""
    if value is None:
        return "-"
    if kind == "duration":
        value = int(value)
        if value < 120:
            return "%d s" % value
        if value < 7200:
            return "%d min" % (value // 60)
        if value < 172800:
            return "%d h %d min" % (value // 3600, value % 3600 // 60)
        return "%d days" % (value // 86400)
    if kind == "rate":
        return "%s/s" % chart.human_bytes(value)
    if kind == "bytes":
        return chart.human_bytes(value)
    if kind == "time":
        return time.strftime("%H:%M:%S UTC", time.gmtime(value))
    return str(value)
