"""Where the userspace tunnel's time goes, per stage, under a TCP load.

    sudo .venv/bin/python tests/bench/profile_dataplane.py                 # 5 s of iperf3 TCP, 1 stream
    sudo .venv/bin/python tests/bench/profile_dataplane.py --seconds 10 --streams 4 --env VPNSPOT_TUN_TSO=1
    sudo .venv/bin/python tests/bench/profile_dataplane.py --py-spy        # also py-spy flame graphs (SVG)

Builds the benchmark's two namespaces (tests/bench/run.py: A 198.51.100.1,
B 198.51.100.2, a veth between them) with our tunnel on both ends, and runs
iperf3 from A (sending) to B (receiving). Each tunnel process runs under
this file's stage timer (`--stages OUT -- VPNSPOT-ARGS`): before the data
plane starts it wraps the functions of each stage (table STAGES) in a
timer that keeps self time (a stage's time minus the stages it calls), and
SIGUSR2 starts and ends the measured window, so start-up and the handshake
are not counted. Per side it prints each stage's time per data packet (A:
packets read from TUN and encrypted; B: packets decrypted and written to
TUN; each side also handles the other direction's ACKs, whose cost is in
the same rows); "poll wait" is the time the loop slept in select() with
nothing to do. Stage times are wall clock inside the process, so a system
call's time includes the kernel's work in it (a TUN write runs the kernel's
TCP receive path), and also any time the process waited for a CPU while
busy there: on a 2-CPU machine running both tunnels and both iperf3 ends
that is a large part. So the table also shares the process's CPU time
(getrusage over the window) out over the stages in proportion to their wall
time: "CPU us" per packet, an estimate that holds when the waiting falls
evenly. (Per-stage CPU clocks would be exact, but a thread CPU clock read
costs ~0.7 us here, more than some stages.) The timers cost about 0.1-0.3 us
per timed call (measured and printed).

Writes the table's numbers (and the raw per-stage totals) as JSON under
bench-results/. Needs root, iperf3 and wireguard-go's tools like run.py.
"""

import argparse
import datetime
import json
import os
import resource
import signal
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, REPO)

# (stage label, module, attribute path, how to count packets: None, "one", "arg", "batches")
STAGES = [
    ("TUN read (os.read)", "vpnspot_router.tunnel.tun", "TunDevice.read", "one"),
    ("vnet header / TSO split + checksums", "vpnspot_router.tunnel.offload", "split_tun_read", None),
    ("core send: lookup, padding, framing", "vpnspot_router.core.wireguard.device",
     "Device.send_packets", "arg"),
    ("ChaCha20-Poly1305 seal", "vpnspot_router.crypto.openssl", "_OpenSSLAead.seal", "one"),
    ("UDP send (sendmsg GSO / sendto)", "vpnspot_router.tunnel.bind", "UdpBind.send_many", "arg"),
    ("UDP send (sendmsg GSO / sendto)", "vpnspot_router.tunnel.bind", "UdpBind.sendto", "one"),
    ("UDP receive (recvmsg GRO + split)", "vpnspot_router.tunnel.bind", "UdpBind.recv_batches", "batches"),
    ("core receive: parse, checks, timers", "vpnspot_router.core.wireguard.device",
     "Device.receive_datagrams", "arg"),
    ("replay window", "vpnspot_router.core.wireguard.replay", "ReplayWindow.check", None),
    ("replay window", "vpnspot_router.core.wireguard.replay", "ReplayWindow.mark", None),
    ("ChaCha20-Poly1305 open", "vpnspot_router.crypto.openssl", "_OpenSSLAead.open", "one"),
    ("coalesce into TUN super-packets", "vpnspot_router.tunnel.offload", "coalesce", None),
    ("checksums (offload.sum16)", "vpnspot_router.tunnel.offload", "sum16", None),
    ("TUN write (writev)", "vpnspot_router.tunnel.tun", "TunDevice.write_packets", "arg"),
    ("TUN write (writev)", "vpnspot_router.tunnel.tun", "TunDevice.write", "one"),
    ("dispatch + counters", "vpnspot_router.tunnel.dataplane", "DataPlane.dispatch", None),
    ("poll wait (idle)", "selectors", "EpollSelector.select", None),
    ("loop: batching, ticks, status, rest", "vpnspot_router.tunnel.dataplane", "DataPlane.step", None),
]
SEND_STAGE = "core send: lookup, padding, framing"
IDLE_STAGE = "poll wait (idle)"
WRITE_STAGE = "TUN write (writev)"


# ------------------------------------------------------------- in the tunnel

