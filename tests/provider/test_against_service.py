"""provider/client.py against the reference service over loopback HTTPS."""

import json
import logging
import os
import socket

import pytest

from vpnspot_router.core import telemetry
from vpnspot_router.lab.netns import wait_for
from vpnspot_router.provider import client as c
from vpnspot_router.provider import transport as t

from .conftest import CODE, EMAIL, GW_KEY, keypair

IDENTITY = {"hardware_model": "GL.iNet GL-MT3000", "os_name": "OpenWrt",
            "os_version": "23.05.3", "agent_version": "0.1.0"}


def report_bytes(**changes):
    """A report as the agent makes them: by core/telemetry.py."""
    fields = {"schema": 1, "report_id": "0123456789abcdef0123456789abcdef", "seq": 1,
              "period_start": 1700000000, "period_end": 1700000900,
              "rx_bytes": 123456789, "tx_bytes": 9876543}
    fields.update(IDENTITY)
    fields.update(changes)
    return telemetry.build_report(fields)


# -- the five calls -----------------------------------------------------------


def test_a_router_enrolls_with_email_and_activation_code(service, make_client):
    client = make_client()
    enrollment = client.enroll(EMAIL, CODE)
    assert enrollment.device_id.startswith("dev_")
    assert client.device_token == enrollment.device_token
    assert "redacted" in repr(enrollment) and enrollment.device_token not in repr(enrollment)


def test_the_server_list_carries_everything_needed_to_connect(enrolled):
    servers = enrolled.servers()
    assert [s.id for s in servers] == ["nl-ams-1", "de-fra-1"]
    nl = servers[0]
    assert (nl.region, nl.country, nl.city) == ("europe", "NL", "Amsterdam")
    assert nl.endpoint == "203.0.113.10:51820" and nl.public_key == GW_KEY
    assert nl.load == 20 and nl.ipv6 is True and nl.dns == ["10.77.0.1"]
    assert servers[1].ipv6 is False


def test_registering_the_public_key_returns_tunnel_addresses(enrolled):
    _, public = keypair()
    addresses = enrolled.register_key(public)
    assert addresses.public_key == public
    assert addresses.ipv4.startswith("10.77.0.") and addresses.ipv4.endswith("/32")
    assert addresses.ipv6.startswith("fd77:77::")
    # Registering the same key again is harmless and gives the same answer.
    assert enrolled.register_key(public) == addresses


def test_a_report_counts_once_however_often_it_is_sent(service, enrolled):
    first = enrolled.report(report_bytes())
    again = enrolled.report(report_bytes())
    assert (first.duplicate, again.duplicate) == (False, True)
    device = service.tokens[enrolled.device_token]
    assert service.totals(device) == (123456789, 9876543)


def test_a_report_id_reused_for_other_totals_is_refused(enrolled):
    enrolled.report(report_bytes(report_id="c" * 32))
    with pytest.raises(c.RequestRejected) as info:
        enrolled.report(report_bytes(report_id="c" * 32, rx_bytes=1))
    assert info.value.code == "report_conflict"


def test_account_status_shows_active_plan_and_expiry(service, enrolled):
    service.accounts[EMAIL]["expires_at"] = 4102444800  # 2100-01-01
    account = enrolled.account()
    assert account == c.Account(True, "active", "family", "2100-01-01T00:00:00Z")


# -- household-facing errors --------------------------------------------------


def test_an_expired_activation_code_says_so(service, make_client):
    service.add_activation_code("VPNS-OLD1-CODE", EMAIL, valid_for=-1)
    client = make_client()
    with pytest.raises(c.ActivationCodeExpired) as info:
        client.enroll(EMAIL, "VPNS-OLD1-CODE")
    assert str(info.value).startswith("activation code expired")
    assert client.sleeps == []  # a refused code is not retried


def test_a_mistyped_activation_code_is_not_recognised(make_client):
    with pytest.raises(c.ActivationCodeInvalid) as info:
        make_client().enroll(EMAIL, "VPNS-7Q4K-M2XE")
    assert "activation code not recognised" in str(info.value)


def test_a_code_enrolls_only_one_router(make_client):
    make_client().enroll(EMAIL, CODE)
    with pytest.raises(c.ActivationCodeUsed):
        make_client().enroll(EMAIL, CODE)


