"""Fixtures for the provider tests: the reference service on loopback HTTPS
and clients whose backoff sleeps are recorded instead of slept."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from vpnspot_router.lab.provider_service import ProviderService, server_entry
from vpnspot_router.provider.client import ProviderClient

EMAIL = "household@example.net"
CODE = "VPNS-7Q4K-M2XD"
GW_KEY = base64.b64encode(b"\x01" * 32).decode()
GW2_KEY = base64.b64encode(b"\x02" * 32).decode()


def keypair():
    """(private, public) as base64, like `wg genkey` / `wg pubkey`."""
    key = x25519.X25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode(), base64.b64encode(pub).decode()


class Sleeps(list):
    """A fake sleep: remembers each delay, returns at once."""

    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture(scope="module")
def lab_service(tmp_path_factory):
    servers = [
        server_entry("nl-ams-1", "203.0.113.10:51820", GW_KEY),
        server_entry("de-fra-1", "203.0.113.20:51820", GW2_KEY, country="DE", city="Frankfurt",
                     load=55, ipv6=False),
    ]
    with ProviderService(state_dir=str(tmp_path_factory.mktemp("provider")),
                         servers=servers) as service:
        yield service


@pytest.fixture
def service(lab_service):
    """The module's service with misbehaviour cleared and fresh account data."""
    lab_service.clear_misbehaviour()
    lab_service.set_tls("good")
    lab_service.add_account(EMAIL)
    lab_service.add_activation_code(CODE, EMAIL)
    del lab_service.received[:]
    del lab_service.response_errors[:]
    yield lab_service
    assert lab_service.response_errors == [], "the lab service broke its own spec"


@pytest.fixture
def make_client(service):
    def make(**kwargs):
        sleeps = Sleeps()
        options = dict(ca_file=service.ca_file, resolve=service.resolve, sleep=sleeps,
                       random=lambda: 0.5, timeout=2.0)
        options.update(kwargs)
        client = ProviderClient(service.url, **options)
        client.sleeps = sleeps
        return client
    return make


@pytest.fixture
def enrolled(service, make_client):
    """A client that has enrolled, with its code used up."""
    client = make_client()
    client.enroll(EMAIL, CODE)
    return client