class StageTimer:
    """Self time per stage label: [seconds, calls, packets]."""

    def __init__(self):
        self.totals = {}
        self.stack = []
        self.on = False

    def wrap(self, owner, attr, label, count):
        func = getattr(owner, attr)
        acc = self.totals.setdefault(label, [0.0, 0, 0])
        stack = self.stack
        pc = time.perf_counter
        timer = self

        def timed(*args, **kwargs):
            if not timer.on:
                return func(*args, **kwargs)
            stack.append(0.0)
            t0 = pc()
            try:
                result = func(*args, **kwargs)
            finally:
                dt = pc() - t0
                children = stack.pop()
                acc[0] += dt - children
                acc[1] += 1
                if stack:
                    stack[-1] += dt
            if count == "one":
                acc[2] += result is not None and result is not False
            elif count == "arg":
                acc[2] += len(args[1])
            elif count == "batches":
                acc[2] += sum(len(d) for d, _addr in result)
            return result
        timed.__name__ = getattr(func, "__name__", attr)
        setattr(owner, attr, timed)

    def install(self):
        import importlib
        for label, module, path, count in STAGES:
            try:
                owner = importlib.import_module(module)
            except ImportError:
                continue
            *parents, attr = path.split(".")
            for p in parents:
                owner = getattr(owner, p)
            self.wrap(owner, attr, label, count)

    def overhead_per_call(self, n=100000):
        """Seconds one timed call adds (a wrapped no-op against a bare one)."""
        class Probe:
            def noop(self):
                return None
        bare = Probe()
        pc = time.perf_counter
        t0 = pc()
        for _ in range(n):
            bare.noop()
        base = pc() - t0
        saved, self.totals = self.totals, {}
        self.wrap(Probe, "noop", "probe", None)
        probe = Probe()
        t0 = pc()
        for _ in range(n):
            probe.noop()
        wrapped = pc() - t0
        self.totals = saved
        return max(0.0, (wrapped - base) / n)


def run_tunnel(out_path, argv):
    timer = StageTimer()
    timer.install()
    window = {}

    def toggle(_sig, _frame):
        usage = resource.getrusage(resource.RUSAGE_SELF)    # all threads
        if not timer.on:
            for acc in timer.totals.values():
                acc[0], acc[1], acc[2] = 0.0, 0, 0
            window["t0"], window["cpu0"] = time.perf_counter(), usage.ru_utime + usage.ru_stime
            timer.on = True
            return
        timer.on = False
        data = {"seconds": time.perf_counter() - window["t0"],
                "cpu_seconds": usage.ru_utime + usage.ru_stime - window["cpu0"],
                "stages": timer.totals,
                "timer_overhead_s_per_call": timer.overhead_per_call()}
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, out_path)
    signal.signal(signal.SIGUSR2, toggle)
    from vpnspot_router import cli
    return cli.main(argv)


# ------------------------------------------------------------- the driver

def side_table(data, packets_stage):
    stages = data["stages"]
    packets = stages.get(packets_stage, [0, 0, 0])[2] or 1
    rows = {}
    for label, (secs, calls, items) in stages.items():
        rows[label] = {"us_per_packet": secs * 1e6 / packets, "share": secs / data["seconds"],
                       "calls": calls, "items": items, "seconds": secs}
    timed_calls = sum(v[1] for v in stages.values())
    busy = sum(r["seconds"] for k, r in rows.items() if k != IDLE_STAGE) or 1e-9
    for label, row in rows.items():
        # The process's CPU time shared out over the busy stages in
        # proportion to their wall time: what each costs per packet when no
        # other process competes for the CPU (an estimate; see the docstring).
        row["busy_share"] = 0.0 if label == IDLE_STAGE else row["seconds"] / busy
        row["cpu_us_per_packet"] = row["busy_share"] * data["cpu_seconds"] * 1e6 / packets
    return {"packets": packets, "rows": rows, "seconds": data["seconds"],
            "cpu_seconds": data["cpu_seconds"],
            "timer_overhead_share": timed_calls * data["timer_overhead_s_per_call"] / data["seconds"],
            "timer_overhead_us_per_call": data["timer_overhead_s_per_call"] * 1e6}


