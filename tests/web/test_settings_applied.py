"""The settings page says what the running router did with a saved change:
the real backend's answer (web/realbackend.py, from the agent's "reload")
is shown as it is, a problem as an error (FakeBackend through the WSGI app,
its change_settings answering as the real one does)."""

import html

FORM = {"kill_switch": "1", "dns_mode": "isp", "ipv6_mode": "block", "mtu_mode": "auto",
        "report_period_minutes": "1440"}


def page_text(client):
    return " ".join(html.unescape(client.get("/settings").text).split())


def test_the_page_says_what_was_applied_now_and_what_waits_for_a_restart(admin, backend,
                                                                       monkeypatch):
    saved = []

    def change_settings(changes):
        saved.append(dict(changes))
        return {"applied": True, "now": ["dns_mode", "ipv6_mode"], "restart": ["crypto"],
                "later": [], "problem": None,
                "note": "saved; applied now: dns_mode, ipv6_mode; applies after a restart of "
                        "the agent (/etc/init.d/vpnspot restart): crypto"}
    monkeypatch.setattr(backend, "change_settings", change_settings)
    admin.get("/settings")
    r = admin.post("/settings", FORM)
    assert r.status == 303 and saved and saved[0]["dns_mode"] == "isp"
    text = page_text(admin)
    assert ("Settings saved; applied now: dns_mode, ipv6_mode; applies after a restart of the "
            "agent (/etc/init.d/vpnspot restart): crypto.") in text, text


def test_a_change_the_agent_could_not_apply_is_shown_as_an_error(admin, backend, monkeypatch):
    def change_settings(changes):
        return {"applied": False, "now": [], "restart": ["dns_mode"], "later": [],
                "problem": "the running agent did not apply it: nft refused; it applies when "
                           "the agent starts",
                "note": "saved; applies after a restart of the agent (/etc/init.d/vpnspot "
                        "restart): dns_mode"}
    monkeypatch.setattr(backend, "change_settings", change_settings)
    admin.get("/settings")
    admin.post("/settings", FORM)
    text = page_text(admin)
    assert ("Settings saved, but the running agent did not apply it: nft refused; it applies "
            "when the agent starts.") in text, text
    assert "Settings saved; applies after a restart of the agent" in text, text
