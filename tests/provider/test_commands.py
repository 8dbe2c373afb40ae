"""`vpnspot enroll` and `vpnspot servers` against the reference service."""

import json
import os
import stat

from vpnspot_router import cli

from .conftest import CODE, EMAIL


def enroll(service, state, *extra, code=CODE):
    return cli.main(["enroll", "--email", EMAIL, "--code", code, "--api", service.url,
                     "--ca", service.ca_file, "--resolve",
                     "%s=%s" % (service.hostname, service.httpd.server_address[0]),
                     "--state", str(state), *extra])


def test_enroll_saves_the_device_token_privately_and_atomically(service, tmp_path, capsys):
    state = tmp_path / "state"
    assert enroll(service, state) == 0
    out = capsys.readouterr().out
    assert out.startswith("enrolled: this router is dev_")
    path = state / "device.json"
    record = json.loads(path.read_text())
    assert record["device_token"] in service.tokens
    assert record["api_url"] == service.url
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    # No temp files left behind, and the activation code is stored nowhere.
    names = os.listdir(state)
    assert not [n for n in names if ".tmp-" in n]
    for name in names:
        assert CODE not in (state / name).read_text(errors="replace")
    assert CODE not in out


def test_servers_lists_what_the_service_offers(service, tmp_path, capsys):
    enroll(service, tmp_path)
    capsys.readouterr()
    assert cli.main(["servers", "--state", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["ID", "REGION", "CC"]
    assert table[1].split()[0] == "nl-ams-1" and "203.0.113.10:51820" in table[1]
    assert cli.main(["servers", "--json", "--state", str(tmp_path)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in listed] == ["nl-ams-1", "de-fra-1"]


def test_servers_names_each_entry_the_agent_would_refuse_and_why(service, tmp_path, capsys):
    from vpnspot_router.lab.provider_service import server_entry
    from .conftest import GW_KEY
    enroll(service, tmp_path)
    capsys.readouterr()
    service.servers.append(server_entry("loopback", "127.0.0.1:51820", GW_KEY))
    service.servers.append(server_entry("zero-dns", "203.0.113.30:51820", GW_KEY, dns=["0.0.0.0"]))
    try:
        assert cli.main(["servers", "--state", str(tmp_path)]) == 0
    finally:
        del service.servers[2:]
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        "refused: server loopback: endpoint: '127.0.0.1:51820': 127.0.0.1 is a loopback address "
        "(the agent will not use it)",
        "refused: server zero-dns: dns: 0.0.0.0 is the unspecified address (the agent will not "
        "use it)"]
    assert len(lines) == 1 + 4 + 2


def test_an_expired_code_is_explained_and_nothing_is_saved(service, tmp_path, capsys):
    service.add_activation_code("VPNS-EXPD-0001", EMAIL, valid_for=-5)
    assert enroll(service, tmp_path, code="VPNS-EXPD-0001") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: activation code expired")
    assert "VPNS-EXPD-0001" not in err
    assert not (tmp_path / "device.json").exists()


def test_the_code_can_come_from_stdin(service, tmp_path, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(CODE + "\n"))
    assert enroll(service, tmp_path, code="-") == 0


def test_servers_before_enrolling_says_what_to_do(tmp_path, capsys):
    assert cli.main(["servers", "--state", str(tmp_path)]) == 1
    assert "not enrolled yet" in capsys.readouterr().err


def test_a_malformed_code_is_refused_without_echoing_it(service, tmp_path, capsys):
    assert enroll(service, tmp_path, code="not a code!") == 2
    err = capsys.readouterr().err
    assert "not a code" not in err and "expected form" in err
    assert service.received == []
