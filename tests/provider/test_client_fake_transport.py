"""provider/client.py with FakeTransport: retry policy and error mapping, no sockets."""

import json

import pytest

from vpnspot_router.core import telemetry
from vpnspot_router.provider import client as c
from vpnspot_router.provider import transport as t

from .conftest import CODE, EMAIL, Sleeps

TOKEN = "t" * 43
ACCOUNT = {"active": True, "status": "active", "plan": "family", "expires_at": None}


def answer(status, data, headers=None):
    return t.Response(status, headers or {}, json.dumps(data).encode())


def error(status, code, **extra):
    return answer(status, {"error": dict({"code": code, "message": "m"}, **extra)})


def client_with(responses, **kwargs):
    fake = t.FakeTransport(responses)
    sleeps = Sleeps()
    options = dict(device_token=TOKEN, transport=fake, sleep=sleeps, random=lambda: 0.5)
    options.update(kwargs)
    client = c.ProviderClient("https://api.vpnspot.test", **options)
    return client, fake, sleeps


def test_the_fake_transport_is_a_transport():
    assert isinstance(t.FakeTransport([]), t.Transport)


def test_each_api_error_code_becomes_its_own_household_error():
    cases = {
        "activation_code_invalid": c.ActivationCodeInvalid,
        "activation_code_expired": c.ActivationCodeExpired,
        "activation_code_used": c.ActivationCodeUsed,
        "account_suspended": c.AccountSuspended,
        "account_expired": c.AccountExpired,
        "unauthorized": c.NotEnrolled,
        "key_in_use": c.KeyInUse,
        "invalid_request": c.RequestRejected,
        "not_found": c.RequestRejected,
    }
    for code, cls in cases.items():
        client, _, _ = client_with([error(400, code)])
        with pytest.raises(cls) as info:
            client.account()
        assert info.value.code == code
        assert info.value.message == cls.default


def test_every_error_code_in_the_api_is_mapped_deliberately():
    from vpnspot_router.provider import spec
    doc = spec.load().doc
    codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    # The rest are the agent's own mistakes, shown as RequestRejected.
    agent_mistakes = {"invalid_request", "not_found", "method_not_allowed", "payload_too_large",
                      "report_conflict"}
    assert set(codes) == set(c.ERRORS_BY_CODE) | agent_mistakes


def test_network_failures_are_retried_then_reported_as_no_network():
    client, fake, sleeps = client_with([t.ConnectFailed("refused")] * 5)
    with pytest.raises(c.NoNetwork) as info:
        client.account()
    assert info.value.message == "no network: the router cannot reach the VPN Spot service"
    assert len(fake.requests) == 5
    assert sleeps == [0.25, 0.5, 1.0, 2.0]


def test_backoff_is_capped_and_jitter_comes_from_the_injected_random():
    fractions = iter([0.0, 0.99, 0.99, 0.99, 0.99, 0.99])
    client, _, sleeps = client_with([t.TimedOut("x")] * 7, retries=6, backoff_base=1.0,
                                    backoff_cap=4.0, random=lambda: next(fractions))
    with pytest.raises(c.ServiceTimeout):
        client.account()
    assert sleeps == [0.0, 1.98, 3.96, 3.96, 3.96, 3.96]


def test_a_certificate_failure_is_final_at_once():
    client, fake, sleeps = client_with([t.CertificateRejected("self-signed")])
    with pytest.raises(c.CertificateError):
        client.account()
    assert (len(fake.requests), sleeps) == (1, [])


def test_a_retry_after_header_sets_the_floor_of_the_wait():
    client, _, sleeps = client_with([error(429, "rate_limited", retry_after=9)
                                     ._replace(headers={"retry-after": "7"}),
                                     answer(200, ACCOUNT)])
    client.account()
    assert sleeps == [7.25]


def test_an_answer_that_breaks_the_api_is_a_protocol_error_not_a_crash():
    bad = dict(ACCOUNT, active="yes")
    client, _, _ = client_with([answer(200, bad)])
    with pytest.raises(c.ProtocolError) as info:
        client.account()
    assert "body.active: expected boolean" in info.value.detail


def test_an_extra_field_in_an_answer_is_a_protocol_error():
    client, _, _ = client_with([answer(200, dict(ACCOUNT, email="x@example.net"))])
    with pytest.raises(c.ProtocolError):
        client.account()


def test_a_non_json_error_page_from_a_proxy_is_a_protocol_error():
    client, _, _ = client_with([t.Response(403, {}, b"<html>blocked</html>")])
    with pytest.raises(c.ProtocolError):
        client.account()


def test_an_undocumented_success_status_is_a_protocol_error():
    client, _, _ = client_with([answer(202, ACCOUNT)])
    with pytest.raises(c.ProtocolError):
        client.account()


def test_a_key_confirmation_for_another_key_is_refused():
    mine, other = "A" * 43 + "=", "B" * 43 + "="
    client, _, _ = client_with([answer(200, {"public_key": other, "ipv4": "10.77.0.2/32",
                                             "ipv6": None})])
    with pytest.raises(c.ProtocolError):
        client.register_key(mine)


def test_a_malformed_public_key_is_refused_before_anything_is_sent():
    client, fake, _ = client_with([])
    with pytest.raises(ValueError):
        client.register_key("not a key")
    assert fake.requests == []


def test_enroll_sends_exactly_email_and_code_and_no_token():
    client, fake, _ = client_with([answer(201, {"device_id": "dev_0123abcd",
                                                "device_token": "k" * 43})], device_token=None,
                                  idempotency_key=lambda: "i" * 32)
    client.enroll(EMAIL, CODE)
    request = fake.requests[0]
    assert json.loads(request.body) == {"email": EMAIL, "activation_code": CODE}
    assert "Authorization" not in request.headers
    assert request.headers["Idempotency-Key"] == "i" * 32
    assert client.device_token == "k" * 43


def test_report_bytes_are_sent_unchanged():
    payload = telemetry.build_report({
        "schema": 1, "report_id": "a" * 32, "seq": 3, "hardware_model": "Banana Pi BPI-R3",
        "os_name": "OpenWrt", "os_version": "23.05.3", "agent_version": "0.1.0",
        "period_start": 0, "period_end": 900, "rx_bytes": 1, "tx_bytes": 2})
    client, fake, _ = client_with([answer(201, {"report_id": "a" * 32, "duplicate": False})])
    client.report(payload)
    assert fake.requests[0].body == payload


def test_a_report_not_in_the_builders_canonical_form_is_not_sent():
    payload = telemetry.build_report({
        "schema": 1, "report_id": "a" * 32, "seq": 3, "hardware_model": "Banana Pi BPI-R3",
        "os_name": "OpenWrt", "os_version": "23.05.3", "agent_version": "0.1.0",
        "period_start": 0, "period_end": 900, "rx_bytes": 1, "tx_bytes": 2})
    client, fake, _ = client_with([])
    with pytest.raises(telemetry.TelemetryError):
        client.report(payload.replace(b",", b", "))
    assert fake.requests == []


def test_the_client_repr_hides_the_device_token():
    client, _, _ = client_with([])
    assert TOKEN not in repr(client)
