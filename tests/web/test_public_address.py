"""The status page's public address seen through the tunnel, from the real
backend: agent.json's "exit_address" (written by the agent's exitcheck.py)
turned into the address, its VPN Spot flag, the text shown and a warning
when the address is not VPN Spot's; then the page itself through WSGI."""

import json
import os
import time

import pytest

from vpnspot_router import configstore
from vpnspot_router.web.app import WebConfig, app as make_app
from vpnspot_router.web.realbackend import RealBackend

from .conftest import LAN, PASSWORD
from .wsgiclient import Client

NOW = 1700000000.0


def write_agent(run, exit_address, sup_state="connected", server="ams-gw", **sup_more):
    os.makedirs(run, exist_ok=True)
    sup = dict({"state": sup_state, "server": server, "server_region": "europe"}, **sup_more)
    agent = {"pid": os.getpid(), "mode": "service", "state": "running", "started_at": NOW - 600,
             "plan": {"kill_switch": "on"}, "supervisor": sup,
             "enrolled": True, "exit_address": exit_address}
    with open(os.path.join(run, "agent.json"), "w") as f:
        json.dump(agent, f)
    tunnel = {"running": True, "time": NOW,
              "peers": [{"last_handshake": NOW - 20, "rx_bytes": 1, "tx_bytes": 1,
                         "endpoint_name": "203.0.113.10:51820"}]}
    with open(os.path.join(run, "tunnel.json"), "w") as f:
        json.dump(tunnel, f)


@pytest.fixture
def backend(tmp_path, monkeypatch):
    conf = tmp_path / "config" / "vpnspot"
    conf.parent.mkdir()
    conf.write_text("config vpnspot 'main'\n\toption kill_switch '1'\n")
    b = RealBackend(paths=configstore.Paths(str(conf), (str(tmp_path / "prov"),)),
                    state_dir=str(tmp_path / "state"), run_dir=str(tmp_path / "run"),
                    clock=lambda: NOW)
    monkeypatch.setattr(b, "_device", lambda: {"api_url": "https://api.vpnspot.test:8443",
                                               "device_token": "t", "ca_file": None})
    # The server's city comes from the provider's list; known here, so no call.
    b._server_info = {"ams-gw": {"id": "ams-gw", "region": "europe", "city": "Amsterdam",
                                 "country": "NL"}}
    return b


def checked(address, vpnspot, ago=40):
    return {"state": "checked", "server": "ams-gw", "address": address, "vpnspot": vpnspot,
            "checked_at": NOW - ago}


def test_a_vpnspot_exit_is_shown_with_when_it_was_checked(backend):
    write_agent(backend.run_dir, checked("10.77.0.2", True))
    st = backend.status()
    assert st["state"] == "protected"
    assert (st["public_ip"], st["public_ip_vpnspot"]) == ("10.77.0.2", True)
    assert st["public_ip_text"] == "10.77.0.2 (a VPN Spot address, checked 40 s ago)"
    assert not [n for n in st["notes"] if "address" in n]


def test_an_address_that_is_not_vpnspot_s_is_shown_with_a_plain_warning(backend):
    write_agent(backend.run_dir, checked("192.0.2.7", False))
    st = backend.status()
    assert (st["public_ip"], st["public_ip_vpnspot"]) == ("192.0.2.7", False)
    assert "NOT a VPN Spot address" in st["public_ip_text"]
    warning = [n for n in st["notes"] if "192.0.2.7" in n]
    assert len(warning) == 1 and "not protected" in warning[0]


def test_before_the_first_answer_the_page_says_checking(backend):
    write_agent(backend.run_dir, {"state": "checking", "server": "ams-gw"})
    st = backend.status()
    assert st["public_ip"] is None and st["public_ip_text"] == "checking..."
    # An agent that has not written the entry yet, with the tunnel up: the same.
    write_agent(backend.run_dir, None)
    assert backend.status()["public_ip_text"] == "checking..."


def test_a_failed_check_says_why_and_that_it_is_tried_again(backend):
    write_agent(backend.run_dir, {"state": "failed", "server": "ams-gw", "checked_at": NOW - 5,
                                  "error": "no answer: the VPN Spot service did not answer in "
                                           "time"})
    st = backend.status()
    assert st["public_ip"] is None and st["public_ip_vpnspot"] is None
    assert st["public_ip_text"].startswith("not checked: no answer: the VPN Spot service")
    assert "tries again" in st["public_ip_text"]


def test_the_household_s_own_server_is_not_checked_and_says_so(backend):
    for entry in ({"state": "own_server"}, None):      # None: before the agent wrote it
        write_agent(backend.run_dir, entry, server="own", server_source="own",
                    own_endpoint="203.0.113.50:51820")
        st = backend.status()
        assert st["public_ip"] is None
        assert st["public_ip_text"] == "not checked: your own server is not part of VPN Spot"


def test_without_a_tunnel_there_is_no_address(backend):
    write_agent(backend.run_dir, None, sup_state="disconnected", server=None)
    with open(os.path.join(backend.run_dir, "tunnel.json"), "w") as f:
        json.dump({"running": False, "peers": []}, f)
    st = backend.status()
    assert st["state"] == "blocked" and st["public_ip"] is None and st["public_ip_text"] == "-"


def test_an_agent_that_is_not_running_shows_nothing_it_wrote(backend):
    write_agent(backend.run_dir, checked("10.77.0.2", True))
    path = os.path.join(backend.run_dir, "agent.json")
    with open(path) as f:
        agent = json.load(f)
    agent["pid"] = 2 ** 22 + 1          # above pid_max: no such process
    with open(path, "w") as f:
        json.dump(agent, f)
    assert backend.status()["public_ip"] is None


def test_the_status_page_and_its_live_update_show_the_address_and_the_warning(backend, tmp_path):
    write_agent(backend.run_dir, checked("192.0.2.7", False))
    web = make_app(backend, WebConfig(host=LAN, port=443, state_dir=str(tmp_path / "web"),
                                      memory_only=True), clock=time.time)
    client = Client(web, host=LAN)
    client.get("/setup/password")
    r = client.post("/setup/password", {"password": PASSWORD, "repeat": PASSWORD,
                                        "setup_code": web.bottle.config["vpnspot.setup_code"]()})
    assert r.status == 303, r.text
    page = client.get("/status")
    assert page.status == 200, page.text
    assert '<dd data-field="public_ip">192.0.2.7: NOT a VPN Spot address (checked 40 s ago)</dd>' \
        in page.text
    assert '<p class="warning">Warning: through the tunnel, the VPN Spot service sees your ' \
           'traffic come from 192.0.2.7' in page.text
    live = json.loads(client.get("/api/status").text)
    assert live["public_ip_text"].startswith("192.0.2.7: NOT a VPN Spot address")
    write_agent(backend.run_dir, checked("10.77.0.2", True, ago=3))
    page = client.get("/status")
    assert '<dd data-field="public_ip">10.77.0.2 (a VPN Spot address, checked 3 s ago)</dd>' \
        in page.text
    assert "NOT a VPN Spot" not in page.text
