"""Every security rule of the web UI, through the WSGI app: each refusal
is checked for its status and message, and that nothing changed."""

import copy
import json
import logging
import os
import re

import pytest

from vpnspot_router.web import security
from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.backend import FakeBackend

from .conftest import CODE, EMAIL, LAN, PASSWORD, finish_setup, setup_code
from .wsgiclient import Client

XSS = '<script>alert("x")</script>'
XSS_ATTR = '"><img src=x onerror=alert(1)>'


def snapshot(backend):
    return (backend.config_text, backend.enrolled_email, backend.debug.state,
            backend.imported is not None)


def assert_escaped(resp):
    assert "<script>alert" not in resp.text
    assert "<img src=x" not in resp.text


# -- CSRF -------------------------------------------------------------------------

def test_a_settings_change_without_a_csrf_token_is_refused_and_nothing_changes(admin, backend):
    admin.get("/settings")
    before = snapshot(backend)
    r = admin.post("/settings", {"dns_mode": "isp", "mtu_mode": "auto", "ipv6_mode": "block",
                                 "report_period_minutes": "60"}, csrf=False)
    assert r.status == 403
    assert "Nothing was changed" in r.text
    assert snapshot(backend) == before


def test_a_wrong_csrf_token_is_refused_on_every_state_changing_form(admin, backend):
    before = snapshot(backend)
    for path, fields in (("/settings", {"kill_switch": "0", "dns_mode": "isp"}),
                         ("/servers", {"server": "nl-ams-1"}),
                         ("/setup/region", {"region": "nl-ams"}),
                         ("/setup/protection", {}),
                         ("/diagnostics/debug/open", {"minutes": "5"}),
                         ("/wireguard/export", {"include_private": "1"}),
                         ("/logout", {})):
        r = admin.post(path, fields, csrf="not-the-token")
        assert r.status == 403, path
        assert "PrivateKey" not in r.text
    assert snapshot(backend) == before
    assert admin.get("/status").status == 200           # still signed in: logout was refused


def test_another_sessions_csrf_token_does_not_work(web, admin, backend):
    other = Client(web, host=LAN)
    other.get("/login")
    foreign_token = other.csrf()
    before = snapshot(backend)
    r = admin.post("/servers", {"server": "nl-ams-1"}, csrf=foreign_token)
    assert r.status == 403
    assert snapshot(backend) == before


def test_the_first_run_password_form_needs_the_csrf_token_too(web):
    c = Client(web, host=LAN)
    c.get("/setup/password")
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD}, csrf=False)
    assert r.status == 403
    assert not web.bottle.config["vpnspot.passwords"].is_set()


def test_the_sign_in_form_needs_the_csrf_token(web, admin):
    c = Client(web, host=LAN)
    c.get("/login")
    r = c.post("/login", {"password": PASSWORD}, csrf=False)
    assert r.status == 403
    assert c.get("/status").location == "/login"


# -- passwords, sign-in, lockout ---------------------------------------------------

def test_wrong_passwords_lock_sign_in_with_a_clear_message_until_the_time_passes(web, admin, clock):
    c = Client(web, host=LAN)
    c.get("/login")
    for i in range(security.MAX_FAILURES - 1):
        r = c.post("/login", {"password": "wrong%d" % i})
        assert r.status == 401 and "not right" in r.text
    r = c.post("/login", {"password": "wrong-last"})
    assert r.status == 429
    assert "Too many wrong passwords" in r.text and "locked for 60 seconds" in r.text
    # Even the right password is refused while locked, and does not sign in.
    r = c.post("/login", {"password": PASSWORD})
    assert r.status == 429
    assert c.get("/status").location == "/login"
    clock.t += 61
    c.get("/login")
    r = c.post("/login", {"password": PASSWORD})
    assert r.status == 303 and r.location == "/status"


def test_each_further_lockout_lasts_twice_as_long(web, admin, clock):
    c = Client(web, host=LAN)
    c.get("/login")
    for _ in range(security.MAX_FAILURES):
        c.post("/login", {"password": "nope"})
    clock.t += 61
    for _ in range(security.MAX_FAILURES):
        r = c.post("/login", {"password": "nope"})
    assert "locked for 120 seconds" in r.text