def test_a_suspended_account_cannot_enroll_or_fetch_servers(service, make_client, enrolled):
    service.add_activation_code("VPNS-SUSP-0001", EMAIL)
    service.set_account_status(EMAIL, "suspended")
    with pytest.raises(c.AccountSuspended) as info:
        enrolled.servers()
    assert str(info.value) == "account suspended: contact VPN Spot support to restore it"
    with pytest.raises(c.AccountSuspended):
        make_client().enroll(EMAIL, "VPNS-SUSP-0001")
    assert enrolled.account().status == "suspended"


def test_an_unknown_device_token_means_enroll_again(make_client):
    client = make_client(device_token="x" * 43)
    with pytest.raises(c.NotEnrolled) as info:
        client.servers()
    assert "enroll it again" in str(info.value)


def test_a_client_without_a_token_does_not_call_at_all(service, make_client):
    with pytest.raises(c.NotEnrolled):
        make_client().servers()
    assert service.received == []


# -- misbehaviour, retries and backoff ------------------------------------------


def test_http_503_is_retried_with_growing_jittered_delays_until_it_works(service, enrolled):
    service.misbehave("error", count=3, status=503)
    assert len(enrolled.servers()) == 2
    # random() is 0.5: half of 0.5, 1, 2 seconds.
    assert enrolled.sleeps == [0.25, 0.5, 1.0]


def test_a_service_that_keeps_failing_is_reported_as_unavailable(service, enrolled):
    before = len(service.received)
    service.misbehave("error", count=None, status=500)
    with pytest.raises(c.ServiceUnavailable) as info:
        enrolled.account()
    assert "temporarily unavailable" in str(info.value)
    assert enrolled.sleeps == [0.25, 0.5, 1.0, 2.0]
    assert len(service.received) - before == 5


def test_a_service_that_does_not_answer_times_out_and_is_retried(service, make_client):
    client = make_client(timeout=0.2, retries=1)
    client.enroll(EMAIL, CODE)
    service.misbehave("hang", count=2, seconds=1.0)
    with pytest.raises(c.ServiceTimeout) as info:
        client.servers()
    assert str(info.value).startswith("no answer")
    assert isinstance(info.value, c.NoNetwork)
    assert client.sleeps == [0.25]


def test_a_slow_answer_within_the_timeout_is_accepted(service, enrolled):
    service.misbehave("slow", seconds=0.3)
    assert enrolled.account().active
    assert enrolled.sleeps == []


def test_a_dropped_connection_is_retried(service, enrolled):
    service.misbehave("drop", count=1)
    assert enrolled.account().active
    assert enrolled.sleeps == [0.25]


def test_rate_limiting_waits_at_least_as_long_as_the_service_asks(service, enrolled):
    service.misbehave("rate_limit", count=2, retry_after=3)
    assert enrolled.account().active
    assert enrolled.sleeps == [3.25, 3.5]


def test_a_retry_after_beyond_the_cap_is_reported_not_waited(service, make_client, enrolled):
    service.misbehave("rate_limit", count=1, retry_after=600)
    with pytest.raises(c.RateLimited) as info:
        enrolled.account()
    assert info.value.retry_after == 600 and "wait 600 seconds" in str(info.value)
    assert enrolled.sleeps == []


def test_a_lost_enrollment_answer_is_retried_without_using_up_the_code(service, make_client):
    # The service enrolls the router but the answer never arrives; the retry
    # carries the same Idempotency-Key and gets the same device back instead
    # of "activation code already used".
    service.misbehave("lose_answer", count=1)
    client = make_client()
    enrollment = client.enroll(EMAIL, CODE)
    assert client.sleeps == [0.25]
    keys = [r.headers["idempotency-key"] for r in service.received]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len([d for d in service.devices.values() if d["token"] == enrollment.device_token]) == 1


