"""Who may take the router: the first-run setup code, an atomic first
password, a lockout that parallel guesses cannot race, sessions a flood of
anonymous visits cannot evict, and redirects forwarding headers cannot
steer. Through the WSGI app (real files in a temporary state directory)
and the `vpnspot setup-code` command."""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from vpnspot_router import setupcode
from vpnspot_router.web import security
from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.backend import FakeBackend

from .conftest import LAN, PASSWORD, finish_setup, first_runs_at_once, setup_code
from .wsgiclient import Client

OTHER = "another long password"


def first_form(web):
    c = Client(web, host=LAN)
    assert c.get("/setup/password").status == 200
    return c


def password_file(tmp_path):
    return tmp_path / "state" / security.PASSWORD_FILE


# -- item 5: the setup code ----------------------------------------------------------

def test_the_first_password_without_the_setup_code_is_refused_and_nothing_is_created(web, tmp_path):
    c = first_form(web)
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD})
    assert r.status == 401
    assert "setup code is not right" in r.text and "nothing was changed" in r.text
    assert not web.bottle.config["vpnspot.passwords"].is_set()
    assert not password_file(tmp_path).exists()
    assert c.get("/status").location == "/setup/password"      # not signed in


def test_a_wrong_setup_code_is_refused_and_counts_against_the_sign_in_lockout(web, tmp_path):
    c = first_form(web)
    statuses = []
    for i in range(security.MAX_FAILURES):
        r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                       "setup_code": "WRONG-%05d" % i})
        statuses.append(r.status)
    assert statuses == [401] * (security.MAX_FAILURES - 1) + [429]
    # Locked now: even the right code is refused, unchecked, nothing created.
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                   "setup_code": setup_code(web)})
    assert r.status == 429 and "locked for" in r.text
    assert not password_file(tmp_path).exists()


def test_the_setup_code_may_be_typed_in_lower_case_with_spaces_instead_of_dashes(web):
    code = setupcode.shown(setup_code(web))
    assert len(code) == setupcode.LENGTH + 1 and code[setupcode.GROUP] == "-"
    typed = code.lower().replace("-", " ")
    c = first_form(web)
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD, "setup_code": typed})
    assert r.status == 303 and r.location == "/setup/account", r.text
    assert c.get("/setup/account").status == 200                # signed in


def test_the_generated_setup_code_is_made_once_0600_and_the_command_prints_the_same(tmp_path):
    state = tmp_path / "state"
    codes = []
    threads = [threading.Thread(target=lambda: codes.append(setupcode.ensure(str(state))))
               for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(codes)) == 1
    code = codes[0]
    assert len(code) == setupcode.LENGTH and set(code) <= set(setupcode.ALPHABET)
    path = state / setupcode.FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(state)) == [setupcode.FILE_NAME]   # no temporary files left
    out = subprocess.run([sys.executable, "-m", "vpnspot_router", "setup-code", "--state",
                          str(state)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == setupcode.shown(code)
    assert str(path) in out.stderr
    web = make_app(FakeBackend(), WebConfig(host=LAN, state_dir=str(state)))
    assert setup_code(web) == code


def test_a_damaged_setup_code_file_is_refused_with_its_name_and_nothing_is_created(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / setupcode.FILE_NAME).write_text("not a code\n")
    web = make_app(FakeBackend(), WebConfig(host=LAN, state_dir=str(state)))
    c = first_form(web)
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                   "setup_code": "not a code"})
    assert r.status == 500 and "cannot read its setup code" in r.text
    assert str(state / setupcode.FILE_NAME) in r.text
    assert not (state / security.PASSWORD_FILE).exists()
    out = subprocess.run([sys.executable, "-m", "vpnspot_router", "setup-code", "--state",
                          str(state)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "remove it and a new code is made" in out.stderr


def test_an_isps_setup_code_from_the_provisioning_file_is_the_one_asked_for(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    prov = state / "provisioning"
    prov.write_text("config provider 'provider'\n\toption name 'Example ISP'\n"
                    "\toption setup_code 'K7RM-2QXD-PL'\n")
    web = make_app(FakeBackend(), WebConfig(host=LAN, state_dir=str(state),
                                            provisioning_paths=(str(prov),)))
    assert setup_code(web) == "K7RM-2QXD-PL"
    assert not (state / setupcode.FILE_NAME).exists()           # no second code made
    c = first_form(web)
    generated = setupcode.generate()
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                   "setup_code": generated})
    assert r.status == 401
    r = c.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                   "setup_code": "k7rm 2qxd pl"})
    assert r.status == 303, r.text