def test_the_password_is_stored_only_as_scrypt_and_never_logged(tmp_path, clock, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    state = tmp_path / "state"
    web = make_app(FakeBackend(), WebConfig(host=LAN, state_dir=str(state)), clock=clock)
    finish_setup(Client(web, host=LAN))
    record_path = state / security.PASSWORD_FILE
    data = record_path.read_bytes()
    assert PASSWORD.encode() not in data
    record = json.loads(data)
    assert record["scheme"] == "scrypt" and record["n"] >= 1 << 14
    assert oct(os.stat(record_path).st_mode & 0o777) == "0o600"
    out = capsys.readouterr()
    assert PASSWORD not in caplog.text + out.out + out.err
    assert CODE not in caplog.text + out.out + out.err
    # A restart reads the record and accepts the same password.
    again = make_app(FakeBackend(), WebConfig(host=LAN, state_dir=str(state)), clock=clock)
    assert again.bottle.config["vpnspot.passwords"].verify(PASSWORD)


def test_a_too_short_or_mismatched_first_password_is_refused(web):
    c = Client(web, host=LAN)
    c.get("/setup/password")
    r = c.post("/setup/password", {"password": "short", "repeat": "short"})
    assert r.status == 400 and "at least 8" in r.text
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD + "x"})
    assert r.status == 400 and "not the same" in r.text
    assert not web.bottle.config["vpnspot.passwords"].is_set()


def test_signing_in_gives_a_new_session_id(web, admin):
    c = Client(web, host=LAN)
    c.get("/login")
    before = c.cookie
    c.post("/login", {"password": PASSWORD})
    assert c.cookie and c.cookie != before
    old = Client(web, host=LAN)
    old.cookie = before
    assert old.get("/status").location == "/login"


def test_pages_and_the_json_api_need_the_signed_in_session(web, admin):
    stranger = Client(web, host=LAN)
    for path in ("/status", "/servers", "/settings", "/wireguard", "/diagnostics", "/about",
                 "/diagnostics/bundle"):
        assert stranger.get(path).location == "/login", path
    for path in ("/api/status", "/api/servers", "/api/chart/hourly", "/api/debug"):
        r = stranger.get(path)
        assert r.status == 401, path
        assert "sign in" in r.text
    assert admin.get("/api/status").status == 200


# -- cookie and headers ------------------------------------------------------------

def test_there_is_one_cookie_and_it_is_httponly_samesite_strict_and_secure(web):
    c = Client(web, host=LAN)
    r = c.get("/setup/password")
    cookies = r.headers_named("Set-Cookie")
    assert len(cookies) == 1
    value = cookies[0].lower()
    assert value.startswith(security.COOKIE_NAME + "=")
    for attr in ("httponly", "samesite=strict", "secure", "path=/"):
        assert attr in value
    assert "expires" not in value and "max-age" not in value


def test_over_plain_http_the_cookie_is_not_marked_secure(clock, tmp_path):
    web = make_app(FakeBackend(), WebConfig(host="127.0.0.1", https=False, memory_only=True,
                                            state_dir=str(tmp_path)), clock=clock)
    r = Client(web, host="127.0.0.1").get("/setup/password")
    assert "secure" not in r.header("Set-Cookie").lower()


def test_every_page_has_a_csp_without_unsafe_inline_and_no_inline_script_or_style(admin):
    for path in ("/status", "/servers", "/settings", "/wireguard", "/diagnostics", "/about",
                 "/static/style.css", "/nowhere"):
        r = admin.get(path)
        csp = r.header("Content-Security-Policy")
        assert csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.header("X-Content-Type-Options") == "nosniff"
        if r.header("Content-Type").startswith("text/html"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
            assert "<style" not in r.text and " style=" not in r.text, path
            assert not re.search(r"\son[a-z]+=", r.text), path
            assert "http://" not in r.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
            assert "https://" not in r.text, path      # no CDN, font or tracker


# -- Host header (DNS rebinding) ---------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "192.168.77.1.evil.example", "evil.example:443",
                                  "", "192.168.77.2", "localhost", "192.168.77.1:abc"])
def test_a_foreign_host_header_is_refused_with_421_and_nothing_changes(admin, backend, host):
    admin.get("/settings")
    token = admin.csrf()
    before = snapshot(backend)
    r = admin.post("/settings", {"kill_switch": "0", "dns_mode": "isp", "mtu_mode": "auto",
                                 "ipv6_mode": "tunnel", "report_period_minutes": "60"},
                   csrf=token, host=host)
    assert r.status == 421
    assert "only to its own address" in r.text
    assert snapshot(backend) == before
    assert admin.get("/api/status", host=host).status == 421


@pytest.mark.parametrize("host", [LAN, LAN + ":443", "vpnspot.lan", "ROUTER.LAN:8443"])
def test_the_routers_own_names_and_address_are_accepted(admin, host):
    assert admin.get("/status", host=host).status == 200


def test_the_ui_refuses_to_bind_all_addresses():
    for host in ("0.0.0.0", "::", ""):
        with pytest.raises(ValueError):
            WebConfig(host=host)


# -- request size --------------------------------------------------------------------

