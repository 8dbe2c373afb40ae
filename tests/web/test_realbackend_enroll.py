"""The web UI's account step on a router enrolled before (`vpnspot enroll
--api --ca --resolve`, a technician, the lab demo): it asks the service the
router was enrolled with, as `vpnspot enroll` does, not the settings'
default address. The reference service runs on loopback; the settings name
a closed loopback port, so asking them would be "no network"."""

import json
import os
import time

import pytest

from vpnspot_router import configstore
from vpnspot_router.lab.provider_service import ProviderService, server_entry
from vpnspot_router.provider import commands
from vpnspot_router.provider.client import ProviderClient
from vpnspot_router.web.backend import FieldError
from vpnspot_router.web.realbackend import RealBackend

EMAIL = "household@example.net"
CODE = "VPNS-7Q4K-M2XD"
OTHER_EMAIL = "other-household@example.net"
OTHER_CODE = "VPNS-8R5L-N3YE"


@pytest.fixture
def enrolled(tmp_path):
    servers = [server_entry("nl-ams-1", "203.0.113.10:51820", "AQ" * 21 + "A=")]
    with ProviderService(state_dir=str(tmp_path / "provider"), servers=servers) as service:
        service.add_account(EMAIL)
        service.add_activation_code(CODE, EMAIL)
        service.add_account(OTHER_EMAIL)
        service.add_activation_code(OTHER_CODE, OTHER_EMAIL)
        state = tmp_path / "state"
        state.mkdir()
        first = ProviderClient(service.url, ca_file=service.ca_file,
                               resolve=service.resolve).enroll(EMAIL, CODE)
        commands.save_device(str(state), {
            "api_url": service.url, "ca_file": service.ca_file, "resolve": service.resolve,
            "device_id": first.device_id, "device_token": first.device_token})
        conf = tmp_path / "config" / "vpnspot"
        conf.parent.mkdir()
        # Nothing listens on port 1 of loopback: the settings' address is
        # not where this router was enrolled.
        conf.write_text("config vpnspot 'main'\n\toption api_url 'https://127.0.0.1:1/v1'\n"
                        "\toption account_email '%s'\n" % EMAIL)
        backend = RealBackend(paths=configstore.Paths(str(conf), (str(tmp_path / "prov"),)),
                              state_dir=str(state), run_dir=str(tmp_path / "run"))
        yield backend, service, state, first


def test_moving_an_enrolled_router_to_another_account_asks_the_service_it_was_enrolled_with(
        enrolled):
    backend, service, state, first = enrolled
    backend.enroll(OTHER_EMAIL, OTHER_CODE)
    with open(os.path.join(str(state), commands.DEVICE_FILE)) as f:
        saved = json.load(f)
    assert saved["device_token"] != first.device_token
    # The saved address stays whole: the next request still reaches it.
    assert saved["api_url"] == service.url and saved["resolve"] == service.resolve
    assert saved["ca_file"] == service.ca_file
    assert backend.settings()["values"]["region"] == "fastest"
    assert [s["id"] for s in backend.servers()["servers"]] == ["nl-ams-1"]


def test_a_spent_activation_code_is_refused_by_the_service_not_by_no_network(enrolled):
    backend = enrolled[0]
    started = time.monotonic()
    with pytest.raises(FieldError) as refused:
        backend.enroll(EMAIL, CODE)
    assert refused.value.field == "code"
    assert "already used" in refused.value.message, refused.value.message
    assert "no network" not in refused.value.message
    assert time.monotonic() - started < 4.0
