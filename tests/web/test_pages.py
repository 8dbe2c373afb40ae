"""What each page shows and does, through the WSGI app with FakeBackend,
plus the real server on 127.0.0.1 (HTTPS, certificate, redirect)."""

import http.client
import re
import ssl
import threading

from vpnspot_router.web import server as web_server
from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.backend import FakeBackend, DEMO_KEY
from vpnspot_router.core.wgconf import encode_key

from .conftest import LAN, PASSWORD, finish_setup
from .wsgiclient import Client

GOOD_CONF = """[Interface]
PrivateKey = %s
Address = 10.77.0.2/32

[Peer]
PublicKey = %s
Endpoint = 203.0.113.10:51820
AllowedIPs = 0.0.0.0/0
""" % (encode_key(bytes(32 * [7])), encode_key(bytes(32 * [9])))


def test_the_wizard_ends_on_a_status_page_that_says_protected(admin):
    r = admin.get("/status")
    assert r.status == 200
    assert 'data-field="state">Protected<' in r.text
    assert "h***@example.net" in r.text and "household@example.net" not in r.text


def test_the_status_page_draws_both_charts_without_javascript(admin):
    text = admin.get("/status").text
    assert text.count("<svg") == 2
    assert "last 24 hours" in text and "last 30 days" in text
    assert len(re.findall(r'<rect class="rx"', text)) == 24 + 30


def test_switching_server_is_saved_and_shown(admin, backend):
    admin.get("/servers")
    r = admin.post("/servers", {"server": "nl-ams-1"})
    assert r.location == "/servers"
    assert 'value="nl-ams-1" checked' in admin.get("/servers").text
    assert "nl-ams-1" in admin.get("/status").text
    admin.post("/servers", {"server": "fastest"})
    assert backend.settings()["values"]["server"] == ""


def test_turning_the_kill_switch_off_shows_a_plain_warning(admin, backend):
    admin.get("/settings")
    admin.post("/settings", {"dns_mode": "tunnel", "ipv6_mode": "tunnel", "mtu_mode": "auto",
                             "report_period_minutes": "60"})
    assert backend.settings()["values"]["kill_switch"] == "0"
    for path in ("/settings", "/status"):
        assert "The kill switch is off" in admin.get(path).text


def test_dns_mode_custom_and_its_servers_are_saved_together(admin, backend):
    admin.get("/settings")
    r = admin.post("/settings", {"kill_switch": "1", "dns_mode": "custom", "dns_servers": "9.9.9.9",
                                 "ipv6_mode": "block", "mtu_mode": "manual", "mtu": "1400",
                                 "report_period_minutes": "120"})
    assert r.status == 303, r.text
    values = backend.settings()["values"]
    assert values["dns_servers"] == ["9.9.9.9"] and values["mtu"] == "1400"
    assert values["ipv6_mode"] == "block" and values["report_period_minutes"] == "120"


def test_a_bad_mtu_is_refused_with_the_allowed_range(admin, backend):
    admin.get("/settings")
    before = backend.config_text
    r = admin.post("/settings", {"kill_switch": "1", "dns_mode": "tunnel", "ipv6_mode": "tunnel",
                                 "mtu_mode": "manual", "mtu": "9000", "report_period_minutes": "60"})
    assert r.status == 400 and "1280 to 1500" in r.text
    assert backend.config_text == before


def test_fields_locked_by_the_isp_are_read_only_and_say_why():
    backend = FakeBackend(locks={"kill_switch": "Example ISP"})
    web = make_app(backend, WebConfig(host=LAN, memory_only=True))
    c = finish_setup(Client(web, host=LAN))
    text = c.get("/settings").text
    assert re.search(r'id="kill_switch"[^>]*disabled', text)
    assert "locked by your provider Example ISP" in text
    c.post("/settings", {"dns_mode": "tunnel", "ipv6_mode": "tunnel", "mtu_mode": "auto",
                         "report_period_minutes": "60"})
    assert backend.settings()["values"]["kill_switch"] == "1"


def test_a_bad_wireguard_file_names_its_line_and_field(admin, backend):
    admin.get("/wireguard")
    bad = GOOD_CONF.replace("Address = 10.77.0.2/32", "Address = 10.77.0.2/33")
    r = admin.post_multipart("/wireguard/import", {"csrf": admin.csrf()}, {"conf": ("mine.conf", bad)})
    assert r.status == 400
    assert "Line 3, field Address" in r.text and "prefix length" in r.text
    assert backend.imported is None
    r = admin.post_multipart("/wireguard/import", {"csrf": admin.csrf()},
                             {"conf": ("mine.conf", GOOD_CONF)})
    assert r.status == 200 and "The file is valid: 1 peer(s)" in r.text
    assert backend.imported is not None


