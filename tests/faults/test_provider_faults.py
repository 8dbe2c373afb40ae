"""The VPN Spot service misbehaving, seen from the router's commands.

The reference service (lab/provider_service.py) runs on loopback HTTPS and
is switched to each misbehaviour for every request (count=None); the
router's `vpnspot servers` and `vpnspot enroll` run through cli.main as a
household would run them. Each must end with exit status 1 and one
household sentence on stderr - never a traceback, never a saved file that
is half written. The client's timeout is shortened to 1 s and its backoff
sleeps recorded instead of slept (the retry rules themselves are proved in
tests/provider/); everything else is the shipped code path.

The tunnel-driven agent (`vpnspot agent --wg-config`) never calls the
service, so a service outage cannot touch the tunnel; the provider-driven
supervisor is not in agent.py yet and gets its own lab test when it lands.
Enrolling into a state directory that is read-only or full runs in a
private mount namespace (`unshare -m`) so no mount of the machine changes.
"""

import json
import os
import subprocess
import sys

import pytest

from vpnspot_router import cli
from vpnspot_router.lab.provider_service import ProviderService, server_entry
from vpnspot_router.provider import client as client_mod
from vpnspot_router.provider import commands

EMAIL = "household@example.net"
CODE = "VPNS-7Q4K-M2XD"
GW_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    servers = [server_entry("nl-ams-1", "203.0.113.10:51820", GW_KEY)]
    with ProviderService(state_dir=str(tmp_path_factory.mktemp("provider")), servers=servers) as svc:
        svc.add_account(EMAIL)
        yield svc


@pytest.fixture
def fast_client(monkeypatch):
    """The commands' client with a 1 s timeout and recorded backoff sleeps."""
    sleeps = []
    real = client_mod.ProviderClient

    def make(api_url, ca_file, resolve, device_token=None):
        return real(api_url, device_token=device_token, ca_file=ca_file, resolve=resolve,
                    timeout=1.0, sleep=sleeps.append)
    monkeypatch.setattr(commands, "_client", make)
    return sleeps


def enroll_argv(service, state, code=CODE):
    return ["enroll", "--email", EMAIL, "--code", code, "--api", service.url, "--ca", service.ca_file,
            "--resolve", "%s=%s" % (service.hostname, service.httpd.server_address[0]),
            "--state", str(state)]


@pytest.fixture
def enrolled(service, tmp_path, fast_client, capsys):
    service.clear_misbehaviour()
    code = "VPNS-%s" % os.urandom(4).hex().upper()[:4] + "-M2XD"
    service.add_activation_code(code, EMAIL)
    assert cli.main(enroll_argv(service, tmp_path, code)) == 0
    capsys.readouterr()
    yield tmp_path
    service.clear_misbehaviour()


SERVICE_FAULTS = [
    # (misbehaviour, parameters, what the household reads)
    ("error", {"status": 503}, client_mod.ServiceUnavailable.default),
    ("error", {"status": 500}, None),
    ("hang", {"seconds": 1.5}, client_mod.ServiceTimeout.default),
    ("drop", {}, None),
    ("lose_answer", {}, None),
    ("garbage", {}, "does not understand"),
    ("rate_limit", {"retry_after": 3600}, "busy"),
]


@pytest.mark.parametrize("kind,params,message", SERVICE_FAULTS, ids=[f[0] + str(f[1].get("status", ""))
                                                                   for f in SERVICE_FAULTS])
def test_servers_against_a_misbehaving_service_gives_the_household_error_and_nothing_crashes(
        service, enrolled, capsys, kind, params, message):
    service.misbehave(kind, count=None, **params)
    rc = cli.main(["servers", "--state", str(enrolled)])
    err = capsys.readouterr().err
    print("\n[service %s] exit %d: %s" % (kind, rc, err.strip()))
    assert rc == 1
    assert err.startswith("error: ") and "Traceback" not in err
    if message:
        assert message in err
    # The enrollment on flash is untouched by a failed call.
    assert commands.load_device(str(enrolled))["device_token"]


def test_a_slow_service_within_the_timeout_still_lists_the_servers(service, enrolled, capsys):
    service.misbehave("slow", count=None, seconds=0.5)
    assert cli.main(["servers", "--json", "--state", str(enrolled)]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == ["nl-ams-1"]


def test_a_service_that_is_down_means_no_network(service, enrolled, capsys, fast_client):
    record = commands.load_device(str(enrolled))
    record["api_url"] = "https://%s:1" % service.hostname     # nothing listens on port 1
    commands.save_device(str(enrolled), record)
    assert cli.main(["servers", "--state", str(enrolled)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: " + client_mod.NoNetwork.default
    assert len(fast_client) == 4, "connection refused is retried with backoff, then reported"


def run_enroll_in_private_mounts(service, state, script, code):
    """`vpnspot enroll` as a separate process in its own mount namespace."""
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-ec", script + '\nexec "$@"', "sh",
            sys.executable, "-m", "vpnspot_router"] + enroll_argv(service, state, code)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("fault,script", [
    ("read-only", "mount -t tmpfs -o size=64k,ro vpnspot-state {state}"),
    ("full", "mount -t tmpfs -o size=16k vpnspot-state {state}\n"
             "dd if=/dev/zero of={state}/fill bs=4k 2>/dev/null || true"),
], ids=["read-only", "full"])
def test_enrolling_into_a_state_dir_that_is_read_only_or_full_says_so_and_keeps_the_code_usable(
        service, tmp_path, fault, script):
    if os.geteuid() != 0:
        pytest.fail("needs root for a private mount namespace", pytrace=False)
    service.clear_misbehaviour()
    code = "VPNS-%s-F11L" % os.urandom(2).hex().upper()
    service.add_activation_code(code, EMAIL)
    state = tmp_path / "state"
    state.mkdir()
    proc = run_enroll_in_private_mounts(service, state, script.format(state=state), code)
    print("\n[state dir %s] exit %d: %s" % (fault, proc.returncode, proc.stderr.strip()[-400:]))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert str(state) in proc.stderr
    # Nothing was spent: the same code enrolls once the directory is usable.
    assert cli.main(enroll_argv(service, state, code)) == 0
