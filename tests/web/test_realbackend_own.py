"""The real backend and the household's own server: "Use this configuration"
writes server_source through the store (the provider's lock applies) and
tells the running agent over a real control socket; the status and the
servers page say the own server is in use, without asking the provider."""

import json
import os
import threading

import pytest

from vpnspot_router import configstore, driver
from vpnspot_router.web.backend import BackendError, FieldError
from vpnspot_router.web.realbackend import RealBackend

from .test_pages import GOOD_CONF

PROVISIONING = ("config provider 'provider'\n\toption name 'Example ISP'\n"
                "\tlist lock 'server_source'\n")


class FakeAgent:
    """A live agent's agent.json and a control socket that records and
    answers "server_source" as the driver does."""

    def __init__(self, run_dir, supervisor=None):
        os.makedirs(run_dir)
        self.status = {"pid": os.getpid(), "mode": "service", "state": "running",
                       "supervisor": supervisor or {"state": "connected", "server": "ams-gw",
                                                    "server_source": "vpnspot"}}
        with open(os.path.join(run_dir, "agent.json"), "w") as f:
            json.dump(self.status, f)
        self.server = driver.ControlServer(run_dir)
        self.asked = []
        threading.Thread(target=self._answer, daemon=True).start()

    def _answer(self):
        while True:
            request, slot, done = self.server.requests.get()
            if request is None:
                return
            self.asked.append(request)
            slot["answer"] = ({"ok": True, "source": request.get("source"), "state": "connecting",
                               "problem": None} if request["cmd"] == "server_source" else
                              {"ok": False, "error": "unknown request"})
            done.set()

    def close(self):
        self.server.requests.put((None, None, None))
        self.server.close()


class NoProvider:
    def servers(self):
        raise AssertionError("the provider was asked while the own server is in use")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    conf = tmp_path / "config" / "vpnspot"
    conf.parent.mkdir()
    conf.write_text("config vpnspot 'main'\n")
    prov = tmp_path / "provisioning"
    backend = RealBackend(paths=configstore.Paths(str(conf), (str(prov),)),
                          state_dir=str(tmp_path / "state"), run_dir=str(tmp_path / "run"))
    monkeypatch.setattr(backend, "_device", lambda: {"api_url": "https://api.vpnspot.test:8443",
                                                     "device_token": "t", "ca_file": None})
    monkeypatch.setattr(backend, "_client", lambda token=None, device=None: NoProvider())
    agents = []

    def agent(supervisor=None):
        agents.append(FakeAgent(str(tmp_path / "run"), supervisor))
        return agents[-1]
    yield backend, conf, prov, agent
    for a in agents:
        a.close()


def test_use_this_configuration_saves_the_choice_and_tells_the_running_agent(setup):
    backend, conf, _, start_agent = setup
    agent = start_agent()
    backend.import_wg_config(GOOD_CONF)
    assert os.stat(os.path.join(backend.state_dir, "wg-household.conf")).st_mode & 0o777 == 0o600
    assert backend.own_server()["imported"] == {"endpoint": "203.0.113.10:51820", "peers": 1,
                                                "addresses": ["10.77.0.2/32"]}
    assert backend.use_own_server() == {"applied": True, "problem": None}
    assert "\toption server_source 'own'\n" in conf.read_text()
    assert agent.asked == [{"cmd": "server_source", "source": "own"}]
    assert backend.use_vpnspot_servers() == {"applied": True, "problem": None}
    assert "\toption server_source 'vpnspot'\n" in conf.read_text()
    assert agent.asked[-1] == {"cmd": "server_source", "source": "vpnspot"}


def test_without_an_imported_file_nothing_is_saved_or_sent(setup):
    backend, conf, _, start_agent = setup
    agent = start_agent()
    with pytest.raises(FieldError) as e:
        backend.use_own_server()
    assert "import your server's .conf first" in e.value.message
    assert conf.read_text() == "config vpnspot 'main'\n" and agent.asked == []


def test_a_locked_server_source_is_refused_before_anything_is_saved_or_sent(setup):
    backend, conf, prov, start_agent = setup
    prov.write_text(PROVISIONING)
    agent = start_agent()
    backend.import_wg_config(GOOD_CONF)
    assert backend.own_server()["locked"] == "locked by your provider Example ISP"
    with pytest.raises(BackendError) as e:
        backend.use_own_server()
    assert e.value.message == "server_source: locked by your provider Example ISP"
    assert conf.read_text() == "config vpnspot 'main'\n" and agent.asked == []


def test_without_a_running_agent_the_choice_is_saved_for_its_start(setup):
    backend, conf, _, _ = setup
    backend.import_wg_config(GOOD_CONF)
    assert backend.use_own_server() == {"applied": False, "problem": None}
    assert "server_source 'own'" in conf.read_text()


def test_the_status_says_your_own_server_and_its_endpoint_without_asking_the_provider(setup):
    backend, conf, _, start_agent = setup
    backend.import_wg_config(GOOD_CONF)
    backend.use_own_server()
    start_agent({"state": "connected", "server": "own", "server_source": "own",
                 "own_endpoint": "203.0.113.10:51820", "own_problem": None})
    st = backend.status()
    assert st["server"] == {"id": "own", "own": True, "endpoint": "203.0.113.10:51820",
                            "region": "-", "city": "-", "country": "-"}
    assert any("does not contact VPN Spot" in n for n in st["notes"])
    with pytest.raises(FieldError) as e:
        backend.select_server("ams-gw")
    assert "your own WireGuard server is in use" in e.value.message
    assert backend.own_server()["in_use"] is True
    # The servers page lists nothing rather than ask VPN Spot (NoProvider).
    data = backend.servers()
    assert data["servers"] == [] and "not listed while your own server is in use" in data["note"]


def test_an_own_server_the_agent_cannot_use_is_named_in_the_status(setup):
    backend, conf, _, start_agent = setup
    backend.import_wg_config(GOOD_CONF)
    backend.use_own_server()
    problem = "/etc/vpnspot/wg-household.conf: no WireGuard configuration has been imported"
    start_agent({"state": "needs_attention", "server": None, "server_source": "own",
                 "own_endpoint": None, "own_problem": problem})
    st = backend.status()
    assert st["state"] == "blocked" and st["server"] is None
    assert "Your own server cannot be used: " + problem in st["notes"]
    assert backend.own_server()["problem"] == problem
