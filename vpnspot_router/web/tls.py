"""The web UI's self-signed certificate, made once on first start.

No public CA can issue a certificate for a router's LAN address, so the
router makes its own (EC P-256, 10 years, for its LAN names and
addresses) and the browser asks the household to accept it once. The key
and certificate are written through store.FileStore (atomic, 0600), so a
power cut during first start leaves either no certificate (made again at
the next start) or a whole one. An existing pair is reused, so the
fingerprint the household accepted stays the same.
"""

import datetime
import ipaddress
import os

from vpnspot_router.store import FileStore

CERT_FILE = "web-cert.pem"
KEY_FILE = "web-key.pem"


def _san(names):
    from cryptography import x509
    out = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n.strip("[]"))))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def make_self_signed(names, now=None):
    """(cert_pem, key_pem) for the given LAN names/addresses."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "VPN Spot router")])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _is_pem(kind):
    def check(data):
        if b"-----BEGIN " + kind not in data:
            raise ValueError("not a PEM %s" % kind.decode())
    return check


def ensure_certificate(state_dir, names):
    """(cert_path, key_path), made on first start, reused afterwards."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    cert_path = os.path.join(state_dir, CERT_FILE)
    key_path = os.path.join(state_dir, KEY_FILE)
    cert_store = FileStore(cert_path, keep_last_good=False)
    key_store = FileStore(key_path, keep_last_good=False)
    have_cert = cert_store.read(_is_pem(b"CERTIFICATE")).data
    have_key = key_store.read(_is_pem(b"PRIVATE KEY")).data
    if have_cert and have_key:
        return cert_path, key_path
    cert_pem, key_pem = make_self_signed(names)
    old = os.umask(0o077)
    try:
        # Key first: a certificate on flash without its key would be reused
        # by nothing, while a key without a certificate is simply replaced.
        key_store.write(key_pem)
        cert_store.write(cert_pem)
    finally:
        os.umask(old)
    return cert_path, key_path
