"""The setup wizard skips what is already done and never strands a household:
a router enrolled before its first visit (the `vpnspot enroll` command, a
technician, the lab demo) goes from the password to the status page; every
setup page lists the four steps with their state and links; a done step
says so and leads on. And the status page's fields are the same in the
page and in /api/status (what its live update shows)."""

import html
import json
import re

import pytest

from vpnspot_router.web.app import WebConfig, app as make_app, STATE_LABEL
from vpnspot_router.web.backend import FakeBackend, STATE_TEXT

from .conftest import CODE, EMAIL, LAN, PASSWORD, finish_setup
from .wsgiclient import Client

STEP_LINKS = ("/setup/account", "/setup/region", "/setup/protection")


def first_run(web, client):
    """The first-run step as a household does it: the router's setup code
    (where this build asks for one) and a new password."""
    client.get("/setup/password")
    fields = {"password": PASSWORD, "repeat": PASSWORD}
    code = web.bottle.config.get("vpnspot.setup_code")
    if code is not None:
        fields["setup_code"] = code()
    r = client.post("/setup/password", fields)
    assert r.status == 303, r.text
    return r


def make(tmp_path, backend):
    web = make_app(backend, WebConfig(host=LAN, port=443, state_dir=str(tmp_path / "state")))
    return web, Client(web, host=LAN)


def enrolled_backend(**settings):
    """A router enrolled before anyone opened its pages, with `settings`
    already chosen (as the lab demo's config file chooses them)."""
    backend = FakeBackend()
    backend.enroll(EMAIL, CODE)
    if settings:
        backend.change_settings(settings)      # the fake connects then
    return backend


def steps_of(text):
    """{step id: (done?, linked href or None)} from a setup page's step list."""
    out = {}
    for cls, key, body in re.findall(r'<li class="(done|todo)" id="step-(\w+)">(.*?)</li>',
                                     text, re.S):
        link = re.search(r'<a href="([^"]+)"', body)
        out[key] = (cls == "done", link.group(1) if link else None)
    return out


def test_a_router_enrolled_before_its_first_visit_goes_from_the_password_to_the_status_page(
        tmp_path):
    web, c = make(tmp_path, enrolled_backend(region="de-fra", kill_switch="1"))
    r = first_run(web, c)
    assert r.location == "/status", r.location
    page = c.get("/status")
    assert page.status == 200
    assert 'data-field="state">Protected<' in page.text
    assert 'class="state state-protected"' in page.text


def test_an_enrolled_router_whose_region_is_not_chosen_yet_goes_to_the_region_step(tmp_path):
    web, c = make(tmp_path, enrolled_backend())
    r = first_run(web, c)
    assert r.location == "/setup/region", r.location
    text = c.get("/setup/region").text
    steps = steps_of(text)
    assert steps["password"] == (True, None)
    assert steps["account"] == (True, "/setup/account")
    assert steps["region"] == (False, None)                 # the page itself
    assert steps["protection"] == (False, "/setup/protection")
    assert "done: signed in as h***@example.net" in text
    # Skipping keeps the current choice; the link leads on, not to a dead end.
    assert '<a id="skip" href="/setup/protection">' in text
    assert c.post("/setup/region", {"region": "nl-ams"}).location == "/setup/protection"
    c.get("/setup/protection")
    assert c.post("/setup/protection", {"kill_switch": "1"}).location == "/status"


def test_the_account_step_of_an_enrolled_router_says_done_and_leads_on(tmp_path):
    web, c = make(tmp_path, enrolled_backend(region="de-fra", kill_switch="1"))
    first_run(web, c)
    r = c.get("/setup/account")
    assert r.status == 200
    assert "Step 2 of 4: done" in r.text
    assert "already signed in as h***@example.net" in r.text
    assert '<a class="button" id="continue" href="/status">Continue</a>' in r.text
    steps = steps_of(r.text)
    assert steps["region"] == (True, "/setup/region")
    assert steps["protection"] == (True, "/setup/protection")
    assert "done: de-fra" in r.text and "done: kill switch on" in r.text


def test_a_done_step_shows_the_current_choice_and_keeping_it_changes_nothing(tmp_path):
    backend = enrolled_backend(region="de-fra", kill_switch="0")
    web, c = make(tmp_path, backend)
    first_run(web, c)
    region = c.get("/setup/region").text
    assert 'value="de-fra" checked' in region
    assert 'value="fastest" checked' not in region
    assert "Step 3 of 4: choose a region (done: de-fra)" in region
    protection = c.get("/setup/protection").text
    assert 'id="kill_switch" name="kill_switch" value="1"  aria' in protection
    assert "the kill switch stays OFF" in protection
    before = backend.settings()["values"]
    assert c.post("/setup/region", {"region": "de-fra"}).status == 303
    assert backend.settings()["values"] == before


def test_every_setup_page_links_every_later_step_for_a_household_that_is_signed_in(admin):
    for path in STEP_LINKS:
        text = admin.get(path).text
        steps = steps_of(text)
        assert set(steps) == {"password", "account", "region", "protection"}, path
        for key, href in zip(("account", "region", "protection"), STEP_LINKS):
            assert steps[key][1] == (None if href == path else href), (path, steps)
        assert all(done for done, _ in steps.values()), (path, steps)


def test_a_router_not_enrolled_still_starts_with_the_account_step(tmp_path):
    web, c = make(tmp_path, FakeBackend())
    assert first_run(web, c).location == "/setup/account"
    text = c.get("/setup/account").text
    assert "Step 2 of 4: sign in to VPN Spot" in text
    assert steps_of(text)["account"] == (False, None)


@pytest.mark.parametrize("state", sorted(STATE_TEXT))
def test_the_status_page_and_its_json_show_the_same_fields(admin, backend, state):
    real = backend.status

    def scripted():
        st = real()
        st.update(state=state, state_text=STATE_TEXT[state])
        return st
    backend.status = scripted
    page = admin.get("/status").text
    shown = json.loads(admin.get("/api/status").text)["shown"]
    assert shown["state"] == STATE_LABEL[state]
    assert 'class="state state-%s"' % state in page
    for field, text in shown.items():
        m = re.search(r'data-field="%s">(.*?)<' % field, page, re.S)
        assert m and html.unescape(m.group(1)) == text, (field, text, m and m.group(1))
