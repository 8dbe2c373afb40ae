"""A factory reset while the web UI keeps running (the always-on process,
`main.web_on_demand 0`): the password it erased no longer signs in, the
first-run page (setup code and a new password) is offered at once, and a
browser signed in with the old password is signed out. Through the WSGI app
with real files; the reset is factoryreset.erase on the same directories."""

import os

import pytest

from vpnspot_router import factoryreset
from vpnspot_router.web import security
from vpnspot_router.web.app import WebConfig, app as make_app

from .conftest import LAN, PASSWORD, finish_setup, first_runs_at_once, setup_code
from .wsgiclient import Client

NEW = "a new household password"


@pytest.fixture
def places(tmp_path):
    return factoryreset.Places.for_root(str(tmp_path / "root"))


@pytest.fixture
def web(backend, clock, places):
    config = WebConfig(host=LAN, port=443, state_dir=places.state)
    return make_app(backend, config, clock=clock)


def password_file(places):
    return os.path.join(places.state, security.PASSWORD_FILE)


def sign_in(web, password):
    c = Client(web, host=LAN)
    c.get("/login")
    return c, c.post("/login", {"password": password})


def first_password(web, password):
    c = Client(web, host=LAN)
    assert c.get("/setup/password").status == 200
    r = c.post("/setup/password", {"password": password, "repeat": password,
                                   "setup_code": setup_code(web)})
    return c, r


def reset(places):
    erased = factoryreset.erase(places)["erased"]
    assert password_file(places) in erased
    assert not os.path.exists(password_file(places))


def test_after_a_factory_reset_the_old_password_no_longer_signs_in(web, admin, places):
    assert sign_in(web, PASSWORD)[1].status == 303          # works before the reset
    reset(places)
    c, r = sign_in(web, PASSWORD)
    assert r.location == "/setup/password", (r.status, r.location)
    assert c.get("/status").location == "/setup/password"   # not signed in


def test_after_a_factory_reset_the_first_run_page_is_offered_and_takes_a_new_password(web, admin,
                                                                                       places):
    reset(places)
    anyone = Client(web, host=LAN)
    assert anyone.get("/login").location == "/setup/password"
    page = anyone.get("/setup/password")
    assert page.status == 200 and "setup_code" in page.text
    c, r = first_password(web, NEW)
    # (The fake backend is still enrolled: the wizard goes on from there.)
    assert r.status == 303 and r.location in ("/setup/account", "/status"), r.text
    assert c.get("/settings").status == 200                 # signed in
    assert os.path.exists(password_file(places))
    assert sign_in(web, NEW)[1].status == 303
    assert sign_in(web, PASSWORD)[1].status == 401          # the erased one stays out


def test_the_old_admins_session_is_signed_out_by_the_reset(web, admin, places):
    assert admin.get("/status").status == 200
    assert admin.get("/api/status").status == 200
    reset(places)
    assert admin.get("/status").location == "/setup/password"
    assert admin.get("/api/status").status == 401


def test_the_old_admins_session_stays_signed_out_after_a_new_password_is_set(web, admin, places):
    reset(places)
    newcomer, r = first_password(web, NEW)
    assert r.status == 303, r.text
    # Before a page was loaded in between: the old cookie meets the new record.
    r = admin.get("/status")
    assert r.location == "/login", (r.status, r.location)
    assert admin.get("/api/status").status == 401
    assert admin.post("/settings", {"kill_switch": "0"}).location == "/login"
    assert newcomer.get("/status").status == 200            # the new admin is signed in


def test_a_password_file_removed_by_hand_counts_as_no_password(web, admin, places):
    os.unlink(password_file(places))
    assert admin.get("/status").location == "/setup/password"
    assert sign_in(web, PASSWORD)[1].location == "/setup/password"


def test_a_record_replaced_on_flash_is_read_again_and_signs_out_the_old_sessions(web, admin,
                                                                                 places):
    # Another web process (or a restore by a technician) wrote a new record.
    other = security.PasswordStore(places.state + "-other")
    other.create(NEW)
    with open(os.path.join(places.state + "-other", security.PASSWORD_FILE), "rb") as f:
        data = f.read()
    tmp = password_file(places) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, password_file(places))
    assert admin.get("/status").location == "/login"
    assert sign_in(web, PASSWORD)[1].status == 401
    assert sign_in(web, NEW)[1].status == 303


