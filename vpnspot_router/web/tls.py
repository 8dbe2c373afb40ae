"""The web UI's self-signed certificate: px5g's on OpenWrt, else made once.

No public CA can issue a certificate for a router's LAN address, so the
router makes its own (EC P-256, 10 years) and the browser asks the
household to accept it once. On OpenWrt the package's uci-defaults script
makes it with px5g (the tool uhttpd uses) at first boot, at the same two
paths (STATE/web-key.pem, STATE/web-cert.pem): the web UI then only reads
them, and never imports `cryptography` for its certificate. Where there is
no such pair (no px5g, a development machine, a pair that does not load)
the web UI makes one itself with `cryptography`, for its LAN names and
addresses, written through store.FileStore (atomic, key first, 0600), so a
power cut during first start leaves either no certificate (made again at
the next start) or a whole one. An existing pair is reused, so the
fingerprint the household accepted stays the same.
"""

import datetime
import ipaddress
import os
import ssl

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


def _is_pem(*kinds):
    def check(data):
        if not any(b"-----BEGIN " + kind + b"-----" in data for kind in kinds):
            raise ValueError("not a PEM %s" % kinds[0].decode())
    return check


# What the web UI accepts as its key: its own (PKCS#8) and px5g's (SEC1 for
# an EC key, PKCS#1 for an RSA one).
_KEY_PEMS = (b"PRIVATE KEY", b"EC PRIVATE KEY", b"RSA PRIVATE KEY")


def _pair_loads(cert_path, key_path):
    """True when TLS can serve with this pair (the key matches the
    certificate): what the server will do with it, without cryptography."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, OSError, ValueError):
        return False
    return True


def ensure_certificate(state_dir, names):
    """(cert_path, key_path), made on first start, reused afterwards."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    cert_path = os.path.join(state_dir, CERT_FILE)
    key_path = os.path.join(state_dir, KEY_FILE)
    cert_store = FileStore(cert_path, keep_last_good=False)
    key_store = FileStore(key_path, keep_last_good=False)
    have_cert = cert_store.read(_is_pem(b"CERTIFICATE")).data
    have_key = key_store.read(_is_pem(*_KEY_PEMS)).data
    if have_cert and have_key and _pair_loads(cert_path, key_path):
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
