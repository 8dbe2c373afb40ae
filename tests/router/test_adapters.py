"""net/ adapters and the agent's commands against a real kernel, in a lab namespace.

The pure builders are tested on their text in tests/net/; here the same
state is applied with nft and ip inside a namespace to prove the adapters
converge, replace atomically and refuse bad input without changing anything.
"""

import json
import os
import sys
import time

import pytest

from vpnspot_router.lab import topology as T
from vpnspot_router.net import routing as R
from vpnspot_router.net.settings import NetPlan, parse_settings

pytestmark = pytest.mark.interop

ADAPTER_SCRIPT = r"""
import json, sys
from vpnspot_router.net import firewall as F, routing as R
from vpnspot_router.net.settings import NetPlan, parse_settings
step = sys.argv[1]
plan = NetPlan(parse_settings(sys.argv[2]), resolver4="10.77.0.1", ipv6_offered=True)
fw, rt = F.Firewall(), R.Routing()
if step == "apply":
    fw.apply(F.build_ruleset(plan))
    rt.apply(R.desired_rules(plan), R.desired_routes(plan, tunnel_up=False))
elif step == "bad":
    try:
        fw.apply(F.build_ruleset(plan).replace("masquerade", "masquerade bogus-word"))
    except F.FirewallError as e:
        print(json.dumps({"error": str(e)[:80]}))
        sys.exit(0)
print(json.dumps({"fw": fw.status(), "rules": sorted(map(list, rt.current_rules())),
                  "routes": sorted(map(list, rt.current_routes()), key=repr)}))
"""


@pytest.fixture
def router(lab):
    lab.add_ns("router")
    lab.run("router", "ip", "link", "add", "br-lan", "type", "bridge")

    def run(*args):
        proc = lab.run("router", sys.executable, "-c", ADAPTER_SCRIPT, *args)
        return json.loads(proc.stdout)
    return run


def test_applying_twice_converges_to_exactly_the_desired_state(router):
    first = router("apply", "")
    second = router("apply", "")
    assert first == second
    assert first["fw"]["kill_switch"] and first["fw"]["loaded"]
    assert len(first["rules"]) == 4
    assert sorted(map(tuple, first["routes"]), key=repr) == sorted(
        R.desired_routes(NetPlan(parse_settings("")), tunnel_up=False), key=repr)


def test_turning_the_kill_switch_off_replaces_table_and_routes_without_leftovers(router):
    router("apply", "")
    off = router("apply", "kill_switch = off")
    assert off["fw"]["loaded"] and not off["fw"]["kill_switch"]
    assert off["routes"] == []


def test_a_ruleset_nft_rejects_leaves_the_previous_table_in_place(router):
    before = router("apply", "")
    bad = router("bad", "")
    assert "nft rejected the vpnspot table" in bad["error"]
    after = router("status", "")
    assert after == before


@pytest.fixture
def house(lab):
    missing = T.missing_tools()
    if missing:
        pytest.fail("missing tools %s" % ", ".join(missing), pytrace=False)
    return T.Household(lab)


def test_the_agent_refuses_a_bad_settings_file_and_changes_nothing(house):
    house.write_settings(dns="isp")
    proc = house.vpnspot("agent", "--wg-config", house.wg_config, "--settings", house.settings,
                         "--run-dir", house.run_dir)
    assert proc.returncode == 2
    assert "settings:3: dns: 'isp' is not one of tunnel | custom | off" in proc.stderr, proc.stderr
    assert house.lab.run("router", "nft", "list", "table", "inet", "vpnspot", check=False).returncode != 0
    assert not os.path.exists(os.path.join(house.run_dir, "agent.json"))


def test_the_agent_refuses_a_bad_wireguard_config_and_changes_nothing(house):
    with open(house.wg_config, "a") as f:
        f.write("PersistentKeepalive = forever\n")
    proc = house.vpnspot("agent", "--wg-config", house.wg_config, "--settings", house.settings,
                         "--run-dir", house.run_dir)
    assert proc.returncode == 2
    assert "vpnspot.conf:10: PersistentKeepalive: must be a number" in proc.stderr, proc.stderr
    assert house.lab.run("router", "nft", "list", "table", "inet", "vpnspot", check=False).returncode != 0


def test_status_reports_what_a_household_and_a_technician_need(house):
    house.start_agent()
    status = house.status()
    assert status["state"] == "connected"
    assert status["server"] == "%s:%d" % (T.GW, T.GW_PORT)
    assert 0 <= status["handshake_age"] < 30
    assert status["tx_bytes"] > 0 and status["rx_bytes"] > 0
    assert (status["kill_switch"], status["dns"], status["ipv6"], status["mtu"]) == ("on", "tunnel", "tunnel", 1420)
    text = house.vpnspot("status", "--run-dir", house.run_dir).stdout
    assert "state:        connected" in text and "kill switch:  ON" in text
    # Privacy: nothing about LAN clients or destinations in the status.
    assert T.LAN_CLIENT not in json.dumps(status) and T.SITE not in json.dumps(status)


def test_killswitch_remove_is_what_turns_it_off(house):
    assert house.vpnspot("killswitch", "apply", "--settings", house.settings).returncode == 0
    assert house.vpnspot("killswitch", "status").returncode == 0
    assert house.vpnspot("killswitch", "remove").returncode == 0
    proc = house.vpnspot("killswitch", "status")
    assert proc.returncode == 3 and "OFF" in proc.stdout
    # and a household without kill switch is online without the VPN
    assert house.ping_from_lan(T.GW, count=1)


def test_a_pppoe_wan_gives_a_1412_tunnel_mtu_and_tcp_still_flows(house):
    house.lab.run("router", "ip", "link", "set", "wan", "mtu", "1492")
    house.lab.run("wan", "ip", "link", "set", "rtr", "mtu", "1492")
    house.start_agent()
    mtu = house.lab.run("router", "cat", "/sys/class/net/%s/mtu" % T.TUNNEL_IFNAME).stdout.strip()
    assert mtu == "1412"
    assert house.status()["mtu"] == 1412
    pcap_path = os.path.join(house.lab.tmpdir, "site.pcap")
    dump = house.lab.popen("site", ["tcpdump", "--immediate-mode", "-U", "-n", "-i", "eth0", "-w",
                                    pcap_path, "tcp[tcpflags] & tcp-syn != 0"])
    T.netns.wait_for(lambda: os.path.exists(pcap_path), timeout=10, what="tcpdump at the site")

    time.sleep(0.3)
    n = 1024 * 1024
    assert house.lab.tcp_transfer("lan", "site", T.SITE, n).received_bytes == n
    time.sleep(0.3)
    house.lab.stop_process(dump)
    syns = house.lab.run("site", "tcpdump", "-n", "-r", pcap_path).stdout
    # The LAN client offered MSS 1460 (its link is 1500); clamped to the
    # tunnel: 1412 - 40 bytes of IPv4 and TCP headers.
    syn = [line for line in syns.splitlines() if "Flags [S]," in line]
    assert syn and all("mss 1372" in line for line in syn), syns