def test_a_touched_but_unchanged_record_keeps_the_household_signed_in(web, admin, places):
    st = os.stat(password_file(places))
    os.utime(password_file(places), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert admin.get("/status").status == 200
    assert sign_in(web, PASSWORD)[1].status == 303


def test_after_a_reset_parallel_first_runs_still_have_exactly_one_winner(web, admin, places):
    reset(places)
    clients = []
    for _ in range(8):
        c = Client(web, host=LAN)
        assert c.get("/setup/password").status == 200
        clients.append(c)
    code = setup_code(web)
    results = first_runs_at_once(clients, ["parallel password %d" % i
                                           for i in range(len(clients))], code)
    winners = [i for i, r in enumerate(results) if r.status == 303]
    assert len(winners) == 1, [r.status for r in results]
    assert all("already set" in r.text for i, r in enumerate(results) if i != winners[0])
    assert sign_in(web, "parallel password %d" % winners[0])[1].status == 303


def test_the_lockout_still_counts_wrong_passwords_after_a_reset(web, admin, places, clock):
    reset(places)
    assert first_password(web, NEW)[1].status == 303
    statuses = [sign_in(web, "wrong password %d" % i)[1].status
                for i in range(security.MAX_FAILURES)]
    assert statuses == [401] * (security.MAX_FAILURES - 1) + [429]
    assert sign_in(web, NEW)[1].status == 429               # locked: even the right one


def test_a_second_store_follows_the_file_removed_and_created_again(tmp_path):
    state = str(tmp_path / "state")
    a = security.PasswordStore(state)
    b = security.PasswordStore(state)
    a.create(PASSWORD)
    assert b.is_set() and b.verify(PASSWORD)
    os.unlink(os.path.join(state, security.PASSWORD_FILE))
    assert not b.verify(PASSWORD) and not b.is_set()
    security.PasswordStore(state).create(NEW)
    assert b.is_set() and b.verify(NEW) and not b.verify(PASSWORD)
    with pytest.raises(security.AlreadySet):
        b.create(PASSWORD)                                  # created, never replaced
    assert b.verify(NEW) and a.verify(NEW) and not a.verify(PASSWORD)


def test_the_record_identity_changes_with_the_record_not_with_its_timestamp(tmp_path):
    state = str(tmp_path / "state")
    a = security.PasswordStore(state)
    b = security.PasswordStore(state)
    assert a.identity() is None
    a.create(PASSWORD)
    old = b.identity()
    assert old is not None and old == a.identity()
    path = os.path.join(state, security.PASSWORD_FILE)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert b.identity() == old
    os.unlink(path)
    assert b.identity() is None
    security.PasswordStore(state).create(PASSWORD)          # the same password, a new record
    assert b.identity() not in (None, old)


def test_a_session_saved_at_an_idle_exit_stays_signed_in_unless_the_record_changed(
        backend, clock, places):
    # The on-demand web process saves its sessions when idle and exits; the
    # next one reads them. The household stays signed in; a password record
    # replaced while no web process ran still signs the old browser out (a
    # factory reset erases the saved sessions as well).
    os.makedirs(places.run, exist_ok=True)
    saved = os.path.join(places.run, "web-sessions.json")

    def start():
        config = WebConfig(host=LAN, port=443, state_dir=places.state, state_file=saved)
        return make_app(backend, config, clock=clock)

    first = start()
    admin = finish_setup(Client(first, host=LAN))
    first.bottle.config["vpnspot.save_state"]()
    second = start()
    admin.app = second
    assert admin.get("/status").status == 200
    second.bottle.config["vpnspot.save_state"]()
    os.unlink(password_file(places))
    security.PasswordStore(places.state).create(NEW)
    third = start()
    admin.app = third
    assert admin.get("/status").location == "/login"
    assert admin.get("/api/status").status == 401


def test_a_debug_session_of_the_signed_out_admin_is_ended_as_at_sign_out(web, admin, backend,
                                                                          places):
    # Only that browser could see what it records: it does not go on unseen.
    admin.get("/diagnostics")
    assert admin.post("/diagnostics/debug/open", {"minutes": "10"}).location == "/diagnostics"
    assert backend.debug_summary()["open"]
    reset(places)
    assert admin.get("/status").location == "/setup/password"
    assert not backend.debug_summary()["open"]
