"""lab/provider_service.py: the reference service's own rules."""

import json
import os
import stat

import pytest

from vpnspot_router.lab.provider_service import ProviderService, server_entry
from vpnspot_router.provider import transport as t

from .conftest import EMAIL, CODE


def send(service, method, path, data=None, headers=None, raw=None):
    transport = t.HttpsTransport(ca_file=service.ca_file, resolve=service.resolve)
    body = raw if raw is not None else (None if data is None else json.dumps(data).encode())
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    resp = transport.handle(t.Request(method, service.url + path, h, body, 2.0))
    return resp.status, json.loads(resp.body)


def test_an_unknown_path_is_not_found_and_a_wrong_method_not_allowed(service):
    assert send(service, "GET", "/v1/clients")[1]["error"]["code"] == "not_found"
    status, answer = send(service, "DELETE", "/v1/servers")
    assert (status, answer["error"]["code"]) == (405, "method_not_allowed")


def test_a_body_that_is_not_json_is_rejected(service):
    status, answer = send(service, "POST", "/v1/enrollments", raw=b"email=a")
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


def test_a_body_on_a_call_without_one_is_rejected(service, enrolled):
    status, answer = send(service, "GET", "/v1/account", raw=b'{"lan": 1}',
                          headers={"Authorization": "Bearer " + enrolled.device_token})
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


def test_a_malformed_idempotency_key_is_rejected(service):
    status, answer = send(service, "POST", "/v1/enrollments",
                          {"email": EMAIL, "activation_code": CODE},
                          headers={"Idempotency-Key": "short"})
    assert status == 400 and "Idempotency-Key" in answer["error"]["message"]


def test_an_oversized_body_is_refused_before_it_is_read(service):
    status, answer = send(service, "POST", "/v1/enrollments", raw=b"x" * (65 * 1024))
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")


def test_an_answer_that_breaks_the_spec_becomes_a_500_and_is_recorded(tmp_path, make_client):
    broken = server_entry("nl-1", "203.0.113.10:51820", "A" * 43 + "=")
    broken["lan_ip"] = "192.168.77.1"
    with ProviderService(state_dir=str(tmp_path), servers=[broken]) as service:
        service.add_account(EMAIL)
        service.add_activation_code(CODE, EMAIL)
        client = make_client(retries=0)
        client.api_url = service.url
        client.transport = t.HttpsTransport(ca_file=service.ca_file, resolve=service.resolve)
        client.enroll(EMAIL, CODE)
        from vpnspot_router.provider.client import ServiceUnavailable
        with pytest.raises(ServiceUnavailable):
            client.servers()
        assert len(service.response_errors) == 1
        assert "unknown field 'lan_ip'" in service.response_errors[0][3][0]


def test_every_request_is_kept_without_its_authorization_header(service, enrolled):
    enrolled.account()
    last = service.received[-1]
    assert last.path == "/v1/account" and last.headers["authorization"] == "<present>"
    with open(os.path.join(service.state_dir, "requests.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    assert lines[-1]["path"] == "/v1/account"
    assert enrolled.device_token not in json.dumps(lines)


def test_the_admin_calls_need_the_admin_token(service):
    status, _ = send(service, "POST", "/_lab/misbehave", {"kind": "error"})
    assert status == 401
    status, _ = send(service, "POST", "/_lab/misbehave", {"kind": "error", "count": 1},
                     headers={"X-Lab-Admin": service.admin_token})
    assert status == 200
    assert send(service, "GET", "/v1/servers")[0] == 503


def test_the_admin_token_and_tls_keys_are_private_files(service):
    for path in (os.path.join(service.state_dir, "admin-token"),
                 os.path.join(service.state_dir, "tls", "good.key")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_key_registered_by_one_router_cannot_be_claimed_by_another(service, make_client,
                                                                     enrolled):
    key = "C" * 43 + "="
    enrolled.register_key(key)
    service.add_activation_code("VPNS-SECOND-01", EMAIL)
    other = make_client()
    other.enroll(EMAIL, "VPNS-SECOND-01")
    from vpnspot_router.provider.client import KeyInUse
    with pytest.raises(KeyInUse):
        other.register_key(key)


class RecordingProvisioner:
    def __init__(self):
        self.calls = []

    def add_peer(self, public_key, allowed_ips):
        self.calls.append(("add", public_key, list(allowed_ips)))

    def remove_peer(self, public_key):
        self.calls.append(("remove", public_key))


def test_registering_a_key_provisions_every_gateway_and_replaces_the_old_key(tmp_path,
                                                                             make_client):
    gws = {"gw": RecordingProvisioner(), "gw2": RecordingProvisioner()}
    with ProviderService(state_dir=str(tmp_path), provisioners=gws) as service:
        service.add_account(EMAIL)
        service.add_activation_code(CODE, EMAIL)
        client = make_client()
        client.api_url = service.url
        client.transport = t.HttpsTransport(ca_file=service.ca_file, resolve=service.resolve)
        client.enroll(EMAIL, CODE)
        old, new = "D" * 43 + "=", "E" * 43 + "="
        client.register_key(old)
        client.register_key(old)  # unchanged: no gateway call
        client.register_key(new)
    for prov in gws.values():
        assert prov.calls == [("add", old, ["10.77.0.2/32", "fd77:77::2/128"]),
                              ("remove", old),
                              ("add", new, ["10.77.0.2/32", "fd77:77::2/128"])]
