"""Factory reset (factoryreset.py through the console's `factory-reset`):
every file the agent, the web UI and the console keep is gone afterwards,
except what the ISP's provisioning provides in the firmware image (/rom),
and /etc/config/vpnspot is the shipped file again. Checked by listing every
file under a router root before and after.

File names come from the modules that write them, so a renamed file shows
up here as a test failure rather than as a reset that misses it."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from vpnspot_router import configstore, driver, factoryreset, setupcode
from vpnspot_router.console.backend import ConsoleError, RealBackend
from vpnspot_router.net import guard as gd_mod
from vpnspot_router.provider import commands
from vpnspot_router.web import security, server as web_server, tls

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "firmware_pkg", "package", "vpnspot", "files", "vpnspot.config")
PROVISIONING = ("config provider 'provider'\n\toption name 'Example ISP'\n"
                "\tlist lock 'kill_switch'\n\nconfig vpnspot 'main'\n"
                "\toption ca_file '/etc/vpnspot/isp-ca.pem'\n")

# Every file the router keeps for the household, as the modules name them.
HOUSEHOLD = {
    "etc/vpnspot/" + commands.DEVICE_FILE: '{"device_id": "d1", "device_token": "secret"}',
    "etc/vpnspot/" + commands.DEVICE_FILE + ".last-good": "{}",
    "etc/vpnspot/" + commands.DEVICE_FILE + ".corrupt-20261207T120000Z": "{garbage",
    "etc/vpnspot/wg-key": "private key",
    "etc/vpnspot/" + driver.OWN_CONFIG: "[Interface]\nPrivateKey = own\n",
    "etc/vpnspot/" + driver.OWN_CONFIG + ".last-good": "[Interface]\n",
    "etc/vpnspot/last-good.json": "{}",
    "etc/vpnspot/accounting.json": '{"days": [[20261201, 123456789, 987654321]]}',
    "etc/vpnspot/accounting.json.corrupt-20261201T000000Z": "x",
    "etc/vpnspot/reports.json": "[]",
    "etc/vpnspot/crypto-choice.json": "{}",
    "etc/vpnspot/" + security.PASSWORD_FILE: '{"scrypt": "hash"}',
    "etc/vpnspot/" + security.PASSWORD_FILE + ".last-good": '{"scrypt": "hash"}',
    "etc/vpnspot/" + setupcode.FILE_NAME: "ABCDEFGHJK\n",
    "etc/vpnspot/" + tls.KEY_FILE: "-----BEGIN PRIVATE KEY-----\n",
    "etc/vpnspot/" + tls.CERT_FILE: "-----BEGIN CERTIFICATE-----\n",
    "etc/vpnspot/web.key": "px5g key", "etc/vpnspot/web.crt": "px5g cert",
    "etc/vpnspot/guard.d/" + gd_mod.KILL_SWITCH_OFF: "delete table inet vpnspot_guard\n",
    "etc/vpnspot/guard.d/" + gd_mod.DNS_OFF: "flush chain inet vpnspot_guard dns\n",
    "etc/vpnspot/.device.json.tmp-812-3": "half written",
    "var/lib/vpnspot/crypto-choice.json": "{}",
    "run/vpnspot/agent.json": '{"exit_address": "198.51.100.2"}',
    "run/vpnspot/tunnel.json": "{}",
    "run/vpnspot/" + driver.DEBUG_TOKEN: "token\n",
    "run/vpnspot/" + web_server.SESSION_STATE_FILE: "{}",
    "run/vpnspot/" + web_server.LOCKOUT_FILE: "{}",
    "etc/config/vpnspot.last-good": "config vpnspot 'main'\n",
    "etc/config/vpnspot.corrupt-20261207T120000Z": "config vpnspot 'main\n",
}
# The ISP's, from the firmware image (/rom) and its overlay copy in /etc.
ISP = {
    "rom/etc/vpnspot/provisioning": PROVISIONING,
    "rom/etc/vpnspot/isp-ca.pem": "-----BEGIN CERTIFICATE-----\nISP\n",
    "rom/etc/config/vpnspot": open(SHIPPED).read(),
    "etc/vpnspot/isp-ca.pem": "-----BEGIN CERTIFICATE-----\nISP\n",
}
# Not ours, or not the household's: untouched.
OTHERS = {
    "etc/config/network": "config interface 'lan'\n",
    "etc/config/vpnspot-opkg": "the package manager's copy\n",
    "etc/vpnspot/guard.d/" + gd_mod.LAN_DEVICES: "flush set inet vpnspot_guard lan_devices\n",
    "run/vpnspot/agent.lock": "",
    "usr/share/vpnspot/vpnspot.config": open(SHIPPED).read(),
}


def listing(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            if not os.path.isfile(path):
                out[os.path.relpath(path, root)] = "(socket)"     # a running agent's
                continue
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read().decode()
    return out


def make_router(root):
    files = dict(HOUSEHOLD, **ISP)
    files.update(OTHERS)
    # The household changed the ISP's overlay copy of provisioning? No: a
    # technician edited it by hand; the reset brings back the image's.
    files["etc/vpnspot/provisioning"] = PROVISIONING + "\toption region 'by-hand'\n"
    files["etc/config/vpnspot"] = ("config vpnspot 'main'\n\toption region 'de-fra'\n"
                                  "\toption account_email 'household@example.net'\n"
                                  "\toption kill_switch '0'\n")
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return files


def console(root, **kw):
    places = factoryreset.Places.for_root(str(root))
    paths = configstore.Paths(places.config, (os.path.join(places.state, "provisioning"),
                                              os.path.join(places.rom, "etc/vpnspot/provisioning")))
    return RealBackend(paths=paths, run_dir=places.run, state_dir=places.state,
                       reset_places=places, logread="/nonexistent/logread", **kw)


def test_every_file_the_router_keeps_is_gone_except_the_isp_s_image(tmp_path):
    root = tmp_path / "router"
    make_router(str(root))
    before = listing(str(root))
    result = console(root).factory_reset()
    after = listing(str(root))
    expected = dict((rel, text) for rel, text in list(ISP.items()) + list(OTHERS.items()))
    expected["etc/vpnspot/provisioning"] = PROVISIONING         # the image's again
    expected["etc/config/vpnspot"] = open(SHIPPED).read()       # as shipped
    # store.py's lock for writers of the settings (empty; every web UI or
    # console save makes it too).
    expected["etc/config/vpnspot.lock"] = ""
    assert after == expected
    for rel in HOUSEHOLD:
        assert str(root / rel) in result["erased"], rel
    assert sorted(result["restored"]) == sorted([str(root / "etc/config/vpnspot"),
                                                 str(root / "etc/vpnspot/provisioning")])
    assert set(before) - set(after) == set(HOUSEHOLD)
    # The restored settings are the shipped defaults: console off, kill
    # switch on (the ISP's lock), no account.
    settings, _ = configstore.load_settings(console(root).paths)
    assert settings.kill_switch and not settings.console_enabled
    assert settings.account_email == "" and settings.region == "fastest"


def test_the_list_names_every_file_the_test_makes(tmp_path):
    # KEPT is what the README shows; the sweep catches more, the list must
    # not miss a file the modules write.
    named = set()
    for directory, name, _ in factoryreset.KEPT:
        if name:
            named.add(os.path.join(directory.lstrip("/"), name))
    for rel in HOUSEHOLD:
        if ".last-good" in rel or ".corrupt-" in rel or ".tmp-" in rel:
            continue
        assert rel in named, rel


def test_a_router_without_rom_gets_the_package_s_config_and_loses_a_hand_made_provisioning(tmp_path):
    root = tmp_path / "router"
    make_router(str(root))
    for rel in ISP:
        if rel.startswith("rom/"):
            os.unlink(str(root / rel))
    result = console(root).factory_reset()
    after = listing(str(root))
    assert after["etc/config/vpnspot"] == open(SHIPPED).read()
    assert "etc/vpnspot/provisioning" not in after and "etc/vpnspot/isp-ca.pem" not in after
    assert str(root / "etc/vpnspot/provisioning") in result["erased"]


def test_a_second_reset_erases_nothing_more(tmp_path):
    root = tmp_path / "router"
    make_router(str(root))
    console(root).factory_reset()
    before = listing(str(root))
    again = console(root).factory_reset()
    assert again["erased"] == [] and again["restored"] == []
    assert listing(str(root)) == before


AGENT = textwrap.dedent("""
    import json, os, sys, time
    from vpnspot_router import driver
    run, state = sys.argv[1], sys.argv[2]
    control = driver.ControlServer(run)
    with open(os.path.join(run, "agent.json"), "w") as f:
        json.dump({"pid": os.getpid(), "state": "running", "mode": "service"}, f)
    request, slot, done = control.requests.get()
    slot["answer"] = {"ok": request.get("cmd") == "factory_reset", "pid": os.getpid()}
    done.set()
    time.sleep(0.3)
    # On its way out an agent writes the totals it holds in memory.
    with open(os.path.join(state, "accounting.json"), "w") as f:
        f.write('{"days": [[20261207, 1, 1]]}')
    control.close()
