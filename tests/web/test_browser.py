"""The household's journey in a real browser: Debian's chromium driven by
Playwright (headless, no browser download) against `vpnspot web`'s server with the
fake backend on 127.0.0.1, over HTTPS with the router's own self-signed
certificate (tls.py), as a household's browser meets it.

The browser trusts that one certificate and nothing else: its public key is
pinned with --ignore-certificate-errors-spki-list, so Chromium completes the
TLS handshake itself and certificate checking stays on for everything else
(a blanket ignore_https_errors would also hide a wrong certificate).

One browser for the whole module (two shared cores); every page is
screenshotted at a 360 px phone width into the run's artifacts directory
(printed) and checked for horizontal overflow."""

import base64
import hashlib
import os
import threading

import pytest

from vpnspot_router import setupcode
from vpnspot_router.core.wgconf import encode_key
from vpnspot_router.web import server as web_server
from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.backend import FakeBackend
from vpnspot_router.web.tls import ensure_certificate

from .conftest import CODE, EMAIL, PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="needs the Python package playwright (test extra)")
if not os.path.exists(CHROMIUM):
    pytest.skip("needs Debian's chromium at /usr/bin/chromium (vpnspot_router/lab/setup.sh)",
                allow_module_level=True)

GOOD_CONF = """[Interface]
PrivateKey = %s
Address = 10.77.0.2/32

[Peer]
PublicKey = %s
Endpoint = 203.0.113.10:51820
AllowedIPs = 0.0.0.0/0
""" % (encode_key(bytes(32 * [7])), encode_key(bytes(32 * [9])))
BAD_CONF = GOOD_CONF.replace("Endpoint = 203.0.113.10:51820", "Endpoint = 203.0.113.10")


def spki_pin(cert_path):
    """base64(sha256(SubjectPublicKeyInfo)): the form Chromium's
    --ignore-certificate-errors-spki-list takes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


@pytest.fixture(scope="module")
def site_state(tmp_path_factory):
    return tmp_path_factory.mktemp("web-state")


@pytest.fixture(scope="module")
def site(site_state):
    state = site_state
    backend = FakeBackend()
    config = WebConfig(host="127.0.0.1", port=0, state_dir=str(state), memory_only=True,
                       https=True)
    cert = ensure_certificate(str(state), ["127.0.0.1"])
    srv = web_server.make_server(make_app(backend, config), "127.0.0.1", 0, cert)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "https://127.0.0.1:%d" % srv.server_address[1], backend, spki_pin(cert[0])
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    directory = os.environ.get("VPNSPOT_ARTIFACTS")
    directory = os.path.join(directory, "screenshots") if directory else \
        str(tmp_path_factory.mktemp("screenshots"))
    os.makedirs(directory, exist_ok=True)
    print("\nweb UI screenshots: %s" % directory)
    return directory


@pytest.fixture(scope="module")
def page(site):
    pin = site[2]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS
                                     + ["--ignore-certificate-errors-spki-list=" + pin])
        context = browser.new_context(viewport={"width": 360, "height": 740},
                                      java_script_enabled=True)
        context.set_default_timeout(15000)
        p = context.new_page()
        errors = []
        p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        p.errors = errors
        yield p
        browser.close()


def check_and_shoot(page, shots, name):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, "%s overflows a 360 px phone screen (%d px)" % (name, width)
    page.screenshot(path=os.path.join(shots, name + ".png"), full_page=True)
    # CSP violations and script errors show up as console errors.
    assert not page.errors, page.errors


def signed_in(page, base):
    page.goto(base + "/status")
    if "/login" in page.url:
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/status")


def test_a_household_goes_from_first_visit_to_protected_with_the_keyboard_and_mouse(
        page, site, site_state, shots):
    base, backend, _ = site
    page.goto(base + "/")
    page.wait_for_url("**/setup/password")
    check_and_shoot(page, shots, "01-wizard-password")
    # What `vpnspot setup-code` prints on the router, as a household reads it.
    code = setupcode.shown(setupcode.current(str(site_state))[0])
    # Keyboard only: Tab reaches each labelled field in order.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "setup_code"
    page.keyboard.type("WRONG-CODE1")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#pw-error")
    assert "setup code is not right" in page.inner_text("#pw-error")
    assert "/setup/password" in page.url
    page.errors.clear()         # the 401 of that refused code was expected
    page.fill("#setup_code", code.lower().replace("-", " "))
    page.focus("#password")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/setup/account")
    check_and_shoot(page, shots, "02-wizard-account")
    page.fill("#email", EMAIL)
    page.fill("#code", "VPNS-WRONG-CODE")
    page.click("main button[type=submit]")
    assert "activation code not recognised" in page.inner_text("#account-error")
    page.errors.clear()         # the 400 of that refused code was expected
    page.fill("#code", CODE)
    page.click("main button[type=submit]")
    page.wait_for_url("**/setup/region")
    check_and_shoot(page, shots, "03-wizard-region")
    assert page.is_checked("#region-fastest")
    page.click("main button[type=submit]")
    page.wait_for_url("**/setup/protection")
    check_and_shoot(page, shots, "04-wizard-kill-switch")
    assert page.is_checked("#kill_switch")
    page.click("main button[type=submit]")
    page.wait_for_url("**/status")
    assert page.inner_text("#state") .lower() == "protected"
    assert page.locator("svg.chart").count() == 2
    # The fake router's exit, as the real backend words a VPN Spot address.
    assert page.inner_text("[data-field=public_ip]").startswith(
        "203.0.113.10 (a VPN Spot address")
    # Every redirect of the wizard stayed on HTTPS, and the session cookie
    # is one the browser sends over TLS only.
    assert page.url.startswith("https://"), page.url
    cookies = page.context.cookies()
    assert cookies and all(c["secure"] and c["httpOnly"] for c in cookies), cookies
    check_and_shoot(page, shots, "05-status")


def test_every_page_fits_a_phone_and_every_input_has_a_label(page, site, shots):
    base, _, _ = site
    signed_in(page, base)
    for name in ("servers", "settings", "wireguard", "diagnostics", "about"):
        page.goto(base + "/" + name)
        unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')).filter(
            el => !(el.labels && el.labels.length)).map(el => el.name)""")
        assert unlabelled == [], (name, unlabelled)
        check_and_shoot(page, shots, "10-" + name)


