"""vpnspot_router/lab/requirements.lock, which setup.sh installs with
`pip --require-hashes`: it must cover every dependency pyproject.toml
declares (runtime and the test extra) at a version the declaration allows,
pin each package once with its hashes, and the venv the tests run in must
hold exactly those versions. A dependency added to pyproject.toml without
`bash vpnspot_router/lab/update-lock.sh` fails here, not as an ImportError
on the next fresh machine."""

import os
import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = os.path.join(REPO, "vpnspot_router", "lab", "requirements.lock")


def locked():
    """{name: (version, [hashes])} from the lock's `NAME==VERSION \\` entries."""
    with open(LOCK) as f:
        text = f.read()
    out = {}
    for entry in re.split(r"\n(?=\S)", text):
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        if not m:
            assert entry.startswith("#") or not entry.strip(), "unexpected lock line: %r" % entry
            continue
        name = canonicalize_name(m.group(1))
        assert name not in out, "%s pinned twice" % name
        out[name] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
    return out


def declared():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_every_declared_dependency_is_locked_at_a_version_it_allows():
    pins = locked()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, "%s is in pyproject.toml but not in the lock" % req.name
        assert req.specifier.contains(pins[name][0], prereleases=True), \
            "the lock pins %s==%s, pyproject.toml asks for %s" % (req.name, pins[name][0], req)


def test_every_locked_package_has_hashes_and_the_lock_says_how_to_update_it():
    pins = locked()
    assert "setuptools" in pins, "the editable install's build backend must be locked too"
    for name, (version, hashes) in pins.items():
        assert hashes, "%s==%s has no hash" % (name, version)
    with open(LOCK) as f:
        assert "bash vpnspot_router/lab/update-lock.sh" in f.read(1000)


def test_the_venv_running_the_tests_holds_the_locked_versions():
    for name, (version, _) in locked().items():
        assert metadata.version(name) == version, \
            "%s %s installed, the lock says %s: run bash vpnspot_router/lab/setup.sh" % (
                name, metadata.version(name), version)