def test_a_bad_setup_code_in_the_provisioning_file_is_named_by_line_and_option():
    from vpnspot_router.core.config import ConfigError, parse_provisioning
    with pytest.raises(ConfigError) as e:
        parse_provisioning("config provider 'provider'\n\toption setup_code 'short'\n", "/p")
    assert "/p" in str(e.value) and "setup_code" in str(e.value) and ":2" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_provisioning("config provider 'provider'\n\toption setup_code 'ABCD<EFGH>'\n", "/p")
    assert "letters, digits" in str(e.value)


def test_two_first_run_forms_sent_at_once_exactly_one_wins_and_the_other_is_not_signed_in(
        web, tmp_path):
    code = setup_code(web)
    clients = [first_form(web) for _ in range(8)]
    passwords = ["household password %d" % i for i in range(len(clients))]
    answers = first_runs_at_once(clients, passwords, code)
    won = [i for i, r in enumerate(answers) if r.status == 303]
    assert len(won) == 1, [r.status for r in answers]
    for i, r in enumerate(answers):
        if i in won:
            continue
        assert r.status == 409 and "A password was already set" in r.text
        assert clients[i].get("/status").location == "/login"     # not signed in
    store = web.bottle.config["vpnspot.passwords"]
    assert store.verify(passwords[won[0]])
    on_disk = json.loads(password_file(tmp_path).read_text())
    assert security.verify_password(on_disk, passwords[won[0]])
    assert clients[won[0]].get("/setup/account").status == 200


def test_a_second_web_process_cannot_replace_a_password_set_by_the_first(tmp_path):
    """Two apps over one state directory (e.g. two web processes): the
    record is created with link(2), which never replaces."""
    config = WebConfig(host=LAN, state_dir=str(tmp_path / "state"))
    first = make_app(FakeBackend(), config)
    second = make_app(FakeBackend(), config)
    a, b = first_form(first), first_form(second)
    code = setup_code(first)
    assert a.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                      "setup_code": code}).status == 303
    r = b.post("/setup/password", {"password": OTHER, "repeat": OTHER, "setup_code": code})
    assert r.status == 409 and "already set" in r.text
    assert b.get("/status").location == "/login"
    record = json.loads(password_file(tmp_path).read_text())
    assert security.verify_password(record, PASSWORD)
    assert not security.verify_password(record, OTHER)


# -- item 6: the lockout is counted before the check, one check at a time ------------

class CountingScrypt:
    """hashlib.scrypt that counts calls and the most run at once, and runs
    `during` inside each call."""

    def __init__(self, real, during=None, hold=0.02):
        self.real = real
        self.during = during
        self.hold = hold
        self.calls = 0
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, *a, **kw):
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self.during:
                self.during()
            time.sleep(self.hold)
            return self.real(*a, **kw)
        finally:
            with self.lock:
                self.running -= 1


def test_32_parallel_wrong_passwords_check_at_most_the_limit_one_at_a_time(web, admin,
                                                                          monkeypatch):
    counting = CountingScrypt(hashlib.scrypt)
    monkeypatch.setattr(hashlib, "scrypt", counting)
    clients = []
    for _ in range(32):
        c = Client(web, host=LAN)
        c.get("/login")
        clients.append(c)
    answers = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def guess(i):
        start.wait()
        answers[i] = clients[i].post("/login", {"password": "guess-%d" % i})
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counting.calls == security.MAX_FAILURES, [r.status for r in answers]
    assert counting.most == 1
    checked = [r for r in answers if "That password is not right" in r.text]
    assert len(checked) == security.MAX_FAILURES
    assert all(r.status in (401, 429) for r in checked)
    refused = [r for r in answers if r not in checked]
    assert all(r.status == 429 and "locked for" in r.text for r in refused)
    # Locked: the right password is not even checked.
    c = Client(web, host=LAN)
    c.get("/login")
    assert c.post("/login", {"password": PASSWORD}).status == 429
    assert counting.calls == security.MAX_FAILURES