def test_an_oversized_body_is_refused_before_it_is_read_and_nothing_changes(admin, backend):
    admin.get("/wireguard")
    before = snapshot(backend)
    big = "[Interface]\n" + "# filler\n" * 20000
    r = admin.post_multipart("/wireguard/import", {"csrf": admin.csrf()}, {"conf": ("big.conf", big)})
    assert r.status == 413 and "nothing was changed" in r.text
    assert snapshot(backend) == before
    r = admin.request("POST", "/settings", body=b"x", content_length=10 ** 9,
                      content_type="application/x-www-form-urlencoded")
    assert r.status == 413
    r = admin.request("POST", "/settings", body=b"", headers={"Transfer-Encoding": "chunked"})
    assert r.status == 411
    assert snapshot(backend) == before


# -- escaping ------------------------------------------------------------------------

def test_script_injection_in_every_text_field_is_refused_or_escaped(web, backend):
    c = Client(web, host=LAN)
    c.get("/setup/password")
    assert_escaped(c.post("/setup/password", {"password": XSS, "repeat": XSS_ATTR}))
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                   "setup_code": setup_code(web)})
    assert r.status == 303, r.text
    c.get("/setup/account")
    for email, code in ((XSS, CODE), (XSS_ATTR, CODE), (EMAIL, XSS), ("a@b.example", XSS_ATTR)):
        r = c.post("/setup/account", {"email": email, "code": code})
        assert r.status == 400
        assert_escaped(r)
    assert backend.enrolled_email is None
    c.post("/setup/account", {"email": EMAIL, "code": CODE})
    before = snapshot(backend)
    c.get("/setup/region")
    assert_escaped(c.post("/setup/region", {"region": XSS}))
    c.get("/servers")
    assert_escaped(c.post("/servers", {"server": XSS_ATTR}))
    c.get("/settings")
    for field in ("dns_servers", "mtu", "report_period_minutes", "dns_mode", "ipv6_mode"):
        fields = {"kill_switch": "1", "dns_mode": "custom", "dns_servers": "9.9.9.9",
                  "ipv6_mode": "tunnel", "mtu_mode": "manual", "mtu": "1400",
                  "report_period_minutes": "60"}
        fields[field] = XSS if field != "mtu" else XSS_ATTR
        r = c.post("/settings", fields)
        assert r.status == 400, field
        assert_escaped(r)
    c.get("/wireguard")
    r = c.post_multipart("/wireguard/import", {"csrf": c.csrf()},
                         {"conf": ("x.conf", "[Interface]\nPrivateKey = %s\n" % XSS)})
    assert r.status == 400
    assert_escaped(r)
    r = c.post("/wireguard/import", {"text": "[%s]\n" % XSS_ATTR})
    assert r.status == 400
    assert_escaped(r)
    c.get("/diagnostics")
    c.post("/diagnostics/debug/open", {"minutes": XSS})
    assert_escaped(c.get("/diagnostics"))
    assert snapshot(backend) == before


def test_text_from_the_backend_is_escaped_too():
    evil = [{"id": "x1", "region": XSS, "country": XSS_ATTR, "city": XSS, "load": 1,
             "latency_ms": None}]
    backend = FakeBackend(servers=evil, locks={"dns_mode": "Evil <script>alert(1)</script> ISP"})
    web = make_app(backend, WebConfig(host=LAN, memory_only=True))
    c = finish_setup(Client(web, host=LAN))
    for path in ("/servers", "/setup/region", "/status", "/settings"):
        r = c.get(path)
        assert r.status == 200, path
        assert_escaped(r)
    assert "&lt;script&gt;" in c.get("/servers").text


def test_switching_to_the_own_server_or_back_needs_the_csrf_token_and_nothing_changes(admin, backend):
    from .test_pages import GOOD_CONF
    admin.get("/wireguard")
    admin.post_multipart("/wireguard/import", {"csrf": admin.csrf()},
                         {"conf": ("mine.conf", GOOD_CONF)})
    before = snapshot(backend)
    for csrf in (False, "not-the-token"):
        r = admin.post("/wireguard/use", {}, csrf=csrf)
        assert r.status == 403 and "Nothing was changed" in r.text
        assert snapshot(backend) == before
        assert backend.settings()["values"]["server_source"] == "vpnspot"
    admin.get("/wireguard")
    assert admin.post("/wireguard/use", {}).status == 303
    before = snapshot(backend)
    for csrf in (False, "not-the-token"):
        r = admin.post("/wireguard/vpnspot", {}, csrf=csrf)
        assert r.status == 403
        assert snapshot(backend) == before
        assert backend.settings()["values"]["server_source"] == "own"


def test_the_own_server_forms_refuse_a_visitor_who_is_not_signed_in(web, admin, backend):
    c = Client(web, host=LAN)
    c.get("/login")
    before = snapshot(backend)
    for path in ("/wireguard/use", "/wireguard/vpnspot"):
        r = c.post(path, {})
        assert r.status == 303 and r.location == "/login"
    assert snapshot(backend) == before
