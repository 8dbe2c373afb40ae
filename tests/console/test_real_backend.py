"""`vpnspot console` over the real backend and real files (stdin/stdout,
as on a UART login): config changes are checked, ISP-locked, and saved in
one atomic write; factory-reset erases; nothing pretends the supervisor runs."""

import json
import os
import subprocess
import sys

PROVISIONING = "config provider 'provider'\n\toption name 'Example ISP'\n\tlist lock 'kill_switch'\n"


def _console(tmp_path, script):
    (tmp_path / "prov").write_text(PROVISIONING)
    argv = [sys.executable, "-m", "vpnspot_router", "console", "--json",
            "--config", str(tmp_path / "vpnspot"), "--provisioning", str(tmp_path / "prov"),
            "--run-dir", str(tmp_path / "run"), "--state", str(tmp_path / "state")]
    proc = subprocess.run(argv, input=script.encode(), capture_output=True, timeout=30)
    out = [json.loads(l) for l in proc.stdout.decode().replace("vpnspot> ", "").split("\r\n")
           if l.startswith("{")]
    return proc, dict((o["id"], o) for o in out)


def test_config_changes_are_checked_locked_and_committed_atomically(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "device.json").write_text("{}")
    proc, r = _console(tmp_path, "@a config set kill_switch 0\r@b config set mtu 1400\r"
                       "@c config set dns_mode custom\r@d config revert\r@e config set mtu 1400\r"
                       "@f config diff\r@g config commit\r@h connect\r@i status\r"
                       "@j factory-reset\r@k yes\r@l exit\r")
    assert proc.returncode == 0, proc.stderr
    assert r["a"]["status"] == "error" and "locked by your provider Example ISP" in r["a"]["data"]["error"]
    assert r["b"]["status"] == "ok"
    # dns_mode custom without servers is staged, saying what is still
    # missing (dns_servers); a commit would refuse it.
    assert r["c"]["status"] == "ok" and "dns_servers" in r["c"]["data"]["pending"]
    assert r["d"]["data"] == {"dropped": 2}
    assert r["f"]["data"]["changes"] == [["mtu", "auto", "1400"]]
    assert r["g"]["status"] == "ok" and "agent supervisor is not running" in r["g"]["data"]["note"]
    assert r["h"]["status"] == "unavailable"
    assert r["h"]["data"]["error"].startswith("not available: the agent supervisor is not running")
    assert r["i"]["data"]["state"] == "not running"
    assert r["j"]["status"] == "confirm"
    # The household's file is the shipped one again (restored, not left missing).
    assert str(tmp_path / "vpnspot") in r["k"]["data"]["restored"]
    assert "option mtu" not in (tmp_path / "vpnspot").read_text()
    assert not (tmp_path / "state" / "device.json").exists()
    assert r["l"]["status"] == "bye"


def test_a_committed_change_is_in_the_file_and_a_bad_one_never_is(tmp_path):
    proc, r = _console(tmp_path, "@a config set mtu 1400\r@b config commit\r"
                       "@c config set mtu 99999\r@d config commit\r")
    assert r["b"]["status"] == "ok" and r["c"]["status"] == "error"
    assert r["d"]["data"]["note"] == "nothing staged"
    text = (tmp_path / "vpnspot").read_text()
    assert "option mtu '1400'" in text and "99999" not in text
    assert [p for p in os.listdir(tmp_path) if ".tmp-" in p] == []