def test_an_attempt_is_on_disk_before_its_password_is_checked_and_a_new_process_keeps_it(
        tmp_path, clock):
    lockout_file = tmp_path / "run" / "web-lockout.json"
    lockout_file.parent.mkdir()
    config = WebConfig(host=LAN, state_dir=str(tmp_path / "state"),
                       lockout_file=str(lockout_file))
    web = make_app(FakeBackend(), config, clock=clock)
    finish_setup(Client(web, host=LAN))
    seen = []

    def during_check():
        seen.append(json.loads(lockout_file.read_text())["failures"])
    real = hashlib.scrypt
    hashlib.scrypt = CountingScrypt(real, during_check, hold=0)
    try:
        for i in range(security.MAX_FAILURES - 1):
            c = Client(web, host=LAN)
            c.get("/login")
            assert c.post("/login", {"password": "guess-%d" % i}).status == 401
    finally:
        hashlib.scrypt = real
    # Each attempt was written before scrypt ran: a kill -9 (out of memory)
    # during the check could not forget it.
    assert seen == list(range(1, security.MAX_FAILURES))
    assert lockout_file.stat().st_mode & 0o777 == 0o600
    # A new web process (the old one killed: nothing saved at exit) reads it:
    # one more wrong password locks sign-in.
    again = make_app(FakeBackend(), config, clock=clock)
    c = Client(again, host=LAN)
    c.get("/login")
    assert c.post("/login", {"password": "guess-last"}).status == 429
    assert c.post("/login", {"password": PASSWORD}).status == 429
    third = make_app(FakeBackend(), config, clock=clock)
    c = Client(third, host=LAN)
    c.get("/login")
    r = c.post("/login", {"password": PASSWORD})
    assert r.status == 429 and "locked for" in r.text
    clock.t += security.LOCKOUT_SECONDS + 1
    assert c.post("/login", {"password": PASSWORD}).status == 303


# -- item 7: anonymous visits never evict a signed-in session ------------------------

def test_a_flood_of_anonymous_visits_does_not_sign_the_household_out(web, admin):
    assert admin.get("/status").status == 200
    for _ in range(4 * security.MAX_SESSIONS):
        Client(web, host=LAN).get("/login")
    assert admin.get("/status").status == 200
    sessions = web.bottle.config["vpnspot.sessions"]
    assert len(sessions.by_id) == security.MAX_SESSIONS


def test_when_every_kept_session_is_signed_in_a_visitor_still_gets_a_page_but_evicts_nobody(
        clock):
    sessions = security.Sessions(clock)
    signed_in = [sessions.new(authenticated=True) for _ in range(security.MAX_SESSIONS)]
    visitor = sessions.new()
    assert not visitor.authenticated and visitor.sid not in sessions.by_id
    assert all(sessions.get(s.sid) is s for s in signed_in)
    # A sign-in makes room by evicting the oldest session.
    clock.t += 1
    for s in signed_in[1:]:
        sessions.get(s.sid)
    fresh = sessions.rotate(visitor)
    assert fresh.authenticated and sessions.get(fresh.sid) is fresh
    assert sessions.get(signed_in[0].sid) is None
    assert len(sessions.by_id) == security.MAX_SESSIONS


# -- item 11: forwarding headers do not steer redirects --------------------------------

@pytest.mark.parametrize("headers", [
    {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    {"X-Forwarded-Host": "evil.example:8080"},
    {"X-Forwarded-Proto": "http"},
    {"Forwarded": "host=evil.example;proto=http", "X-Forwarded-Port": "80"},
])
def test_forwarding_headers_do_not_steer_the_redirects(web, admin, headers):
    for client, path in ((Client(web, host=LAN), "/"), (admin, "/"),
                         (Client(web, host=LAN), "/status")):
        r = client.get(path, headers=headers)
        assert r.status == 303
        location = r.header("Location")
        assert location.startswith("https://%s/" % LAN), location
        assert "evil" not in location
    admin.get("/status")
    r = admin.post("/logout", {}, headers=headers)
    assert r.status == 303 and r.header("Location") == "https://%s/login" % LAN