def test_the_export_leaves_out_the_private_key_unless_asked(admin):
    admin.get("/wireguard")
    token = admin.csrf()
    r = admin.post("/wireguard/export", {})
    assert r.status == 200 and "attachment" in r.header("Content-Disposition")
    assert "PrivateKey =" not in r.text.replace("# PrivateKey =", "")
    assert encode_key(DEMO_KEY) not in r.text
    r = admin.post("/wireguard/export", {"include_private": "1"}, csrf=token)
    assert "PrivateKey = %s" % encode_key(DEMO_KEY) in r.text


def test_a_debug_session_opens_with_a_countdown_and_only_its_opener_sees_what_it_holds(web, admin, backend, clock):
    admin.get("/diagnostics")
    admin.post("/diagnostics/debug/open", {"minutes": "10"})
    text = admin.get("/diagnostics").text
    assert 'id="countdown"' in text and "10 min left" in text
    assert "opened from the web UI" in text
    assert "handshake with 203.0.113.10" in text
    other = Client(web, host=LAN)
    other.get("/login")
    other.post("/login", {"password": PASSWORD})
    text = other.get("/diagnostics").text
    assert "Only whoever opened it sees what it records" in text and "handshake with" not in text
    assert "Close the debug session now" in text
    admin.get("/diagnostics")
    admin.post("/diagnostics/debug/close", {})
    assert backend.debug.state == "closed" and backend.debug.entries == []
    assert "No debug session is open" in admin.get("/diagnostics").text


def test_any_signed_in_admin_sees_an_open_debug_session_on_the_status_page_and_closes_it(
        web, admin, backend, clock):
    # Opened in one browser that then went away (signed out elsewhere,
    # session evicted): another admin must see it and be able to end it.
    backend.open_debug(3600)
    backend.debug.record(int(clock()), "lan-neighbour", "192.168.77.10 lladdr 02:11:22:33:44:55")
    text = admin.get("/status").text
    assert 'id="debug-open"' in text and "opened from the web UI" in text and "60 min left" in text
    assert "192.168.77.10" not in text
    r = admin.post("/diagnostics/debug/close", {"back": "status"})
    assert r.status == 303 and r.header("Location").endswith("/status")
    assert backend.debug.state == "closed" and backend.debug.entries == []
    assert 'id="debug-open"' not in admin.get("/status").text


def test_signing_out_ends_the_debug_session_this_browser_opened(web, admin, backend):
    admin.get("/diagnostics")
    admin.post("/diagnostics/debug/open", {"minutes": "60"})
    assert backend.debug.state == "open"
    admin.get("/status")
    admin.post("/logout", {})
    assert backend.debug.state == "closed" and backend.debug.entries == []


def test_the_support_bundle_holds_no_addresses(admin):
    r = admin.get("/diagnostics/bundle")
    assert r.status == 200 and "attachment" in r.header("Content-Disposition")
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", r.text)
    assert "household@example.net" not in r.text


def test_the_about_page_says_which_crypto_engine_and_why(admin):
    text = admin.get("/about").text
    assert "kernel WireGuard" in text and "fastest here" in text


def test_the_server_speaks_https_with_a_certificate_it_keeps_and_redirects_plain_http(tmp_path):
    config = WebConfig(host="127.0.0.1", port=0, state_dir=str(tmp_path), memory_only=True)
    from vpnspot_router.web.tls import ensure_certificate
    cert = ensure_certificate(str(tmp_path), ["127.0.0.1"])
    again = ensure_certificate(str(tmp_path), ["127.0.0.1"])
    assert open(cert[0]).read() == open(again[0]).read()
    srv = web_server.make_server(make_app(FakeBackend(), config), "127.0.0.1", 0, cert)
    port = srv.server_address[1]
    redirect = web_server.make_server(web_server.redirect_app("https://127.0.0.1:%d/" % port),
                                      "127.0.0.1", 0)
    for s in (srv, redirect):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        ctx = ssl.create_default_context(cafile=cert[0])
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        conn.request("GET", "/setup/password", headers={"Host": "127.0.0.1:%d" % port})
        resp = conn.getresponse()
        assert resp.status == 200 and b"Welcome" in resp.read()
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        conn.request("GET", "/", headers={"Host": "attacker.example"})
        assert conn.getresponse().status == 421
        plain = http.client.HTTPConnection("127.0.0.1", redirect.server_address[1], timeout=10)
        plain.request("GET", "/anything", headers={"Host": "attacker.example"})
        resp = plain.getresponse()
        assert resp.status == 301 and resp.getheader("Location") == "https://127.0.0.1:%d/" % port
    finally:
        for s in (srv, redirect):
            s.shutdown()
            s.server_close()