def test_nothing_listening_means_no_network(make_client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(retries=2)
    client.api_url = "https://api.vpnspot.test:%d" % port
    with pytest.raises(c.NoNetwork) as info:
        client.enroll(EMAIL, CODE)
    assert str(info.value) == "no network: the router cannot reach the VPN Spot service"
    assert client.sleeps == [0.25, 0.5]


# -- TLS -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["wrong_host", "untrusted", "expired"])
def test_a_wrong_certificate_is_refused_and_not_retried(service, make_client, mode):
    service.set_tls(mode)
    rejected = service.tls_rejections
    client = make_client()
    with pytest.raises(c.CertificateError) as info:
        client.enroll(EMAIL, CODE)
    assert "certificate is not trusted" in str(info.value)
    assert client.sleeps == []
    assert service.received == []  # not one byte of the request was sent
    # The service's side of the handshake ends in its own thread.
    wait_for(lambda: service.tls_rejections == rejected + 1, timeout=5,
             what="the service to see the refused handshake")


def test_the_system_ca_bundle_does_not_trust_the_lab_ca(service, make_client):
    client = make_client(ca_file=None)
    with pytest.raises(c.CertificateError):
        client.enroll(EMAIL, CODE)


def test_the_client_context_always_verifies(service):
    ctx = t.HttpsTransport(ca_file=service.ca_file).context
    import ssl
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_plain_http_urls_are_refused():
    with pytest.raises(ValueError):
        c.ProviderClient("http://api.vpnspot.test")


# -- what reaches the service ---------------------------------------------------


def test_the_service_rejects_a_request_with_an_extra_field(service):
    transport = t.HttpsTransport(ca_file=service.ca_file, resolve=service.resolve)
    body = json.dumps({"email": EMAIL, "activation_code": CODE,
                       "lan_clients": ["192.168.77.10"]}).encode()
    resp = transport.handle(t.Request("POST", service.url + "/v1/enrollments",
                                      {"Content-Type": "application/json"}, body, 2.0))
    assert resp.status == 400
    error = json.loads(resp.body)["error"]
    assert error["code"] == "invalid_request"
    assert "unknown field 'lan_clients'" in error["message"]


def test_the_client_refuses_to_send_a_report_with_an_extra_field(service, enrolled):
    payload = json.loads(report_bytes())
    payload["client_macs"] = ["02:00:00:00:00:01"]
    before = len(service.received)
    with pytest.raises(ValueError) as info:
        enrolled.report(json.dumps(payload, separators=(",", ":")).encode())
    assert "02:00" not in str(info.value)
    assert len(service.received) == before


def test_the_service_rejects_a_report_with_an_extra_field(service, enrolled):
    # What a client without the router's checks would get: the API itself
    # has no place for anything but the whitelist.
    payload = json.loads(report_bytes())
    payload["lan_hosts"] = 3
    status, answer = _raw(service, "POST", "/v1/reports", json.dumps(payload).encode(),
                          enrolled.device_token)
    assert (status, answer["error"]["code"]) == (400, "invalid_request")
    assert "unknown field 'lan_hosts'" in answer["error"]["message"]


def _raw(service, method, path, body, token=None):
    transport = t.HttpsTransport(ca_file=service.ca_file, resolve=service.resolve)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    resp = transport.handle(t.Request(method, service.url + path, headers, body, 2.0))
    return resp.status, json.loads(resp.body)


def test_the_private_key_never_reaches_the_service(service, enrolled):
    private, public = keypair()
    enrolled.register_key(public)
    enrolled.servers()
    enrolled.report(report_bytes(report_id="d" * 32))
    raw = b"".join(r.body for r in service.received)
    raw += json.dumps([r.headers for r in service.received]).encode()
    with open(os.path.join(service.state_dir, "requests.jsonl"), "rb") as f:
        raw += f.read()
    assert public.encode() in raw
    assert private.encode() not in raw
    assert private.encode().hex().encode() not in raw


def test_only_the_documented_headers_are_sent(service, enrolled):
    enrolled.register_key(keypair()[1])
    names = set()
    for r in service.received:
        names.update(r.headers)
    assert names <= {"host", "accept", "accept-encoding", "user-agent", "content-type",
                     "content-length", "authorization", "idempotency-key"}


def test_the_activation_code_and_token_never_appear_in_logs(service, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="vpnspot")
    service.misbehave("error", count=1)
    client = make_client()
    client.enroll(EMAIL, CODE)
    client.servers()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "enroll" in text  # the calls are logged...
    for secret in (CODE, EMAIL, client.device_token):
        assert secret not in text  # ...without what they carried
