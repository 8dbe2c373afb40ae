"""Shared fixtures: the namespace lab and the checks that guard it.

Interop tests (marker `interop`, and everything under tests/interop/) need
root, /dev/net/tun and the tools in vpnspot_router.lab.netns.REQUIRED_TOOLS.
When any is missing they FAIL with the reason: a machine that cannot run
them must not report a green suite. `bash vpnspot_router/lab/setup.sh`
installs the tools.

Lab addresses, the only ones network tests may use: LAN 192.168.77.0/24,
WAN 198.51.100.0/24 and 203.0.113.0/24, tunnel 10.77.0.0/24, IPv6 fd77::/16,
plus loopback. No lab namespace gets a default route.
"""

import os
import pathlib

import pytest

from vpnspot_router.lab import netns

INTEROP_DIR = pathlib.Path(__file__).parent / "interop"


def _lab_unavailable_reason():
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root")
    missing = netns.missing_tools()
    if missing:
        problems.append("missing tools: " + ", ".join(missing))
    if not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun does not exist")
    if not problems:
        return None
    return ("interop test cannot run: " + "; ".join(problems)
            + ". Run `bash vpnspot_router/lab/setup.sh` as root.")


def pytest_sessionstart(session):
    # Namespaces from runs that crashed would otherwise pile up across runs;
    # only those whose creating process is dead are removed.
    if os.geteuid() == 0 and not netns.missing_tools(("ip",)):
        removed = netns.sweep_stale()
        if removed:
            print(f"\nremoved stale lab namespaces: {' '.join(removed)}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if INTEROP_DIR in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.interop)


def pytest_runtest_setup(item):
    if item.get_closest_marker("interop") is not None:
        reason = _lab_unavailable_reason()
        if reason:
            pytest.fail(reason, pytrace=False)


@pytest.fixture
def lab():
    """A fresh namespace lab, torn down after the test whatever its outcome."""
    with netns.Lab() as the_lab:
        yield the_lab
