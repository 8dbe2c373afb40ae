"""Fixtures for the web UI tests: the app around a FakeBackend, a fake
clock for sessions and the lockout, and a client already through setup."""

import threading

import pytest

from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.backend import FakeBackend
from .wsgiclient import Client

PASSWORD = "correct horse battery"
EMAIL = "household@example.net"
CODE = "VPNS-7Q4K-M2XD"
LAN = "192.168.77.1"


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def web(backend, clock, tmp_path):
    config = WebConfig(host=LAN, port=443, state_dir=str(tmp_path / "state"))
    return make_app(backend, config, clock=clock)


def setup_code(app):
    """The router's first-run setup code (STATE/web-setup-code, made on demand)."""
    return app.bottle.config["vpnspot.setup_code"]()


def first_runs_at_once(clients, passwords, code):
    """Each client posts the first-run form with its password and the setup
    code, all released at once by a barrier; the answers in client order."""
    answers = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def send(i):
        start.wait()
        answers[i] = clients[i].post("/setup/password", {
            "password": passwords[i], "repeat": passwords[i], "setup_code": code})
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def finish_setup(client, kill_switch=True):
    client.get("/setup/password")
    r = client.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                        "setup_code": setup_code(client.app)})
    assert r.status == 303 and r.location == "/setup/account", r.text
    client.get("/setup/account")
    r = client.post("/setup/account", {"email": EMAIL, "code": CODE})
    assert r.location == "/setup/region", r.text
    client.get("/setup/region")
    r = client.post("/setup/region", {"region": "fastest"})
    if r.location == "/status":
        # The kill switch step is done already (an ISP's provisioning locks it):
        # the wizard skips it.
        assert '<p class="locked">Kill switch: on' in client.get("/setup/protection").text
        return client
    assert r.location == "/setup/protection", r.location
    client.get("/setup/protection")
    fields = {"kill_switch": "1"} if kill_switch else {}
    assert client.post("/setup/protection", fields).location == "/status"
    return client


@pytest.fixture
def admin(web):
    """A client signed in, with setup finished."""
    return finish_setup(Client(web, host=LAN))
