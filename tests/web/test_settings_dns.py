"""The settings page on DNS: each choice says where names go, and choosing
the household's own servers saves them (FakeBackend through the WSGI app)."""

import html


def test_the_settings_page_says_plainly_what_each_dns_choice_does(admin):
    text = " ".join(html.unescape(admin.get("/settings").text).split())
    assert "VPN Spot's DNS, through the tunnel (private)" in text
    assert "My internet provider's DNS, outside the tunnel (it sees every name)" in text
    assert "My own DNS servers, through the tunnel" in text
    assert ("Internet provider: names are resolved by your internet provider, outside the "
            "tunnel; it sees every name your devices look up.") in text
    assert ("Own servers: names are resolved by the servers you list below (addresses on the "
            "internet, not in your home), through the tunnel") in text


def test_own_dns_servers_are_saved_and_a_non_unicast_one_is_refused(admin, backend):
    admin.get("/settings")
    form = {"kill_switch": "1", "dns_mode": "custom", "dns_servers": "9.9.9.9 2620:fe::fe",
            "ipv6_mode": "tunnel", "mtu_mode": "auto", "report_period_minutes": "1440"}
    admin.post("/settings", form)
    values = backend.settings()["values"]
    assert values["dns_mode"] == "custom" and list(values["dns_servers"]) == ["9.9.9.9", "2620:fe::fe"]
    admin.get("/settings")
    r = admin.post("/settings", dict(form, dns_servers="0.0.0.0"))
    assert r.status == 400 and "0.0.0.0 is the unspecified address" in html.unescape(r.text)
    assert list(backend.settings()["values"]["dns_servers"]) == ["9.9.9.9", "2620:fe::fe"]
