"""The web UI's certificate on OpenWrt: uci-defaults makes it with px5g at
the paths the web UI reads (STATE/web-key.pem, STATE/web-cert.pem), and the
web UI then serves that pair without importing `cryptography`. Run on the
installed package tree (tests/firmware/test_package.py's `staging`), with a
stand-in for px5g that writes what px5g-mbedtls writes: a SEC1 EC key
("EC PRIVATE KEY", 0600) and a PEM certificate (0644)."""

import os
import stat
import subprocess
import sys

import pytest

from test_package import REPO, ipk, run_sh, staging  # noqa: F401 (fixtures)

DEFAULTS = '. "${IPKG_INSTROOT}/etc/uci-defaults/90-vpnspot"'

FAKE_PX5G = r'''#!%(python)s
"""Stand-in for OpenWrt's px5g (px5g-mbedtls): `selfsigned` with the
options uci-defaults passes; logs its arguments."""
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

args = sys.argv[1:]
with open(os.path.join(os.environ["VPNSPOT_FAKE_LOG"], "px5g.log"), "a") as log:
    log.write(" ".join(args) + "\n")
assert args[0] == "selfsigned", args
opts = dict(zip(args[1::2], args[2::2]))
assert opts["-newkey"] == "ec" and opts["-pkeyopt"] == "ec_paramgen_curve:P-256", opts
key = ec.generate_private_key(ec.SECP256R1())
cn = opts["-subj"].split("CN=", 1)[1]
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=int(opts["-days"])))
        .sign(key, hashes.SHA256()))
for path, data, mode in (
        (opts["-keyout"], key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()), 0o600),
        (opts["-out"], cert.public_bytes(serialization.Encoding.PEM), 0o644)):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)
'''

# What the web process does at its start, in a fresh interpreter: prints
# whether it had to import cryptography for its certificate.
WEB_START = r'''
import sys
from vpnspot_router.web import tls
print(tls.ensure_certificate(sys.argv[1], ["192.168.1.1", "vpnspot.lan"]))
print("cryptography" in sys.modules)
'''


@pytest.fixture
def px5g(tmp_path):
    bindir = tmp_path / "px5g-bin"
    bindir.mkdir()
    script = bindir / "px5g"
    script.write_text(FAKE_PX5G % {"python": sys.executable})
    script.chmod(0o755)
    return str(bindir)


def defaults(root, tmp_path, px5g_dir=None):
    """Run uci-defaults; the px5g calls it made (None: no px5g on PATH)."""
    env = None
    if px5g_dir:
        from test_package import FAKES
        env = {"PATH": px5g_dir + os.pathsep + FAKES + os.pathsep + os.environ["PATH"]}
    run_sh(root, DEFAULTS, tmp_path, env)
    log = tmp_path / "log" / "px5g.log"
    calls = log.read_text().splitlines() if log.exists() else []
    if log.exists():
        log.unlink()
    return calls


def web_start(state_dir):
    proc = subprocess.run([sys.executable, "-c", WEB_START, str(state_dir)], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr
    paths, imported = proc.stdout.splitlines()
    return paths, imported == "True"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_uci_defaults_makes_the_certificate_the_web_ui_serves_without_cryptography(
        staging, tmp_path, px5g):
    state = staging / "etc/vpnspot"
    calls = defaults(staging, tmp_path, px5g)
    assert len(calls) == 1 and calls[0].startswith("selfsigned -days 3650 -newkey ec")
    key, crt = state / "web-key.pem", state / "web-cert.pem"
    assert b"-----BEGIN EC PRIVATE KEY-----" in key.read_bytes()
    assert b"-----BEGIN CERTIFICATE-----" in crt.read_bytes()
    assert mode(key) == 0o600
    made = (key.read_bytes(), crt.read_bytes())
    # No second, dead pair and no leftovers of the atomic write.
    assert sorted(p.name for p in state.iterdir() if p.is_file() and "web" in p.name) == \
        ["web-cert.pem", "web-key.pem"]

    paths, imported = web_start(state)
    assert paths == str((str(crt), str(key)))
    assert not imported, "the web UI imported cryptography although px5g made its certificate"
    assert (key.read_bytes(), crt.read_bytes()) == made
    assert mode(key) == 0o600

    # A second run keeps the pair (the fingerprint the household accepted).
    assert defaults(staging, tmp_path, px5g) == []
    assert (key.read_bytes(), crt.read_bytes()) == made


def test_an_earlier_packages_px5g_pair_is_taken_over_once_and_its_names_removed(
        staging, tmp_path, px5g):
    state = staging / "etc/vpnspot"
    state.mkdir(exist_ok=True)
    defaults(staging, tmp_path, px5g)           # a real px5g pair, then renamed the old way
    os.rename(state / "web-key.pem", state / "web.key")
    os.rename(state / "web-cert.pem", state / "web.crt")
    os.chmod(state / "web.key", 0o644)
    old = ((state / "web.key").read_bytes(), (state / "web.crt").read_bytes())

    assert defaults(staging, tmp_path, px5g) == []
    assert ((state / "web-key.pem").read_bytes(), (state / "web-cert.pem").read_bytes()) == old
    assert not (state / "web.key").exists() and not (state / "web.crt").exists()
    assert mode(state / "web-key.pem") == 0o600
    _, imported = web_start(state)
    assert not imported


def test_a_pair_in_use_is_kept_and_an_earlier_packages_dead_pair_removed(staging, tmp_path, px5g):
    state = staging / "etc/vpnspot"
    paths, imported = web_start(state)          # the web UI made its own (no px5g then)
    assert imported
    in_use = ((state / "web-key.pem").read_bytes(), (state / "web-cert.pem").read_bytes())
    (state / "web.key").write_bytes(b"-----BEGIN EC PRIVATE KEY-----\nold\n")
    (state / "web.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nold\n")

    assert defaults(staging, tmp_path, px5g) == []
    assert ((state / "web-key.pem").read_bytes(), (state / "web-cert.pem").read_bytes()) == in_use
    assert not (state / "web.key").exists() and not (state / "web.crt").exists()


def test_without_px5g_the_web_ui_makes_its_own_pair_at_the_same_paths(staging, tmp_path):
    state = staging / "etc/vpnspot"
    assert defaults(staging, tmp_path) == []
    assert not (state / "web-key.pem").exists() and not (state / "web-cert.pem").exists()
    paths, imported = web_start(state)
    assert imported
    assert paths == str((str(state / "web-cert.pem"), str(state / "web-key.pem")))
    assert b"-----BEGIN PRIVATE KEY-----" in (state / "web-key.pem").read_bytes()
    assert mode(state / "web-key.pem") == 0o600
