"""SIGHUP to the running service agent, as procd sends it after every
`uci commit vpnspot` and `/etc/init.d/vpnspot reload`: the same process
stays (same PID), re-reads /etc/config/vpnspot and applies it. A change the
tunnel is not made of (IPv6 blocked, the checkpoint interval) keeps the
tunnel carrying the LAN without a gap; a kill switch change reaches the
agent's nftables table, its routes and the boot guard (the package's
guard file, loaded in the router namespace); a file with a mistake changes
nothing; a new MTU builds the tunnel again, in the same process. A capture on the router's WAN runs throughout: 0 leaked.

Before this, SIGHUP's default action ended the agent, and procd started a
new one 5 s later: every settings change cost the household its internet.

Timers as in tests/router/test_service.py (shortened, stated there). These
tests need root, namespaces, wireguard-go, nft, tcpdump and dnsmasq; when
any is missing they FAIL.
"""

import json
import os
import re
import signal
import time

import pytest

from tests.faults.household import finish
from tests.router.test_service import API_ADDR, API_PORT, Service
from vpnspot_router.lab import netns
from vpnspot_router.lab import topology as T
from vpnspot_router.net import routing

pytestmark = pytest.mark.interop

MAIN = "config vpnspot 'main'\n\toption region 'europe'\n"


@pytest.fixture
def service(lab):
    s = Service(lab)
    yield s
    s.stop()


def write_config(service, options):
    """/etc/config/vpnspot as `uci commit` leaves it: written whole, renamed in."""
    path = os.path.join(service.config, "vpnspot")
    with open(path + ".tmp", "w") as f:
        f.write(MAIN + "".join("\toption %s '%s'\n" % kv for kv in options))
    os.replace(path + ".tmp", path)
    return path


def agent_json(service):
    with open(os.path.join(service.run, "agent.json")) as f:
        return json.load(f)


def hup(service, count):
    """kill -HUP, then wait until the agent has taken up reload `count`."""
    service.agent.send_signal(signal.SIGHUP)
    netns.wait_for(lambda: service.status().get("reloads") == count, timeout=15,
                   what="reload %d" % count)
    return agent_json(service)["last_reload"]


def kill_switch(service):
    """(killswitch status exit code, its line, LAN routes unreachable without
    the tunnel, boot guard table loaded, guard.d's off file present)."""
    lab, house = service.lab, service.house
    ks = house.vpnspot("killswitch", "status")
    table = lab.run("router", "ip", "-4", "route", "show", "table", str(routing.TABLE_ID)).stdout
    guard = lab.run("router", "nft", "list", "table", "inet", "vpnspot_guard",
                    check=False).returncode == 0
    off_file = os.path.exists(os.path.join(service.state, "guard.d", "kill-switch-off.nft"))
    return ks.returncode, ks.stdout.strip(), "unreachable default" in table, guard, off_file


def through_tunnel(house):
    reply = house.http_from_lan()
    return bool(reply.get("ok")) and reply["body"].strip() == "client=%s" % T.ROUTER_TUNNEL