def test_the_status_names_the_household_s_own_server_and_why_it_cannot_be_used(tmp_path):
    from vpnspot_router import configstore
    from vpnspot_router.console import render
    from vpnspot_router.console.backend import RealBackend
    run = tmp_path / "run"
    run.mkdir()
    backend = RealBackend(paths=configstore.Paths(str(tmp_path / "vpnspot"), ()), run_dir=str(run),
                          state_dir=str(tmp_path / "state"))

    def agent(supervisor):
        (run / "agent.json").write_text(json.dumps({"pid": os.getpid(), "state": "running",
                                                    "mode": "service", "supervisor": supervisor}))
    agent({"state": "connected", "server": "own", "server_source": "own",
           "own_endpoint": "203.0.113.10:51820", "own_problem": None})
    lines = render.status(backend.status())
    assert "server:       your own server (203.0.113.10:51820)" in lines
    agent({"state": "needs_attention", "server": None, "server_source": "own",
           "own_endpoint": None, "own_problem": "/etc/vpnspot/wg-household.conf: no WireGuard "
                                                "configuration has been imported"})
    st = backend.status()
    assert st["server"] == "your own server (not connected)"
    assert "your own server cannot be used: /etc/vpnspot/wg-household.conf: no WireGuard " \
           "configuration has been imported" in st["notes"]


def test_committing_server_source_switches_the_running_agent_at_once(tmp_path):
    import threading
    from vpnspot_router import configstore, driver
    from vpnspot_router.console.backend import RealBackend
    run = tmp_path / "run"
    run.mkdir()
    backend = RealBackend(paths=configstore.Paths(str(tmp_path / "vpnspot"), ()), run_dir=str(run),
                          state_dir=str(tmp_path / "state"))
    backend.config_set("server_source", "own")
    result = backend.config_commit()          # no agent: saved, and says so
    assert result["changes"] == [["server_source", "vpnspot", "own"]]
    assert "did not switch now" in result["note"] and "reads the file when it starts" in result["note"]
    control = driver.ControlServer(str(run))
    asked = []

    def answer():
        request, slot, done = control.requests.get()
        asked.append(request)
        slot["answer"] = {"ok": True, "source": request["source"], "state": "fetching",
                          "problem": None}
        done.set()
    threading.Thread(target=answer, daemon=True).start()
    try:
        backend.config_set("server_source", "vpnspot")
        result = backend.config_commit()
    finally:
        control.close()
    assert asked == [{"cmd": "server_source", "source": "vpnspot"}]
    assert result["note"] == "the agent switched to VPN Spot servers now"
    assert "option server_source 'vpnspot'" in (tmp_path / "vpnspot").read_text()


def _fake_agent(run):
    """The agent's control socket (driver.ControlServer) with a stand-in main
    loop that answers every request as the driver does and records it."""
    import threading
    from vpnspot_router import driver
    control = driver.ControlServer(str(run))
    asked = []

    def loop():
        while True:
            request, slot, done = control.requests.get()
            if request is None:
                return
            asked.append(request)
            if request.get("cmd") == "kill_switch":
                slot["answer"] = {"ok": True, "kill_switch": request["on"]}
            elif request.get("cmd") == "reload":
                # As driver.ServiceAgent.reload_settings answers an MTU change.
                slot["answer"] = {"ok": True, "changed": ["mtu"], "live": [],
                                  "reconnect": ["mtu"], "restart": [], "guard": None}
            else:
                slot["answer"] = {"ok": False, "error": "unexpected request"}
            done.set()
    threading.Thread(target=loop, daemon=True).start()

    def close():
        control.close()
        control.requests.put((None, None, None))
    return asked, close


def _backend(tmp_path, provisioning=None):
    from vpnspot_router import configstore
    from vpnspot_router.console.backend import RealBackend
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    prov = tmp_path / "prov"
    if provisioning is not None:
        prov.write_text(provisioning)
    return RealBackend(paths=configstore.Paths(str(tmp_path / "vpnspot"), (str(prov),)),
                       run_dir=str(run), state_dir=str(tmp_path / "state")), run


