"""A region chosen in the web UI is saved and sent to the running agent as a
"reload" (which connects again when the region changed); only when the
reload did not connect (the household had disconnected) does the "connect"
request follow, so the tunnel is never built twice for one choice. A
stand-in for the agent's control socket answers as driver.ServiceAgent does."""

import json
import os

import pytest

from vpnspot_router import configstore, driver
from vpnspot_router.web.realbackend import RealBackend


@pytest.fixture
def web(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "agent.json").write_text(json.dumps(
        {"pid": os.getpid(), "mode": "service", "state": "running"}))
    (tmp_path / "vpnspot").write_text("config vpnspot 'main'\n")
    b = RealBackend(paths=configstore.Paths(str(tmp_path / "vpnspot"), (str(tmp_path / "prov"),)),
                    state_dir=str(tmp_path / "state"), run_dir=str(run))
    b.asked = []
    b.reconnect = []

    def control_call(run_dir, request, timeout=30.0):
        b.asked.append(request)
        if request["cmd"] == "reload":
            return {"ok": True, "changed": ["region"], "live": [], "reconnect": b.reconnect,
                    "restart": [], "guard": None}
        return {"ok": True, "state": "fetching", "server": None}
    monkeypatch.setattr(driver, "control_call", control_call)
    return b


def test_a_new_region_is_connected_by_the_reload_alone(web):
    web.reconnect = ["region"]
    web.set_region("fastest")
    # "fastest" is the default: nothing changed, so the household's choice
    # is still acted on by "connect" (as before).
    assert web.asked == [{"cmd": "connect", "region": "fastest"}]
    web.asked[:] = []
    web.servers = lambda: {"servers": [{"region": "europe"}]}
    web.set_region("europe")
    assert web.asked == [{"cmd": "reload"}]
    assert "option region 'europe'" in open(web.paths.config_path).read()


def test_after_a_disconnect_the_choice_still_connects(web):
    web.reconnect = []          # the agent kept the household's disconnect
    web.servers = lambda: {"servers": [{"region": "europe"}]}
    web.set_region("europe")
    assert web.asked == [{"cmd": "reload"}, {"cmd": "connect", "region": "europe"}]