def test_switching_server_and_toggling_the_kill_switch(page, site, shots):
    base, backend, _ = site
    signed_in(page, base)
    page.goto(base + "/servers")
    page.check("label[for=srv-1]")
    page.click("form[action='/servers'] button[type=submit]")
    page.wait_for_url("**/servers")
    assert "Server choice saved" in page.inner_text("main")
    assert page.is_checked("#srv-1")
    assert backend.settings()["values"]["server"] == "nl-ams-1"
    page.goto(base + "/settings")
    page.uncheck("#kill_switch")
    page.click("form[action='/settings'] button[type=submit]")
    page.wait_for_url("**/settings")
    assert "The kill switch is off" in page.inner_text("main")
    check_and_shoot(page, shots, "20-settings-kill-switch-off")
    assert backend.settings()["values"]["kill_switch"] == "0"
    page.check("#kill_switch")
    page.click("form[action='/settings'] button[type=submit]")
    page.wait_for_url("**/settings")
    assert backend.settings()["values"]["kill_switch"] == "1"
    assert "The kill switch is off" not in page.inner_text("main")


def test_importing_a_bad_and_a_good_wireguard_file(page, site, shots, tmp_path):
    base, backend, _ = site
    signed_in(page, base)
    bad = tmp_path / "bad.conf"
    bad.write_text(BAD_CONF)
    good = tmp_path / "good.conf"
    good.write_text(GOOD_CONF)
    page.goto(base + "/wireguard")
    page.set_input_files("#conf", str(bad))
    page.click("form[action='/wireguard/import'] button[type=submit]")
    error = page.inner_text("#import-error")
    assert "Line 7, field Endpoint" in error and "missing :port" in error
    page.errors.clear()         # the expected 400
    check_and_shoot(page, shots, "30-wireguard-bad-file")
    assert backend.imported is None
    page.set_input_files("#conf", str(good))
    page.click("form[action='/wireguard/import'] button[type=submit]")
    assert "The file is valid" in page.inner_text("#import-ok")
    check_and_shoot(page, shots, "31-wireguard-good-file")
    # Use it: the router's tunnel now goes to the household's own server.
    assert "In use: VPN Spot servers" in page.inner_text("#server-source")
    page.click("#use-own")
    page.wait_for_url("**/wireguard")
    assert "Your own server is now in use" in page.inner_text("main")
    assert "In use: your own server (203.0.113.10:51820)" in page.inner_text("#own-in-use")
    assert backend.settings()["values"]["server_source"] == "own"
    check_and_shoot(page, shots, "32-wireguard-own-server-in-use")
    page.goto(base + "/status")
    assert page.inner_text("[data-field=server]") == "Your own server (203.0.113.10:51820)"
    assert "your own WireGuard server" in page.inner_text("#state-text")
    check_and_shoot(page, shots, "33-status-own-server")
    page.goto(base + "/servers")
    assert "is in use, not these VPN Spot servers" in page.inner_text("#own-in-use")
    assert page.is_disabled("#srv-fastest")
    check_and_shoot(page, shots, "34-servers-own-server")
    # And back to VPN Spot's servers.
    page.goto(base + "/wireguard")
    page.click("#use-vpnspot")
    page.wait_for_url("**/wireguard")
    assert "VPN Spot servers are in use again" in page.inner_text("main")
    assert backend.settings()["values"]["server_source"] == "vpnspot"
    page.goto(base + "/status")
    assert "Your own server" not in page.inner_text("[data-field=server]")


