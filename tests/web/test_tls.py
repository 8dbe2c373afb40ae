"""web/tls.py: which certificate the web UI serves. A pair already at
STATE/web-key.pem + STATE/web-cert.pem is reused in every key form px5g
writes (the household accepted its fingerprint); a pair TLS cannot serve
with is replaced, atomically, key 0600."""

import datetime
import os
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from vpnspot_router.web import tls

NAMES = ["192.168.1.1", "vpnspot.lan"]


def px5g_pair(state, key_format, rsa_key=False):
    """A pair as px5g would leave it (CN only, no SAN), the key in the given
    PEM form."""
    key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vpnspot.lan")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption())
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, tls.KEY_FILE), "wb") as f:
        f.write(key_pem)
    with open(os.path.join(state, tls.CERT_FILE), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_pem


def read(state, name):
    with open(os.path.join(state, name), "rb") as f:
        return f.read()


@pytest.mark.parametrize("key_format,rsa_key,marker", [
    (serialization.PrivateFormat.TraditionalOpenSSL, False, b"EC PRIVATE KEY"),
    (serialization.PrivateFormat.TraditionalOpenSSL, True, b"RSA PRIVATE KEY"),
    (serialization.PrivateFormat.PKCS8, False, b"PRIVATE KEY"),
], ids=["px5g EC key (SEC1)", "px5g RSA key (PKCS#1)", "PKCS#8"])
def test_an_existing_pair_is_served_as_it_is_in_every_key_form_px5g_writes(
        tmp_path, monkeypatch, key_format, rsa_key, marker):
    state = str(tmp_path / "state")
    key_pem = px5g_pair(state, key_format, rsa_key)
    assert key_pem.startswith(b"-----BEGIN " + marker + b"-----")
    cert_pem = read(state, tls.CERT_FILE)

    def must_not_make(names, now=None):
        raise AssertionError("made a new certificate over a good pair")
    monkeypatch.setattr(tls, "make_self_signed", must_not_make)
    cert_path, key_path = tls.ensure_certificate(state, NAMES)
    assert (read(state, tls.KEY_FILE), read(state, tls.CERT_FILE)) == (key_pem, cert_pem)
    assert [n for n in os.listdir(state) if "corrupt" in n] == []
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path)


def test_a_pair_whose_key_does_not_match_is_replaced_by_one_that_serves(tmp_path):
    state = str(tmp_path / "state")
    px5g_pair(state, serialization.PrivateFormat.PKCS8)
    # A key of the right form, but not the certificate's (e.g. one file of
    # the pair restored from another router's backup).
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with open(os.path.join(state, tls.KEY_FILE), "wb") as f:
        f.write(other)
    cert_path, key_path = tls.ensure_certificate(state, NAMES)
    assert read(state, tls.KEY_FILE) != other
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path)