# -- the household's own server ---------------------------------------------------

def import_good(client):
    client.get("/wireguard")
    r = client.post_multipart("/wireguard/import", {"csrf": client.csrf()},
                              {"conf": ("mine.conf", GOOD_CONF)})
    assert r.status == 200, r.text
    return r


def test_an_imported_configuration_is_used_on_request_and_vpn_spot_servers_come_back(admin, backend):
    r = import_good(admin)
    assert 'id="use-own"' in r.text and "Use this configuration" in r.text
    assert "In use: VPN Spot servers" in r.text
    assert backend.settings()["values"]["server_source"] == "vpnspot"   # importing alone changes nothing
    r = admin.post("/wireguard/use", {})
    assert r.status == 303 and r.location == "/wireguard"
    assert backend.settings()["values"]["server_source"] == "own"
    text = admin.get("/wireguard").text
    assert "Your own server is now in use" in text
    assert "In use: your own server</strong> (203.0.113.10:51820)" in text
    assert 'id="use-vpnspot"' in text
    text = admin.get("/status").text
    assert "Your own server (203.0.113.10:51820)" in text
    assert "through the tunnel to your own WireGuard server" in text
    assert "does not contact VPN Spot and sends it no reports" in text
    text = admin.get("/servers").text
    assert "is in use, not these VPN Spot servers" in text
    assert re.search(r"<fieldset disabled>", text)
    # A VPN Spot server cannot be chosen meanwhile; nothing changes.
    r = admin.post("/servers", {"server": "nl-ams-1"})
    assert r.status == 400 and "your own WireGuard server is in use" in r.text
    assert backend.settings()["values"]["server"] == ""
    admin.get("/wireguard")
    r = admin.post("/wireguard/vpnspot", {})
    assert r.status == 303
    assert backend.settings()["values"]["server_source"] == "vpnspot"
    assert "VPN Spot servers are in use again" in admin.get("/wireguard").text
    assert "de-fra-1 (Frankfurt, DE)" in admin.get("/status").text


def test_use_this_configuration_without_an_imported_file_is_refused_and_changes_nothing(admin, backend):
    admin.get("/wireguard")
    before = backend.config_text
    r = admin.post("/wireguard/use", {})
    assert r.status == 303
    assert "import your server&#039;s .conf first" in admin.get("/wireguard").text
    assert backend.config_text == before


def test_a_server_source_locked_by_the_isp_is_read_only_says_why_and_is_refused():
    backend = FakeBackend(locks={"server_source": "Example ISP"})
    web = make_app(backend, WebConfig(host=LAN, memory_only=True))
    c = finish_setup(Client(web, host=LAN))
    text = import_good(c).text
    assert re.search(r'id="use-own" disabled', text)
    assert "Which server the tunnel goes to is locked by your provider Example ISP" in text
    before = backend.config_text
    c.post("/wireguard/use", {})
    assert "server_source: locked by your provider Example ISP" in c.get("/wireguard").text
    assert backend.config_text == before and backend.settings()["values"]["server_source"] == "vpnspot"


def test_a_file_without_an_endpoint_is_refused_naming_its_peer_line(admin, backend):
    admin.get("/wireguard")
    bad = GOOD_CONF.replace("Endpoint = 203.0.113.10:51820\n", "")
    r = admin.post_multipart("/wireguard/import", {"csrf": admin.csrf()}, {"conf": ("mine.conf", bad)})
    assert r.status == 400 and "Line 5, field Endpoint" in r.text
    assert "no [Peer] has an Endpoint" in r.text and backend.imported is None


def test_a_split_tunnel_file_is_accepted_with_a_plain_warning(admin):
    admin.get("/wireguard")
    split = GOOD_CONF.replace("AllowedIPs = 0.0.0.0/0", "AllowedIPs = 10.0.0.0/8")
    r = admin.post_multipart("/wireguard/import", {"csrf": admin.csrf()},
                             {"conf": ("mine.conf", split)})
    assert r.status == 200 and "No [Peer] has AllowedIPs = 0.0.0.0/0" in r.text
    assert "the kill switch blocks everything else" in r.text


def test_the_export_gives_the_own_server_s_file_while_it_is_in_use(admin):
    import_good(admin)
    admin.post("/wireguard/use", {})
    admin.get("/wireguard")
    r = admin.post("/wireguard/export", {})
    assert r.status == 200 and "Endpoint = 203.0.113.10:51820" in r.text
    assert encode_key(bytes(32 * [7])) not in r.text