def print_tables(sides):
    a, b = sides["A"], sides["B"]
    print("\nPer data packet: each stage's self time (wall us), its share of the busy time, and"
          "\nthe process's CPU time shared out in that proportion (CPU us)")
    print("  %-38s %26s %26s" % ("stage", "A: sends (encrypts)", "B: receives (decrypts)"))
    seen = []
    for label, _m, _p, _c in STAGES:
        if label in seen:
            continue
        seen.append(label)
        cells = []
        for side in (a, b):
            row = side["rows"].get(label)
            if not row or not row["calls"]:
                cells.append("%26s" % "-")
            elif label == IDLE_STAGE:
                cells.append("%6.2f wall %5.1f %% of all" % (row["us_per_packet"], 100 * row["share"]))
            else:
                cells.append("%6.2f wall %5.1f %% %5.2f CPU" % (
                    row["us_per_packet"], 100 * row["busy_share"], row["cpu_us_per_packet"]))
        print("  %-38s %26s %26s" % (label, cells[0], cells[1]))
    for name, side in (("A", a), ("B", b)):
        busy = sum(r["seconds"] for k, r in side["rows"].items() if k != IDLE_STAGE)
        print("  %s: %d data packets in %.1f s (%.0f per s); busy (not in poll) %.0f%% of the window, "
              "%.1f us per packet;\n     process CPU %.0f%% of one core, %.1f us per packet (busy time "
              "not on a CPU waited for one); timers ~%.2f us per call, ~%.1f%% of the window"
              % (name, side["packets"], side["seconds"], side["packets"] / side["seconds"],
                 100 * busy / side["seconds"], busy * 1e6 / side["packets"],
                 100 * side["cpu_seconds"] / side["seconds"], side["cpu_seconds"] * 1e6 / side["packets"],
                 side["timer_overhead_us_per_call"], 100 * side["timer_overhead_share"]))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--stages"]:
        if len(argv) < 3 or argv[2] != "--":
            print("usage: profile_dataplane.py --stages OUT.json -- VPNSPOT-ARGS...", file=sys.stderr)
            return 2
        return run_tunnel(argv[1], argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="measured window (default 5)")
    ap.add_argument("--streams", type=int, default=1, help="iperf3 TCP streams (default 1)")
    ap.add_argument("--env", action="append", default=[], metavar="VAR=VALUE",
                    help="environment for both tunnels, e.g. VPNSPOT_TUN_TSO=1 (repeatable)")
    ap.add_argument("--py-spy", action="store_true",
                    help="also record each tunnel with py-spy over the window (flame graph SVGs)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench-results"))
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run as bench
    from vpnspot_router.lab import netns
    missing = netns.missing_tools(("ip", "wg", "iperf3", "ping"))
    if missing:
        print("missing tools: %s (run vpnspot_router/lab/setup.sh)" % ", ".join(missing), file=sys.stderr)
        return 2
    env = dict(item.split("=", 1) for item in args.env)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    netns.sweep_stale()
    sides = {}
    spies = []
    with netns.Lab() as lab:
        lab.add_ns("a")
        lab.add_ns("b")
        lab.add_link("a", "b", bench.A_UNDER + "/24", bench.B_UNDER + "/24")
        keys = {"a": netns.wg_genkey(), "b": netns.wg_genkey()}
        keys["a_pub"] = netns.wg_pubkey(keys["a"])
        keys["b_pub"] = netns.wg_pubkey(keys["b"])
        server = lab.popen("b", ["iperf3", "-s", "-p", str(bench.IPERF_PORT)])
        outs = {ns: os.path.join(lab.tmpdir, "stages-%s.json" % ns) for ns in ("a", "b")}
        tunnels = [bench.Side(lab, "ours", ns, 1, keys, env, runner=[
            sys.executable, os.path.abspath(__file__), "--stages", outs[ns], "--"]) for ns in ("a", "b")]
        try:
            bench.first_ping_ms(lab, bench.B_TUN)
            # iperf3 in the background: 1 s to ramp up, the window, 1 s spare.
            total = int(args.seconds + 2.5)
            argv_iperf = ["iperf3", "-c", bench.B_TUN, "-p", str(bench.IPERF_PORT), "-t", str(total)]
            if args.streams > 1:
                argv_iperf += ["-P", str(args.streams)]
            load = subprocess.Popen(["ip", "netns", "exec", lab.name("a")] + argv_iperf,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(1.0)
            for t in tunnels:
                os.kill(t.pid, signal.SIGUSR2)
            if args.py_spy:
                spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
                for t in tunnels:
                    svg = os.path.join(args.out, "profile-%s-%s.svg" % (stamp, t.ns))
                    spies.append(svg)
                    subprocess.Popen([spy, "record", "--nonblocking", "--idle", "-p", str(t.pid),
                                      "-d", str(int(args.seconds)), "-o", svg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(args.seconds)
            for t in tunnels:
                os.kill(t.pid, signal.SIGUSR2)
            for ns, path in outs.items():
                netns.wait_for(lambda: os.path.exists(path), timeout=10, what="the stage totals of " + ns)
                with open(path) as f:
                    sides[ns.upper()] = json.load(f)
            iperf_text = load.communicate(timeout=total + 30)[0]
        finally:
            for t in tunnels:
                t.stop()
            lab.stop_process(server)
    tables = {"A": side_table(sides["A"], SEND_STAGE), "B": side_table(sides["B"], WRITE_STAGE)}
    print("vpnspot userspace tunnel, ours <-> ours, iperf3 TCP %d stream(s), %.1f s window%s"
          % (args.streams, args.seconds, (", env " + " ".join(args.env)) if args.env else ""))
    summary = [line for line in iperf_text.splitlines() if "sender" in line or "receiver" in line]
    for line in summary[-2:]:
        print("  iperf3: " + " ".join(line.split()))
    print_tables(tables)
    path = os.path.join(args.out, "profile-%s.json" % stamp)
    with open(path, "w") as f:
        json.dump({"seconds": args.seconds, "streams": args.streams, "env": env, "sides": tables,
                   "raw": sides, "iperf3": summary, "py_spy": spies}, f, indent=1, sort_keys=True)
    print("\nwrote %s%s" % (os.path.relpath(path, os.getcwd()),
                            "".join("\nwrote %s" % os.path.relpath(s, os.getcwd()) for s in spies)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
