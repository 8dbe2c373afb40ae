"""The data-plane benchmark: our userspace WireGuard against wireguard-go, in one run.

    sudo .venv/bin/python tests/bench/run.py            # 3 rounds, 5 s per measurement
    sudo .venv/bin/python tests/bench/run.py --quick    # 1 round, 2 s, for a smoke check

Builds two namespaces A (198.51.100.1) and B (198.51.100.2) joined by a veth
pair, and for each contender a tunnel between them (10.77.0.1 <-> 10.77.0.2).
iperf3 runs from A (client, sending) to B (server, receiving), so:

    wg-go       wireguard-go in A and B                  (the reference)
    ours-send   ours in A (sending), wireguard-go in B
    ours-recv   wireguard-go in A, ours in B (receiving)
    ours        ours in A and B
    ours-plain  ours in A and B with every offload switched off (the gain of the offloads)
    ours-tso, ours-writer, ours-no-gso, ours-no-gro, ours-no-coalesce: ours with one switch flipped
                from its default (opt in with --contenders)
    ours+VAR=VALUE  ours with more environment, e.g. ours+VPNSPOT_UDP_BUFFER=1048576;
                ours+BENCH_TREE=/path runs another source tree (`git archive REV | tar -x`)
    veth        no tunnel: the plain link

Contenders alternate inside each round (and the order rotates per round), so
a machine shared with other work slows all of them alike; each figure is the
median of the rounds with min and max, and its ratio to wireguard-go's.

Per contender and round: iperf3 TCP throughput with 1 and 4 streams, UDP
packets per second received with 64- and 1400-byte payloads, ping RTT while
the 1-stream TCP test runs, CPU seconds per GB (utime+stime of both tunnel
processes from /proc/PID/stat, over the 1-stream TCP test), the first ping's
RTT after start (it carries the handshake), process start to tunnel up, and
the tunnel processes' RSS idle and peak under load. Once per run, before the
lab starts: the OpenWrt package's compressed size, built with
firmware_pkg/build.py's defaults (what ships) into a temporary directory,
against its 250 KB budget. Once per run, after the rounds (metric
"failover"): the agent in the household lab with the reference VPN Spot
service and two gateways, at default timing (measure_failover): agent
start to LAN traffic through the tunnel, and failover time over at least 2
rounds; ours only, as wireguard-go has no agent and no failover. Once per
run (metric "memory", tests/bench/agent_memory.py): the always-on agent's
RSS idle, under load and peak, with userspace WireGuard in the household
lab and with kernel WireGuard in the router VM, against issue 12's 30 and
20 MB. Figures that belong to other parts of the product are printed as
"n/a (needs ...)".
The per-stage profile of the data plane is tests/bench/profile_dataplane.py.

Writes everything (samples, medians, environment) as JSON under
bench-results/ in the repository root. Needs root, iperf3, ping, wg and
wireguard-go (vpnspot_router/lab/setup.sh installs them).
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, REPO)

from vpnspot_router.lab import netns  # noqa: E402

A_UNDER, B_UNDER = "198.51.100.1", "198.51.100.2"
A_TUN, B_TUN = "10.77.0.1", "10.77.0.2"
PORT = 51820
IPERF_PORT = 5201

CONTENDERS = {
    # name: (side A, side B, environment for our processes)
    "wg-go": ("wg", "wg", {}),
    "ours-send": ("ours", "wg", {}),
    "ours-recv": ("wg", "ours", {}),
    "ours": ("ours", "ours", {}),
    "ours-plain": ("ours", "ours", {"VPNSPOT_TUN_TSO": "0", "VPNSPOT_TUN_COALESCE": "0",
                                    "VPNSPOT_UDP_GSO": "0", "VPNSPOT_UDP_GRO": "0"}),
    "ours-tso": ("ours", "ours", {"VPNSPOT_TUN_TSO": "1"}),
    "ours-writer": ("ours", "ours", {"VPNSPOT_TUN_WRITER": "1"}),
    "ours-no-gso": ("ours", "ours", {"VPNSPOT_UDP_GSO": "0"}),
    "ours-no-gro": ("ours", "ours", {"VPNSPOT_UDP_GRO": "0"}),
    "ours-no-coalesce": ("ours", "ours", {"VPNSPOT_TUN_COALESCE": "0"}),
    "veth": (None, None, {}),
}
DEFAULT_CONTENDERS = ["wg-go", "ours-send", "ours-recv", "ours", "ours-plain", "veth"]
# "failover" is not per contender: it runs once, in the household lab, after the rounds.
METRICS = ["tcp1", "tcp4", "udp64", "udp1400", "failover", "memory"]

# (key, label, unit, higher is better)
COLUMNS = [
    ("tcp1_gbit", "TCP 1 stream", "Gbit/s", True),
    ("tcp4_gbit", "TCP 4 streams", "Gbit/s", True),
    ("udp64_kpps", "UDP 64 B", "kpps", True),
    ("udp1400_kpps", "UDP 1400 B", "kpps", True),
    ("rtt_load_ms", "ping under load", "ms", False),
    ("cpu_s_per_gb", "CPU per GB, tunnel processes", "s", False),
    ("cpu_all_s_per_gb", "CPU per GB, tunnels + iperf3 both ends", "s", False),
    ("handshake_ms", "first ping (handshake)", "ms", False),
    ("start_to_up_s", "start to tunnel up", "s", False),
    ("rss_idle_mb", "RSS idle (per `tunnel up` process; the agent's: metric memory)", "MB", False),
    ("rss_peak_mb", "RSS peak under load (per `tunnel up` process)", "MB", False),
]
# rss_kernel_mode_mb, once "n/a" here, is metric "memory": the always-on
# agent's RSS with kernel WireGuard (router VM) and userspace (household
# lab), run once after the rounds by tests/bench/agent_memory.py.
NOT_MEASURED = {
}
# The product's flash budget for the .ipk, compressed, without the Python
# runtime and python3-cryptography (dependencies from the OpenWrt feeds).
PACKAGE_BUDGET_KB = 250


# ------------------------------------------------------------ processes

def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class Side:
    """One tunnel endpoint (ours or wireguard-go) in a namespace."""

    def __init__(self, lab, kind, ns, seq, keys, env, runner=None):
        """runner: the argv that runs `vpnspot` for ours (default: this
        interpreter, -m vpnspot_router; tests/bench/profile_dataplane.py wraps it)."""
        self.lab, self.kind, self.ns = lab, kind, ns
        self.ifname = lab.wg_ifname("%s%d" % (ns[-1], seq))
        self.pid = None
        self.proc = None
        self.wg = None
        me, peer = ("a", "b") if ns == "a" else ("b", "a")
        self.addr = A_TUN if me == "a" else B_TUN
        peer_addr = B_TUN if me == "a" else A_TUN
        peer_under = B_UNDER if me == "a" else A_UNDER
        t0 = time.monotonic()
        if kind == "wg":
            self.wg = lab.start_wireguard_go(
                ns, self.ifname, keys[me], listen_port=PORT, address_cidrs=[self.addr + "/24"],
                peers=[{"public_key": keys[peer + "_pub"], "allowed_ips": [peer_addr + "/32"],
                        "endpoint": "%s:%d" % (peer_under, PORT)}])
            self.pid = self.wg.proc.pid
        else:
            conf = os.path.join(lab.tmpdir, self.ifname + ".conf")
            status = os.path.join(lab.tmpdir, self.ifname + ".json")
            with open(conf, "w") as f:
                f.write("[Interface]\nPrivateKey = %s\nAddress = %s/24\nListenPort = %d\n\n"
                        "[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s:%d\n"
                        % (keys[me], self.addr, PORT, keys[peer + "_pub"], peer_addr, peer_under, PORT))
            full_env = dict(os.environ)
            full_env.update(env)
            # BENCH_TREE: run another source tree's data plane (e.g. an
            # export of an older commit) as a contender in the same run.
            tree = full_env.pop("BENCH_TREE", None) or REPO
            if tree != REPO:
                full_env["PYTHONPATH"] = tree
            runner = runner or [sys.executable, "-m", "vpnspot_router"]
            self.proc = lab.popen(ns, runner + ["tunnel", "up", conf,
                                                "--ifname", self.ifname, "--status-file", status],
                                  env=full_env, cwd=tree)
            self.pid = self.proc.pid

            def up():
                if self.proc.poll() is not None:
                    raise netns.LabError("our tunnel exited:\n" + lab.read_log(self.proc))
                return os.path.exists(status)
            netns.wait_for(up, timeout=20, interval=0.005, what="our tunnel status file")
        self.start_to_up = time.monotonic() - t0

    def cpu(self):
        return proc_cpu_seconds(self.pid)

    def rss_mb(self):
        return proc_status_kb(self.pid, "VmRSS") / 1024.0

    def hwm_mb(self):
        return proc_status_kb(self.pid, "VmHWM") / 1024.0

    def stop(self):
        if self.wg is not None:
            self.wg.stop()
        elif self.proc is not None:
            self.lab.stop_process(self.proc)


# ------------------------------------------------------------ measurements

def iperf(lab, target, seconds, streams=1, udp_len=None):
    argv = ["iperf3", "-c", target, "-p", str(IPERF_PORT), "-t", str(seconds), "-J"]
    if streams > 1:
        argv += ["-P", str(streams)]
    if udp_len:
        argv += ["-u", "-b", "0", "-l", str(udp_len)]
    proc = lab.run("a", *argv, check=False, timeout=seconds + 30)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise netns.LabError("iperf3 gave no JSON: %s %s" % (proc.stdout[-500:], proc.stderr[-500:]))
    if "error" in data:
        raise netns.LabError("iperf3: %s" % data["error"])
    end = data["end"]
    if udp_len:
        s = end.get("sum_received") or end["sum"]
        lost = s.get("lost_packets", 0)
        packets = s.get("packets", 0)
        secs = s.get("seconds") or seconds
        return {"pps": (packets - lost) / secs, "bytes": s.get("bytes", 0)}
    s = end["sum_received"]
    return {"bps": s["bits_per_second"], "bytes": s["bytes"]}


def parse_ping(text):
    m = re.search(r"= [\d.]+/([\d.]+)/[\d.]+/", text)
    return float(m.group(1)) if m else None


def first_ping_ms(lab, target):
    """RTT of the first ping after start: it waits for the handshake."""
    for _ in range(5):
        proc = lab.run("a", "ping", "-n", "-c", "1", "-W", "3", target, check=False)
        m = re.search(r"time=([\d.]+) ms", proc.stdout)
        if m:
            return float(m.group(1))
    raise netns.LabError("no ping reply through the tunnel to %s" % target)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def contender(name):
    """CONTENDERS[name], or for "BASE+VAR=VALUE+..." BASE's with more
    environment for our processes (e.g. ours+VPNSPOT_UDP_BUFFER=1048576)."""
    base, _, rest = name.partition("+")
    kind_a, kind_b, env = CONTENDERS[base]
    env = dict(env)
    for item in rest.split("+") if rest else ():
        key, _, value = item.partition("=")
        env[key] = value
    return kind_a, kind_b, env


def measure(lab, name, seq, keys, seconds, metrics, server_pid, qdisc=None):
    kind_a, kind_b, env = contender(name)
    sides = []
    out = {}
    try:
        if kind_a is None:
            target = B_UNDER
            out["handshake_ms"] = first_ping_ms(lab, target)
        else:
            target = B_TUN
            sides.append(Side(lab, kind_a, "a", seq, keys, env))
            sides.append(Side(lab, kind_b, "b", seq, keys, env))
            if qdisc:
                for s in sides:
                    lab.run(s.ns, "tc", "qdisc", "replace", "dev", s.ifname, "root", qdisc)
            out["handshake_ms"] = first_ping_ms(lab, target)
            ours = [s for s in sides if s.kind == "ours"]
            if ours:
                out["start_to_up_s"] = max(s.start_to_up for s in ours)
                out["rss_idle_mb"] = max(s.rss_mb() for s in ours)
            else:
                out["rss_idle_mb"] = max(s.rss_mb() for s in sides)
        if "tcp1" in metrics:
            cpu0 = sum(s.cpu() for s in sides)
            others0 = children_cpu() + proc_cpu_seconds(server_pid)
            count = max(1, int((seconds - 1) / 0.05))
            pinger = subprocess.Popen(["ip", "netns", "exec", lab.name("a"), "ping", "-n", "-q",
                                       "-i", "0.05", "-c", str(count), target],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                r = iperf(lab, target, seconds)
            finally:
                ping_out = pinger.communicate(timeout=seconds + 10)[0]
            out["tcp1_gbit"] = r["bps"] / 1e9
            out["rtt_load_ms"] = parse_ping(ping_out)
            # iperf3's client is our child (ip netns exec execs it), so its
            # CPU shows in RUSAGE_CHILDREN once reaped; the server is read live.
            others = children_cpu() + proc_cpu_seconds(server_pid) - others0
            tunnels = sum(s.cpu() for s in sides) - cpu0
            gb = r["bytes"] / 1e9
            if sides:
                out["cpu_s_per_gb"] = tunnels / gb
            out["cpu_all_s_per_gb"] = (tunnels + others) / gb
        if "tcp4" in metrics:
            out["tcp4_gbit"] = iperf(lab, target, seconds, streams=4)["bps"] / 1e9
        if "udp64" in metrics:
            out["udp64_kpps"] = iperf(lab, target, seconds, udp_len=64)["pps"] / 1e3
        if "udp1400" in metrics:
            out["udp1400_kpps"] = iperf(lab, target, seconds, udp_len=1400)["pps"] / 1e3
        if sides:
            ours = [s for s in sides if s.kind == "ours"] or sides
            out["rss_peak_mb"] = max(s.hwm_mb() for s in ours)
    finally:
        for s in sides:
            s.stop()
    return out


# ------------------------------------------------------------ failover

def measure_failover(rounds, out):
    """The agent's server failover, in the household lab with the reference
    VPN Spot service and two gateways, at the default supervisor and
    WireGuard timing: the helpers of tests/router/test_service.py, whose
    failover test this repeats. Returns {"agent_start_to_lan_s": s,
    "failover_s": [s, ...], "failover_to": [server id, ...]}.

    agent_start_to_lan_s: an enrolled router's agent started, to the first
    LAN ping reply through the tunnel (server list, probing, handshake).
    failover_s: the gateway in use stops answering WireGuard (nft drop) under
    a 50 ms ping stream from the LAN, to the first reply through the other;
    the dead one is revived before the next round, which kills the other.
    Results go into `out` as they come, so a failed round keeps the others."""
    from tests.router import test_service as S
    from vpnspot_router.lab import topology as T
    missing = T.missing_tools()
    if missing:
        raise netns.LabError("the household lab needs %s" % ", ".join(missing))
    out.update({"failover_s": [], "failover_to": []})
    with netns.Lab() as lab:
        service = S.Service(lab)
        try:
            service.enroll()
            pinger = S.ping_stream(lab, T.GW_TUNNEL)
            try:
                t0 = time.time()
                service.start_agent(S.DEFAULT_TIMING_ENV)
                netns.wait_for(lambda: S.reply_times(lab, pinger), timeout=10,
                               what="a LAN ping reply through the tunnel")
            finally:
                lab.stop_process(pinger)
            out["agent_start_to_lan_s"] = S.reply_times(lab, pinger)[0] - t0
            ids = {"gw": "ams-gw", "gw2": "ams-gw2"}
            active, spare = "gw", "gw2"
            for _ in range(rounds):
                def ready():
                    st = service.status()
                    live = st["supervisor"].get("liveness") or {}
                    check = st.get("exit_address") or {}
                    return (st["state"] == "connected" and st["server"] == ids[active]
                            and live.get("answering") and check.get("state") != "checking")
                # Only a server that has answered a liveness probe is judged
                # actively (1 s + 2 x 0.5 s); before that, passively (15 s).
                # The steady state is measured: no connection check in flight
                # (it runs at connect, in a forked child, up to 5 s; the lab
                # routes its answer back through gw only).
                netns.wait_for(ready, timeout=20, interval=0.2,
                               what="the agent connected to %s with its probe answered" % ids[active])
                out["failover_s"].append(S.failover(service, active))
                netns.wait_for(lambda: service.status()["server"] == ids[spare], timeout=10,
                               what="the agent to report %s" % ids[spare])
                out["failover_to"].append(ids[spare])
                service.revive_gateway(active)
                active, spare = spare, active
        except (netns.LabError, AssertionError) as e:
            agent = getattr(service, "agent", None)
            tail = lab.read_log(agent).splitlines()[-15:] if agent is not None else []
            raise netns.LabError("%s\nthe agent's last log lines:\n  %s" % (e, "\n  ".join(tail)))
        finally:
            service.stop()
    return out


def summarize_failover(result):
    cells = {}
    for key, vals in (("failover_s", result.get("failover_s") or []),
                      ("agent_start_to_lan_s", [result["agent_start_to_lan_s"]]
                       if result.get("agent_start_to_lan_s") is not None else [])):
        if vals:
            cells[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                          "n": len(vals)}
    return cells


def print_failover(cells, error=None):
    print("\nThe agent in the household lab, default timing (s, lower is better; ours only:"
          "\n  wireguard-go has no agent and no server failover, so no ratio)")
    if error:
        print("  failed: %s" % error[:300])
    for key, label in (("failover_s", "gateway dies -> LAN traffic via the other"),
                       ("agent_start_to_lan_s", "agent start -> LAN traffic through the tunnel")):
        cell = cells.get(key)
        if cell:
            print("  %-46s %6s  (min %s, max %s, n=%d)" % (
                label, fmt(cell["median"]), fmt(cell["min"]), fmt(cell["max"]), cell["n"]))


# ------------------------------------------------------------ report

def summarize(samples):
    out = {}
    for name, runs in samples.items():
        row = {}
        for key, _label, _unit, _hb in COLUMNS:
            vals = [r[key] for r in runs if r.get(key) is not None]
            if vals:
                row[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                            "n": len(vals)}
        out[name] = row
    ref = out.get("wg-go", {})
    for name, row in out.items():
        for key, cell in row.items():
            r = ref.get(key)
            if r and r["median"]:
                cell["ratio_to_wg_go"] = cell["median"] / r["median"]
    return out


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def print_table(summary, order):
    for key, label, unit, higher in COLUMNS:
        if not any(key in summary.get(n, {}) for n in order):
            continue
        print("\n%s (%s, %s is better)" % (label, unit, "higher" if higher else "lower"))
        for name in order:
            cell = summary.get(name, {}).get(key)
            if cell is None:
                continue
            ratio = cell.get("ratio_to_wg_go")
            print("  %-17s %8s  (min %s, max %s, n=%d)%s" % (
                name, fmt(cell["median"]), fmt(cell["min"]), fmt(cell["max"]), cell["n"],
                "   x%.2f of wg-go" % ratio if ratio is not None else ""))
    print()
    for key, why in NOT_MEASURED.items():
        print("  %-20s %s" % (key, why))


def package_size():
    """{"package_size_kb", "bytes", "budget_kb", "within_budget"} of the .ipk as
    shipped, built now from this checkout; or {"error": why} if it cannot be built."""
    sys.path.insert(0, os.path.join(REPO, "firmware_pkg"))
    try:
        import build
        with tempfile.TemporaryDirectory() as tmp:
            size = os.path.getsize(build.build(tmp))
    except (SystemExit, Exception) as e:
        return {"error": "package build failed: %s" % e}
    return {"package_size_kb": round(size / 1024, 1), "bytes": size, "budget_kb": PACKAGE_BUDGET_KB,
            "within_budget": size <= PACKAGE_BUDGET_KB * 1024}


def print_package(package):
    if "error" in package:
        print("  %-20s %s" % ("package_size_kb", package["error"]))
        return
    print("  %-20s %.1f  (%d bytes; %s the %d KB budget)" % (
        "package_size_kb", package["package_size_kb"], package["bytes"],
        "within" if package["within_budget"] else "OVER", package["budget_kb"]))


def environment():
    def out(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return None
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "wireguard_go": out(["dpkg-query", "-W", "-f", "${Version}", "wireguard-go"]),
            "iperf3": (out(["iperf3", "--version"]) or "").splitlines()[0:1]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s measurements")
    ap.add_argument("--runs", type=int, help="rounds (default 3; --quick: 1)")
    ap.add_argument("--seconds", type=float, help="seconds per measurement (default 5; --quick: 2)")
    ap.add_argument("--contenders", default=",".join(DEFAULT_CONTENDERS),
                    help="comma list from: %s" % ", ".join(CONTENDERS))
    ap.add_argument("--metrics", default=",".join(METRICS), help="comma list from: %s" % ", ".join(METRICS))
    ap.add_argument("--qdisc", help="queueing discipline for every tunnel interface, e.g. fq_codel "
                    "(OpenWrt's default); default: the kernel's default")
    ap.add_argument("--out", default=os.path.join(REPO, "bench-results"))
    args = ap.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (2 if args.quick else 5)
    seconds = int(seconds) if seconds == int(seconds) else seconds
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    for n in names:
        if n.partition("+")[0] not in CONTENDERS:
            ap.error("unknown contender %r" % n)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    missing = netns.missing_tools(("ip", "wg", "wireguard-go", "iperf3", "ping"))
    if missing:
        print("missing tools: %s (run vpnspot_router/lab/setup.sh)" % ", ".join(missing), file=sys.stderr)
        return 2
    netns.sweep_stale()
    samples = {n: [] for n in names}
    errors = []
    package = package_size()
    print_package(package)
    if "error" in package:
        errors.append(package["error"])
    started = time.time()
    with netns.Lab() as lab:
        lab.add_ns("a")
        lab.add_ns("b")
        lab.add_link("a", "b", A_UNDER + "/24", B_UNDER + "/24")
        keys = {"a": netns.wg_genkey(), "b": netns.wg_genkey()}
        keys["a_pub"] = netns.wg_pubkey(keys["a"])
        keys["b_pub"] = netns.wg_pubkey(keys["b"])
        server = lab.popen("b", ["iperf3", "-s", "-p", str(IPERF_PORT)])
        time.sleep(0.3)
        seq = 0
        for rnd in range(runs):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                seq += 1
                t0 = time.monotonic()
                try:
                    r = measure(lab, name, seq, keys, seconds, metrics, server.pid, args.qdisc)
                except netns.LabError as e:
                    errors.append("%s round %d: %s" % (name, rnd + 1, e))
                    print("  %s round %d failed: %s" % (name, rnd + 1, str(e)[:300]), file=sys.stderr)
                    continue
                samples[name].append(r)
                print("round %d %-17s %s  (%.0f s)" % (rnd + 1, name, " ".join(
                    "%s=%s" % (k, fmt(v)) for k, v in sorted(r.items()) if v is not None),
                    time.monotonic() - t0), flush=True)
        lab.stop_process(server)
    failover = {}
    failover_error = None
    if "failover" in metrics:
        try:
            measure_failover(max(2, runs), failover)
            print("failover %s" % " ".join("%s=%s" % (k, v if isinstance(v, str) else fmt(v))
                                           for k, vs in sorted(failover.items())
                                           for v in (vs if isinstance(vs, list) else [vs])), flush=True)
        except (netns.LabError, AssertionError) as e:
            failover_error = "failover: %s" % e
            errors.append(failover_error)
            print("  %s" % failover_error, file=sys.stderr)
    failover_summary = summarize_failover(failover)
    memory, memory_errors = {}, []
    if "memory" in metrics:
        import agent_memory
        memory, memory_errors = agent_memory.bench(seconds)
        errors.extend(memory_errors)
    summary = summarize(samples)
    print("\nvpnspot data-plane benchmark: %d round(s), %s s per measurement, medians" % (runs, seconds))
    print_table(summary, names)
    if "failover" in metrics:
        print_failover(failover_summary, failover_error)
    if "memory" in metrics:
        agent_memory.print_bench(memory, memory_errors)
    print_package(package)
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(args.out, "bench-%s.json" % stamp)
    with open(path, "w") as f:
        json.dump({"started": started, "runs": runs, "qdisc": args.qdisc, "seconds": seconds, "contenders": names,
                   "metrics": metrics, "environment": environment(), "samples": samples,
                   "summary": summary, "package": package, "not_measured": NOT_MEASURED,
                   "failover": {"samples": failover, "summary": failover_summary},
                   "agent_memory": memory,
                   "errors": errors},
                  f, indent=1, sort_keys=True)
    print("\nwrote %s" % os.path.relpath(path, os.getcwd()))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
