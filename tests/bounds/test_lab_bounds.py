"""Floods against the agent in the household lab, with its memory measured.

The agent's memory budget: AGENT_RSS_BUDGET_KIB. The README measures the
tunnel process at about 33 MB RSS idle and under load; the budget leaves
room for the supervisor's state, on routers with 128 MB of RAM. Each flood
is bounded in count and time and ends by itself; memory is VmRSS from
/proc/PID/status before and after, printed. The WAN capture tally must show
0 leaked packets (flood datagrams count as WireGuard traffic of their
sources: they are initiations and cookie replies, nothing else).
"""

import json
import os
import sys
import time

import pytest

from vpnspot_router.lab import netns
from vpnspot_router.lab import pcap
from vpnspot_router.lab import topology as T

from faults.household import TIMING, make_house, rss_kib, start_agent, status_now, tunnel_status

pytestmark = pytest.mark.interop

AGENT_RSS_BUDGET_KIB = 64 * 1024
FLOOD_SCRIPT = os.path.join(os.path.dirname(__file__), "flood.py")
FLOOD_ADDRESSES = ["198.51.100.%d" % n for n in range(100, 150)]     # 50 addresses
FLOOD_PORTS = (40001, 40002, 40003, 40004)                          # x 4 ports = 200 sources


@pytest.fixture
def house(lab):
    return make_house(lab)


def replies_between(probe, t0, t1):
    return [r for r in probe.replies() if t0 <= r <= t1]


def test_an_initiation_flood_from_200_sources_triggers_cookies_and_the_real_peer_keeps_its_tunnel(house):
    # rekey_after_time=2: the router rehandshakes with the real gateway
    # every few seconds, so handshakes must also complete during the flood
    # (the gateway's responses then need MAC2, which wireguard-go supplies
    # after our cookie reply).
    start_agent(house, timing=dict(TIMING, rekey_after_time=2))
    probe = house.start_probe()
    for addr in FLOOD_ADDRESSES:
        house.lab.run("wan", "ip", "addr", "add", addr + "/32", "dev", "rtr")
    sources = [(a, p) for a in FLOOD_ADDRESSES for p in FLOOD_PORTS]
    port = tunnel_status(house)["listen_port"]
    capture = house.start_capture()
    before = status_now(house)
    rss_before = rss_kib(house.agent.pid)
    t0 = time.time()
    proc = house.lab.run("wan", sys.executable, FLOOD_SCRIPT, house.router_pub, T.ROUTER_WAN, port,
                         json.dumps(sources), 10, 3.0, timeout=120)
    t1 = time.time()
    flood = json.loads(proc.stdout)
    after = status_now(house)
    rss_after = rss_kib(house.agent.pid)
    drops_after = after["counters"]["drops"]
    completed = (after["counters"]["events"].get("handshake-complete", 0)
                 - before["counters"]["events"].get("handshake-complete", 0))
    during = replies_between(probe, t0, t1)
    print("\n[initiation flood] %s; router drops %s; gateway handshakes completed during the flood %d; "
          "probe replies during it %d; agent RSS %d -> %d KiB (budget %d)"
          % (flood, drops_after, completed, len(during), rss_before, rss_after, AGENT_RSS_BUDGET_KIB))
    assert flood["sent"] == len(sources) * 10
    assert flood["responses"] == 0, "an unknown key got a handshake response"
    # Cookie mode: most of the flood is answered with cookies, not with DH work.
    assert flood["cookie_replies"] >= flood["sent"] // 2
    assert drops_after.get("bad-mac2", 0) >= flood["cookie_replies"]
    assert house.agent.poll() is None
    # The real peer: traffic went on during the flood and afterwards, and
    # handshakes with it still completed.
    assert len(during) > 0
    assert probe.wait_reply_after(time.time(), timeout=3) < 3
    assert completed >= 1
    assert rss_after <= AGENT_RSS_BUDGET_KIB and rss_after - rss_before < 4 * 1024
    capture.stop()
    endpoints = {(T.GW, T.GW_PORT), (T.GW2, T.GW_PORT)} | set(map(tuple, sources))
    tally = pcap.classify(pcap.read_pcap(capture.path), endpoints)
    print("[initiation flood] " + pcap.tally_text(tally))
    assert tally["leaked"] == 0, tally["leak_examples"]


CONNECT_SCRIPT = r"""
import json, socket, sys, threading
host, port, total, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok = [0]; failed = [0]; lock = threading.Lock(); left = [total]
def worker():
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(b"vpnspot-bound")
                got = b""
                while len(got) < 13:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    got += chunk
            good = got == b"vpnspot-bound"
        except OSError:
            good = False
        with lock:
            if good: ok[0] += 1
            else: failed[0] += 1
threads = [threading.Thread(target=worker) for _ in range(workers)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"ok": ok[0], "failed": failed[0]}))
"""


def test_a_lan_client_opening_3000_connections_keeps_the_agent_under_its_memory_budget(house):
    start_agent(house)
    capture = house.start_capture()
    rss_before = rss_kib(house.agent.pid)
    t0 = time.monotonic()
    proc = house.lab.run("lan", sys.executable, "-c", CONNECT_SCRIPT, T.SITE, 853, 3000, 16,
                         timeout=180)
    took = time.monotonic() - t0
    result = json.loads(proc.stdout)
    rss_after = rss_kib(house.agent.pid)
    print("\n[3000 connections] %s in %.1f s; agent RSS %d -> %d KiB (budget %d)"
          % (result, took, rss_before, rss_after, AGENT_RSS_BUDGET_KIB))
    assert result == {"ok": 3000, "failed": 0}
    assert rss_after <= AGENT_RSS_BUDGET_KIB and rss_after - rss_before < 4 * 1024
    # And it keeps serving.
    assert house.http_from_lan().get("ok")
    tally = capture.stop()
    print("[3000 connections] " + pcap.tally_text(tally))
    assert tally["leaked"] == 0, tally["leak_examples"]