def test_committing_kill_switch_tells_the_running_agent_at_once(tmp_path):
    backend, run = _backend(tmp_path)
    asked, close = _fake_agent(run)
    try:
        backend.config_set("kill_switch", "0")
        off = backend.config_commit()
        backend.config_set("kill_switch", "1")
        backend.config_set("mtu", "1400")
        on = backend.config_commit()
    finally:
        close()
    assert asked == [{"cmd": "kill_switch", "on": False}, {"cmd": "kill_switch", "on": True},
                     {"cmd": "reload"}]
    assert off["changes"] == [["kill_switch", "1", "0"]]
    assert off["note"] == "the agent turned the kill switch off now"
    # The other change reaches the running agent too ("reload"), and the
    # note says what its answer says.
    assert on["note"] == "the agent turned the kill switch on now; applied now: mtu"
    assert "option kill_switch '1'" in (tmp_path / "vpnspot").read_text()


def test_committing_kill_switch_without_an_agent_saves_it_for_the_next_start(tmp_path):
    backend, run = _backend(tmp_path)
    backend.config_set("kill_switch", "0")
    result = backend.config_commit()
    assert result["changes"] == [["kill_switch", "1", "0"]]
    assert result["note"] == ("the kill switch was not changed now (not available: the agent "
                              "supervisor is not running); it is off from the agent's next start")
    assert "option kill_switch '0'" in (tmp_path / "vpnspot").read_text()


def test_nothing_is_sent_when_kill_switch_is_unchanged_locked_or_the_commit_refused(tmp_path):
    from vpnspot_router.console.backend import ConsoleError
    backend, run = _backend(tmp_path)
    asked, close = _fake_agent(run)
    try:
        # Unchanged: 1 is already the value.
        backend.config_set("kill_switch", "1")
        assert backend.config_commit()["changes"] == []
        # Another field only.
        backend.config_set("mtu", "1400")
        assert "kill switch" not in backend.config_commit()["note"]
        # Refused at commit: the ISP locked it after the `set`; nothing saved.
        backend.config_set("kill_switch", "0")
        (tmp_path / "prov").write_text(PROVISIONING)
        try:
            backend.config_commit()
            assert False, "the commit of a locked field must be refused"
        except ConsoleError as e:
            assert "locked by your provider Example ISP" in str(e)
        # Refused at set: the lock is checked there.
        locked, _ = _backend(tmp_path)
        try:
            locked.config_set("kill_switch", "0")
            assert False, "a locked field must be refused at set"
        except ConsoleError as e:
            assert "locked by your provider Example ISP" in str(e)
        assert locked.config_commit()["note"] == "nothing staged"
    finally:
        close()
    # Only the MTU change was sent, as a reload; never a kill switch request.
    assert asked == [{"cmd": "reload"}]
    assert "option kill_switch '0'" not in (tmp_path / "vpnspot").read_text()


def test_dns_mode_custom_and_its_servers_can_be_staged_one_after_the_other(tmp_path):
    """dns_mode custom needs dns_servers and dns_servers needs custom: each
    `config set` used to refuse the first of the two, so the console could
    never choose the household's own DNS servers. Now either may be staged
    first (the console says what is still missing) and only a commit that
    leaves them apart is refused."""
    proc, r = _console(tmp_path, "@a config set dns_mode custom\r@b config commit\r"
                       "@c config set dns_servers 9.9.9.9 2620:fe::fe\r@d config commit\r"
                       "@e config set dns_mode isp\r@f config set dns_servers\r@g config commit\r"
                       "@h config set dns_servers 0.0.0.0\r")
    assert proc.returncode == 0, proc.stderr
    assert r["a"]["status"] == "ok" and "needs at least one" in r["a"]["data"]["pending"]
    assert r["b"]["status"] == "error" and "dns_servers" in r["b"]["data"]["error"]
    assert r["c"]["status"] == "ok" and r["c"]["data"]["pending"] is None
    assert r["d"]["status"] == "ok", r["d"]
    assert r["g"]["status"] == "ok", r["g"]
    text = (tmp_path / "vpnspot").read_text()
    assert "option dns_mode 'isp'" in text and "dns_servers" not in text
    # A value that is wrong on its own is still refused at once.
    assert r["h"]["status"] == "error" and "unspecified address" in r["h"]["data"]["error"]