def reply_times(lab, proc):
    return [float(m.group(1)) for m in
            re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", lab.read_log(proc), re.M)]


def tunnels_started(service):
    return len(re.findall(r"tunnel to ams-gw2? ", service.lab.read_log(service.agent)))


ON = (0, "kill switch ON (table inet vpnspot loaded)", True, True, False)
OFF = (3, "kill switch OFF (table inet vpnspot loaded)", False, False, True)


def test_sighup_keeps_the_agent_and_its_tunnel_and_applies_the_edited_file(service):
    lab, house = service.lab, service.house
    write_config(service, [("kill_switch", "1")])
    service.enroll()
    service.start_agent(extra_args=["--guard-file", T.GUARD_FILE])
    pid = service.agent.pid
    assert kill_switch(service) == ON
    assert house.http_from_lan(T.SITE6).get("ok")       # IPv6 through the tunnel to begin with
    started = tunnels_started(service)
    assert started == 1, lab.read_log(service.agent)
    capture = house.start_capture(api=[(API_ADDR, API_PORT)])

    # 1. Settings the tunnel is not made of: the same process, the same
    # tunnel, LAN pings answered through it without a gap.
    pinger = lab.popen("lan", ["ping", "-D", "-n", "-i", "0.05", "-W", "1", T.GW_TUNNEL])
    netns.wait_for(lambda: len(reply_times(lab, pinger)) >= 10, timeout=10, what="pings")
    t_hup = time.time()
    write_config(service, [("kill_switch", "1"), ("ipv6_mode", "block"),
                           ("checkpoint_minutes", "30")])
    first = hup(service, 1)
    t_done = time.time()
    netns.wait_for(lambda: [t for t in reply_times(lab, pinger) if t > t_done + 0.5], timeout=10,
                   what="pings after the reload")
    lab.stop_process(pinger)
    around = [t for t in reply_times(lab, pinger) if t_hup - 1.0 <= t <= t_done + 0.5]
    gaps = [b - a for a, b in zip(around, around[1:])]
    print("\n[reload, tunnel kept] %d replies around the reload, longest gap %.2f s; reload: %s"
          % (len(around), max(gaps), first))
    assert service.agent.poll() is None and service.agent.pid == pid
    assert first["ok"] and first["changed"] == ["checkpoint_minutes", "ipv6_mode"], first
    assert first["reconnect"] == [], first
    # A new tunnel means a new handshake and a pause; a dead agent, no replies.
    assert max(gaps) < 1.0, gaps
    assert tunnels_started(service) == started
    assert through_tunnel(house)
    assert not house.http_from_lan(T.SITE6, timeout=1.0).get("ok")     # IPv6 now blocked
    assert service.status()["state"] == "connected"

    # 2. The kill switch off by editing the file: table, routes and boot
    # guard follow; the tunnel still carries the LAN.
    write_config(service, [("kill_switch", "0"), ("ipv6_mode", "block"), ("checkpoint_minutes", "30")])
    second = hup(service, 2)
    assert second["ok"] and second["changed"] == ["kill_switch"] and second["reconnect"] == []
    assert kill_switch(service) == OFF
    assert through_tunnel(house)

    # 3. And on again.
    write_config(service, [("kill_switch", "1"), ("ipv6_mode", "block"), ("checkpoint_minutes", "30")])
    third = hup(service, 3)
    assert third["ok"] and third["changed"] == ["kill_switch"], third
    assert kill_switch(service) == ON
    assert through_tunnel(house)

    # 4. A mistake in the file: refused with the line, nothing changes, the
    # file stays as written for whoever edits it.
    path = write_config(service, [("kill_switch", "maybe")])
    fourth = hup(service, 4)
    assert fourth["ok"] is False and "kill_switch" in fourth["error"], fourth
    assert kill_switch(service) == ON
    assert through_tunnel(house)
    with open(path) as f:
        assert "'maybe'" in f.read()
    log = lab.read_log(service.agent)
    assert "settings not reloaded: %s" % path in log, log

    assert service.agent.poll() is None and service.agent.pid == pid
    assert tunnels_started(service) == started
    assert service.status()["state"] == "connected"

    # 5. The tunnel's MTU: the one change here the tunnel itself is made of.
    # The supervisor connects again, in the same process, with the new MTU.
    write_config(service, [("kill_switch", "1"), ("ipv6_mode", "block"), ("mtu", "1300")])
    fifth = hup(service, 5)
    assert fifth["ok"] and fifth["reconnect"] == ["mtu"], fifth
    netns.wait_for(lambda: tunnels_started(service) == started + 1
                   and service.status()["state"] == "connected", timeout=30,
                   what="the tunnel again, with MTU 1300")
    link = lab.run("router", "ip", "link", "show", T.TUNNEL_IFNAME).stdout
    assert " mtu 1300 " in link, link
    house.wait_connected(timeout=15)
    assert through_tunnel(house) and kill_switch(service) == ON
    assert service.agent.poll() is None and service.agent.pid == pid
    finish(capture, "SIGHUP reloads: ipv6 blocked, kill switch off and on, a bad file, MTU")