def test_opening_and_closing_a_debug_session_with_its_countdown(page, site, shots):
    base, backend, _ = site
    signed_in(page, base)
    page.goto(base + "/diagnostics")
    page.fill("#minutes", "5")
    page.click("form[action='/diagnostics/debug/open'] button[type=submit]")
    page.wait_for_url("**/diagnostics")
    # The script turns "5 min left" into a live m:ss countdown.
    page.wait_for_function("document.getElementById('countdown').textContent.includes(':')")
    assert page.inner_text("#countdown").startswith(("4:5", "5:00"))
    check_and_shoot(page, shots, "40-diagnostics-debug-open")
    assert backend.debug.state == "open"
    page.click("form[action='/diagnostics/debug/close'] button[type=submit]")
    page.wait_for_url("**/diagnostics")
    assert "No debug session is open" in page.inner_text("#debug-state")
    assert backend.debug.state == "closed"


def test_an_open_status_page_changes_the_whole_box_with_the_state(page, site, shots):
    """Protected -> connecting -> NOT protected -> protected, and a router that
    stops answering, on one open page: each refresh of the script changes
    the headline, the colour, the explanation, the server and the notes
    together, never the text alone in the old colour."""
    from vpnspot_router.web.backend import KILL_SWITCH_OFF_WARNING, STATE_TEXT
    base, backend, _ = site
    signed_in(page, base)
    real = backend.status
    now = {}

    def scripted():
        if now.get("down"):
            raise RuntimeError("the backend stopped answering")
        st = real()
        st.update(now)
        return st
    frankfurt = {"id": "de-fra-1", "region": "de-fra", "city": "Frankfurt", "country": "DE"}
    new_york = {"id": "us-east-1", "region": "us-east", "city": "New York", "country": "US"}
    phases = [
        ("protected", {"server": frankfurt, "kill_switch": True, "notes": []},
         "de-fra-1 (Frankfurt, DE)", "rgb(227, 244, 234)", []),
        ("connecting", {"server": None, "kill_switch": True, "notes": [], "uptime_s": None,
                        "handshake_age_s": None},
         "-", "rgb(255, 244, 214)", []),
        ("unprotected", {"server": None, "kill_switch": False,
                         "notes": [KILL_SWITCH_OFF_WARNING], "uptime_s": None,
                         "handshake_age_s": None},
         "-", "rgb(251, 233, 231)", [KILL_SWITCH_OFF_WARNING]),
        ("protected", {"server": new_york, "kill_switch": True, "notes": []},
         "us-east-1 (New York, US)", "rgb(227, 244, 234)", []),
    ]
    labels = {"protected": "Protected", "connecting": "Connecting",
              "unprotected": "NOT protected"}
    backend.status = scripted
    try:
        now.update(phases[0][1], state="protected", state_text=STATE_TEXT["protected"])
        page.goto(base + "/status")
        for i, (state, fields, server, colour, notes) in enumerate(phases):
            now.clear()
            now.update(fields, state=state, state_text=STATE_TEXT[state])
            # The script polls every 5 s: wait for this state's explanation
            # (15 s: a busy machine), then check that everything else changed.
            page.wait_for_function(
                "t => document.getElementById('state-text').textContent === t",
                arg=STATE_TEXT[state], timeout=15000)
            box = page.locator("section.state")
            assert page.inner_text("#state") == labels[state]
            assert box.get_attribute("class") == "state state-" + state
            assert page.evaluate("getComputedStyle(document.querySelector('section.state'))"
                                 ".backgroundColor") == colour, state
            assert page.inner_text("#state-text") == STATE_TEXT[state]
            assert page.inner_text("[data-field=server]") == server
            assert page.inner_text("[data-field=kill_switch]") == \
                ("on" if fields["kill_switch"] else "OFF")
            assert page.locator("#notes p.warning").all_inner_texts() == notes
            check_and_shoot(page, shots, "50-status-live-%d-%s" % (i, state))
        # The router stops answering: the page stops claiming anything.
        now["down"] = True
        page.wait_for_function(
            "() => document.getElementById('state-box').dataset.state === 'stale'",
            timeout=15000)
        assert page.inner_text("#state") == "Unknown"
        assert "Last state shown: Protected." in page.inner_text("#state-text")
        assert page.evaluate("getComputedStyle(document.getElementById('state-box'))"
                             ".backgroundColor") != "rgb(227, 244, 234)"
        assert page.is_visible("#stale")
        page.errors.clear()         # the expected 500s
        check_and_shoot(page, shots, "55-status-live-no-answer")
        now.pop("down")
        page.wait_for_function(
            "() => document.getElementById('state-box').dataset.state === 'protected'",
            timeout=15000)
        assert not page.is_visible("#stale")
    finally:
        del backend.status