""")


def test_a_running_agent_is_stopped_first_so_nothing_it_writes_on_exit_survives(tmp_path):
    root = tmp_path / "router"
    make_router(str(root))
    os.unlink(str(root / "run/vpnspot/agent.json"))
    env = dict(os.environ, PYTHONPATH=REPO)
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(root / "run/vpnspot"),
                              str(root / "etc/vpnspot")], env=env)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(str(root / "run/vpnspot/agent.json")):
            assert time.monotonic() < deadline, "the stand-in agent did not start"
            time.sleep(0.02)
        backend = console(root)
        # The console's wait notices the exit; Popen must reap it for that.
        reaper = __import__("threading").Thread(target=agent.wait, daemon=True)
        reaper.start()
        result = backend.factory_reset()
    finally:
        agent.kill()
        agent.wait()
    assert "the agent was stopped for the reset" in result["note"]
    assert not os.path.exists(str(root / "etc/vpnspot/accounting.json"))


def test_an_agent_that_does_not_stop_leaves_everything_in_place(tmp_path):
    root = tmp_path / "router"
    make_router(str(root))
    hang = textwrap.dedent("""
        import json, os, sys, time
        from vpnspot_router import driver
        run = sys.argv[1]
        control = driver.ControlServer(run)
        with open(os.path.join(run, "agent.json"), "w") as f:
            json.dump({"pid": os.getpid(), "state": "running", "mode": "service"}, f)
        request, slot, done = control.requests.get()
        slot["answer"] = {"ok": True}
        done.set()
        time.sleep(60)
    """)
    os.unlink(str(root / "run/vpnspot/agent.json"))
    agent = subprocess.Popen([sys.executable, "-c", hang, str(root / "run/vpnspot")],
                             env=dict(os.environ, PYTHONPATH=REPO))
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(str(root / "run/vpnspot/agent.json")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        before = listing(str(root))
        with pytest.raises(ConsoleError) as e:
            console(root, stop_timeout=1).factory_reset()
        assert "did not stop" in str(e.value) and "nothing was erased" in str(e.value)
        assert listing(str(root)) == before
    finally:
        agent.kill()
        agent.wait()


def test_the_package_installs_the_shipped_settings_where_the_reset_reads_them():
    sys.path.insert(0, os.path.join(REPO, "firmware_pkg"))
    try:
        import build
    finally:
        sys.path.pop(0)
    installed = dict((dest, src) for src, dest, _ in build.FILES)
    assert installed[factoryreset.SHIPPED_CONFIG] == "vpnspot.config"
    assert installed["/etc/config/vpnspot"] == "vpnspot.config"


def test_the_agent_stops_when_asked_for_a_factory_reset(tmp_path):
    from tests.test_driver import make_agent
    agent = make_agent(tmp_path)
    answer = agent.handle({"cmd": "factory_reset"})
    assert answer == {"ok": True, "pid": os.getpid()}
    assert agent.stopping is True


def test_an_agent_still_starting_holds_its_lock_and_nothing_is_erased(tmp_path):
    import fcntl
    root = tmp_path / "router"
    make_router(str(root))
    os.unlink(str(root / "run/vpnspot/agent.json"))      # it has not written one yet
    fd = os.open(str(root / "run/vpnspot/agent.lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        before = listing(str(root))
        with pytest.raises(ConsoleError) as e:
            console(root).factory_reset()
        assert "still starting" in str(e.value) and "nothing was erased" in str(e.value)
        assert listing(str(root)) == before
    finally:
        os.close(fd)
    assert console(root).factory_reset()["erased"]
