"""One debug session for the whole router, whoever opened it: the agent
holds it (driver.py's control requests debug_open/close/status/show/
record); the web UI, the console and `vpnspot debug` all see that it is
open and from where, and any of them ends it (its data goes with it);
only its opener sees what it recorded.

A real ServiceAgent (in memory: fake firewall, routing and tunnel, as in
tests/test_driver.py) answers on a real control socket; the web UI's and
the console's real backends and the CLI talk to it as on a router."""

import os
import threading
import time
import types

import pytest

from tests.test_driver import make_agent
from vpnspot_router import agent as agent_mod
from vpnspot_router import configstore, driver
from vpnspot_router.console.backend import ConsoleError
from vpnspot_router.console.backend import RealBackend as ConsoleBackend
from vpnspot_router.web.backend import BackendError
from vpnspot_router.web.realbackend import RealBackend as WebBackend

LAN_CLIENT = "192.168.77.10"


@pytest.fixture
def router(tmp_path, monkeypatch):
    agent = make_agent(tmp_path)
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    # The LAN neighbours a debug session records (ip neigh on br-lan).
    monkeypatch.setattr(agent, "_neighbours", lambda now: agent.debug.record(
        now, "lan-neighbour", "%s lladdr 02:11:22:33:44:55 REACHABLE" % LAN_CLIENT))
    agent.control = driver.ControlServer(str(run))
    stop = threading.Event()

    agent.write_status()

    def loop():
        while not stop.is_set():
            agent._drain(time.monotonic())
            agent.write_status()
            stop.wait(0.01)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    paths = configstore.Paths(str(tmp_path / "vpnspot"), ())
    web = WebBackend(paths=paths, state_dir=str(tmp_path / "state"), run_dir=str(run))
    console = ConsoleBackend(paths=paths, run_dir=str(run), state_dir=str(tmp_path / "state"),
                             log_file=str(tmp_path / "none.log"), logread="/nonexistent/logread")
    yield types.SimpleNamespace(agent=agent, run=str(run), web=web, console=console)
    stop.set()
    thread.join(2)
    agent.control.close()


def cli(run, action, capsys):
    code = agent_mod.cmd_debug(types.SimpleNamespace(action=action, ttl=None, run_dir=run))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_session_opened_in_the_web_ui_is_seen_and_ended_from_the_console(router):
    token = router.web.open_debug(3600)
    assert router.agent.debug.opened_by == "web UI"
    assert any(LAN_CLIENT in e[2] for e in router.agent.debug.entries)
    # The browser that opened it signed out; the console sees it...
    status = router.console.status()
    assert status["debug_session"]["open"] and status["debug_session"]["opened_by"] == "web UI"
    # ... but not what it holds,
    with pytest.raises(ConsoleError) as e:
        router.console.debug_show()
    assert "opened from the web UI" in str(e.value) and "only whoever opened it" in str(e.value)
    # and ends it: the agent keeps nothing, the token file is gone.
    assert router.console.debug_close()["purged"] >= 1
    assert router.agent.debug.state == "closed" and router.agent.debug.entries == []
    assert not os.path.exists(os.path.join(router.run, driver.DEBUG_TOKEN))
    with pytest.raises(BackendError):
        router.web.debug_entries(token)
    with pytest.raises(ConsoleError) as e:
        router.console.debug_close()
    assert "no debug session is open" in str(e.value)


def test_a_session_opened_on_the_console_is_the_agent_s_and_the_web_ui_and_cli_end_it(
        router, capsys):
    router.console.debug_open(10)
    assert router.agent.debug.opened_by == "console"
    router.console.status()
    router.console.diag()
    shown = router.console.debug_show()["entries"]
    # The agent's own detail and the console's, in one session.
    assert any(c == "lan-neighbour" for _, c, _ in shown)
    assert any(c.startswith("console ") for _, c, _ in shown)
    time.sleep(0.05)
    assert router.web.debug_summary() == {"open": True, "opened_by": "console",
                                          "expires_in": router.web.debug_summary()["expires_in"]}
    assert 0 < router.web.debug_summary()["expires_in"] <= 600
    code, out = cli(router.run, "status", capsys)
    assert code == 0 and "opened from the console" in out and LAN_CLIENT not in out
    code, out = cli(router.run, "close", capsys)
    assert code == 0 and "closed" in out
    assert router.agent.debug.state == "closed" and router.agent.debug.entries == []
    # The console's next detail is kept nowhere.
    router.console.status()
    assert router.agent.debug.entries == [] and router.console.agent_debug_token is None
    code, out = cli(router.run, "status", capsys)
    assert "no debug session is open" in out


def test_the_web_ui_ends_a_session_opened_from_the_command_line(router, capsys):
    code, out = cli(router.run, "open", capsys)
    assert code == 0
    time.sleep(0.05)
    assert router.web.debug_summary()["opened_by"] == "command line"
    router.web.close_debug()
    assert router.agent.debug.state == "closed" and router.agent.debug.entries == []


def test_only_the_opener_adds_to_or_reads_the_session(router):
    router.web.open_debug(600)
    for request in ({"cmd": "debug_show", "token": "0" * 32},
                    {"cmd": "debug_record", "token": "0" * 32, "entries": [["x", "y"]]}):
        answer = driver.control_call(router.run, request)
        assert not answer["ok"] and "belongs to whoever opened it" in answer["error"]
    status = driver.control_call(router.run, {"cmd": "debug_status"})
    assert status["ok"] and status["open"] and status["opened_by"] == "web UI"
    assert LAN_CLIENT not in repr(status)


def test_without_an_agent_the_console_keeps_its_own_session_and_ends_it(tmp_path):
    console = ConsoleBackend(paths=configstore.Paths(str(tmp_path / "vpnspot"), ()),
                             run_dir=str(tmp_path / "run"), state_dir=str(tmp_path / "state"),
                             log_file=str(tmp_path / "none.log"), logread="/nonexistent/logread")
    console.debug_open(5)
    assert console.status()["debug_session"]["opened_by"] == "console"
    assert console.debug_show()["entries"]
    assert console.debug_close()["purged"] >= 1
    assert console.debug.entries == []
