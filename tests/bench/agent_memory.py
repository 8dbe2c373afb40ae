"""The always-on agent's memory, measured where it runs: `vpnspot agent`
enrolled with the reference VPN Spot service, connected, idle and under load.

    sudo .venv/bin/python tests/bench/agent_memory.py [--mode userspace,kernel] [--seconds S]

userspace  the household lab (vpnspot_router/lab/topology.py), on this
           machine's kernel, which has no WireGuard module: the agent
           carries the tunnel in its own thread. Load: iperf3 TCP from the
           LAN client to the site through the tunnel, both directions, then
           4 streams.
kernel     the router VM (lab/routervm.py: a stock Debian kernel under qemu,
           with the wireguard module; the host's Python and venv inside),
           the reference service and a wireguard-go gateway in the namespace
           holding the VM's tap: the agent chooses kernel WireGuard and only
           watches it. Load: iperf3 TCP from a LAN client (a namespace in the
           VM, behind br-lan) to the gateway through the tunnel, both
           directions (the VM is emulated, so the rates are
           low; the agent's work per second is the same: a status read every
           0.2 s).

For each: VmRSS after connecting and a few quiet seconds (idle), VmRSS
after the load, VmHWM (the peak over the agent's whole life, start and
enrollment included), and what the agent has imported (the control
request "memory", driver.memory_report) - the heavy modules it must not
hold (ssl, http.client, email, pyroute2, bottle, serial, cryptography in
kernel mode, ...) are listed if present. tests/bench/run.py runs both once
per benchmark (metric "memory"; bench() and print_bench() below).

Lab addresses only (tests/conftest.py); everything is removed afterwards.
"""

import argparse
import json
import os
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from vpnspot_router.lab import netns  # noqa: E402

EMAIL = "household@example.net"
CODE = "VPNS-7Q4K-M2XD"
API_PORT = 8443
# Modules the always-on agent has no business holding; cryptography only
# when the kernel carries the tunnel.
HEAVY = ("ssl", "_ssl", "http.client", "email", "pyroute2", "bottle", "serial", "wsgiref",
         "http.server", "importlib.metadata", "hypothesis", "vpnspot_router.web",
         "vpnspot_router.console", "vpnspot_router.provider.transport",
         "vpnspot_router.provider.spec", "_hashlib", "logging.handlers")
HEAVY_KERNEL = HEAVY + ("cryptography", "vpnspot_router.crypto.openssl", "vpnspot_router.tunnel.dataplane")


def heavy_modules(modules, kernel=False):
    names = HEAVY_KERNEL if kernel else HEAVY
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def _status_kb(text):
    out = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line[:5]] = int(line.split()[1])
    return out


def _figures(idle, load, memory, kernel):
    return {"rss_idle_mb": round(idle["VmRSS"] / 1024.0, 1),
            "rss_load_mb": round(load["VmRSS"] / 1024.0, 1),
            "hwm_mb": round(load["VmHWM"] / 1024.0, 1),
            "modules": len(memory["modules"]),
            "heavy_modules": heavy_modules(memory["modules"], kernel)}


def _iperf_mbit(stdout):
    try:
        end = json.loads(stdout)["end"]
        return round((end.get("sum_received") or end["sum"])["bits_per_second"] / 1e6, 1)
    except (ValueError, KeyError, TypeError):
        return None


# ------------------------------------------------------------ userspace

def measure_userspace(seconds=5, quiet=3.0, env=None, until=None):
    """Figures of the agent in the household lab (userspace data plane).
    env: more environment for the agent; until(requests) -> bool: wait for
    it (the service's requests so far) before measuring."""
    from vpnspot_router import driver
    from vpnspot_router.lab import topology as T
    from vpnspot_router.lab.household_demo import HouseholdDemo

    with netns.Lab() as lab:
        demo = HouseholdDemo(lab)
        demo.house = T.Household(lab)
        demo.start_service()
        try:
            proc = demo.enroll()
            if proc.returncode != 0:
                raise netns.LabError("enroll failed: %s %s" % (proc.stdout, proc.stderr))
            demo.agent = lab.popen("router", [
                sys.executable, "-m", "vpnspot_router", "agent", "--config-dir", demo.config,
                "--state-dir", demo.state, "--run-dir", demo.run_dir, "--lan", "br-lan",
                "--wan", "wan", "--tunnel", T.TUNNEL_IFNAME], env=dict(os.environ, **(env or {})))
            demo.house.agent = demo.agent
            netns.wait_for(lambda: demo.status().get("state") == "connected", timeout=40,
                           what="the agent to connect")
            demo.house.wait_connected(timeout=15)
            pid = demo.agent.pid

            def status():
                with open("/proc/%d/status" % pid) as f:
                    return _status_kb(f.read())
            if until is not None:
                netns.wait_for(lambda: until(demo.requests()), timeout=30,
                               what="the agent's requests to the service")
            time.sleep(quiet)
            idle = status()
            server = lab.popen("site", ["iperf3", "-s", "-p", "5201"])
            rates = {}
            try:
                time.sleep(0.3)
                for name, extra in (("tcp_up", []), ("tcp_down", ["-R"]), ("tcp_up_4", ["-P", "4"])):
                    r = lab.run("lan", "iperf3", "-c", T.SITE, "-p", "5201", "-J", "-t", str(seconds),
                                *extra, check=False, timeout=seconds + 60)
                    rates[name + "_mbit"] = _iperf_mbit(r.stdout)
            finally:
                lab.stop_process(server)
            load = status()
            memory = driver.control_call(demo.run_dir, {"cmd": "memory"})
            out = _figures(idle, load, memory, kernel=False)
            out["load"] = rates
            out["data_plane"] = (demo.status().get("data_plane") or {}).get("backend")
            out["requests"] = sorted(set("%s %s" % (r["method"], r["path"]) for r in demo.requests()))
            return out
        finally:
            if demo.agent is not None and demo.agent.poll() is None:
                lab.stop_process(demo.agent, timeout=10)
            lab.stop_process(demo.provider)


# ------------------------------------------------------------ kernel (router VM)

HOST_ADDR = "198.51.100.1"
GUEST_ADDR = "198.51.100.2"
GW_TUNNEL = "10.77.0.1"
GUEST_DIR = "/tmp/vpnspot-mem"
PYTHON = os.path.join(REPO, ".venv", "bin", "python")


def measure_kernel(seconds=5, quiet=5.0, log=None):
    """Figures of the agent in the router VM (kernel WireGuard)."""
    from vpnspot_router.lab import routervm

    missing = routervm.missing_tools() + netns.missing_tools()
    if missing:
        raise netns.LabError("the router VM needs %s (vpnspot_router/lab/setup.sh)" % ", ".join(missing))
    kernel = routervm.ensure_kernel(log=log)
    with netns.Lab() as lab:
        ns = lab.add_ns("vmhost")
        vm = routervm.RouterVM(kernel, lab.tmpdir, netns=ns)
        vm.start()
        try:
            lab.run(ns, "ip", "addr", "add", HOST_ADDR + "/24", "dev", vm.tap_name)
            lab.run(ns, "ip", "link", "set", vm.tap_name, "up")
            _vm(vm, "modprobe virtio_net 2>/dev/null; ip addr add %s/24 dev eth0 && ip link set eth0 up"
                % GUEST_ADDR)
            netns.wait_for(lambda: vm.run("ping -c 1 -W 1 %s" % HOST_ADDR).ok, timeout=30,
                           what="the VM to reach the namespace")
            return kernel_agent_in_vm(lab, ns, vm, seconds, quiet)
        finally:
            vm.stop()


def _vm(vm, command, timeout=300.0):
    result = vm.run(command, timeout=timeout)
    if result.status != 0:
        raise netns.LabError("in the router VM: `%s` failed (%s):\n%s"
                             % (command[:200], result.status, result.output[-2000:]))
    return result.output


def kernel_agent_in_vm(lab, ns, vm, seconds=5, quiet=5.0):
    """The measurement on a running router VM whose eth0 (GUEST_ADDR) reaches
    HOST_ADDR on the tap in namespace role `ns` (tests/vm/conftest.py's
    layout). Everything it adds to the VM is removed again."""
    gw_key = netns.wg_genkey()
    gw = lab.start_wireguard_go(ns, "mg0", gw_key, listen_port=51820,
                                address_cidrs=[GW_TUNNEL + "/24"])
    pdir = os.path.join(lab.tmpdir, "provider")
    os.makedirs(pdir, exist_ok=True)
    servers = os.path.join(lab.tmpdir, "servers.json")
    with open(servers, "w") as f:
        json.dump([{"id": "ams-gw", "region": "europe", "country": "NL", "city": "Amsterdam",
                    "hostname": "gw.vpnspot.test", "endpoint": "%s:51820" % HOST_ADDR,
                    "public_key": gw.public_key, "load": 10, "ipv6": False, "dns": [GW_TUNNEL]}], f)
    provider = lab.popen(ns, [
        sys.executable, "-m", "vpnspot_router", "lab", "provider", "--listen",
        "%s:%d" % (HOST_ADDR, API_PORT), "--state", pdir, "--servers", servers,
        "--gateway", "ams-gw=%s/%s" % (lab.name(ns), gw.ifname),
        "--account", "%s=%s" % (EMAIL, CODE)])
    iperf = lab.popen(ns, ["iperf3", "-s", "-p", "5201"])
    pid = None
    try:
        netns.wait_for(lambda: "VPN Spot lab service" in lab.read_log(provider), timeout=30,
                       what="the reference VPN Spot service")
        with open(os.path.join(pdir, "tls", "ca.pem")) as src, \
                open(os.path.join(vm.xfer_dir, "ca.pem"), "w") as dst:
            dst.write(src.read())
        d = GUEST_DIR
        _vm(vm, "mkdir -p %s/config %s/state %s/run && printf \"config vpnspot 'main'\\n"
            "\\toption region 'europe'\\n\\toption kill_switch '1'\\n\" > %s/config/vpnspot"
            % (d, d, d, d))
        # The router's LAN: a bridge with one client, in a namespace of its own
        # inside the VM, whose traffic the agent's policy routing sends
        # through the tunnel (the router's own traffic takes the main table).
        _vm(vm, "sysctl -qw net.ipv4.ip_forward=1 && ip link add br-lan type bridge"
            " && ip addr add 192.168.77.1/24 dev br-lan && ip link set br-lan up"
            " && ip netns add lan && ip link add lan0 type veth peer name eth0 netns lan"
            " && ip link set lan0 master br-lan up && ip -n lan addr add 192.168.77.10/24 dev eth0"
            " && ip -n lan link set eth0 up && ip -n lan link set lo up"
            " && ip -n lan route add default via 192.168.77.1")
        _vm(vm, "cd %s && %s -m vpnspot_router enroll --email %s --code %s --api "
            "https://api.vpnspot.test:%d --ca /xfer/ca.pem --resolve api.vpnspot.test=%s "
            "--state %s/state" % (REPO, PYTHON, EMAIL, CODE, API_PORT, HOST_ADDR, d))
        out = _vm(vm, "cd %s && (%s -m vpnspot_router agent --config-dir %s/config --state-dir "
                  "%s/state --run-dir %s/run --lan br-lan --wan eth0 --tunnel vpnspot0 "
                  "> %s/agent.log 2>&1 & echo PID=$!)" % (REPO, PYTHON, d, d, d, d))
        pid = int(out.split("PID=")[1].split()[0])

        def agent_state():
            r = vm.run("cat %s/run/agent.json 2>/dev/null | tr -d '\\n' | "
                       "grep -o '\"state\": *\"[a-z_]*\"' | tail -1; kill -0 %d" % (d, pid))
            if r.status != 0:
                raise netns.LabError("the agent in the VM exited:\n%s"
                                     % vm.run("tail -30 %s/agent.log" % d).output)
            return "connected" in r.output
        try:
            netns.wait_for(agent_state, timeout=240, interval=2.0,
                           what="the agent in the VM to connect")
        except netns.LabError as e:
            raise netns.LabError("%s; its log:\n%s" % (e, vm.run("tail -40 %s/agent.log" % d).output))
        netns.wait_for(lambda: vm.run("ip netns exec lan ping -c 1 -W 2 %s" % GW_TUNNEL).ok,
                       timeout=60, interval=1.0,
                       what="a ping from the VM's LAN client through kernel WireGuard")
        time.sleep(quiet)
        idle = _status_kb(_vm(vm, "grep -E '^Vm(RSS|HWM)' /proc/%d/status" % pid))
        rates = {}
        for name, extra in (("tcp_up", ""), ("tcp_down", " -R")):
            r = vm.run("ip netns exec lan iperf3 -c %s -p 5201 -J -t %s%s > /xfer/iperf.json"
                       % (GW_TUNNEL, seconds, extra), timeout=seconds + 120)
            with open(os.path.join(vm.xfer_dir, "iperf.json")) as f:
                rates[name + "_mbit"] = _iperf_mbit(f.read()) if r.status == 0 else None
        load = _status_kb(_vm(vm, "grep -E '^Vm(RSS|HWM)' /proc/%d/status" % pid))
        _vm(vm, "cd %s && %s -c \"import json; from vpnspot_router import driver; "
            "print(json.dumps(driver.control_call('%s/run', {'cmd': 'memory'})))\" > /xfer/memory.json"
            % (REPO, PYTHON, d))
        with open(os.path.join(vm.xfer_dir, "memory.json")) as f:
            memory = json.load(f)
        _vm(vm, "cp %s/run/agent.json /xfer/agent.json" % d)
        with open(os.path.join(vm.xfer_dir, "agent.json")) as f:
            plane = (json.load(f).get("data_plane") or {}).get("backend")
        if plane != "kernel":
            raise netns.LabError("the agent in the VM runs %s WireGuard, not kernel WireGuard" % plane)
        result = _figures(idle, load, memory, kernel=True)
        result["load"] = rates
        result["data_plane"] = plane
        return result
    finally:
        if pid is not None:
            vm.run("kill %d; sleep 3" % pid, timeout=60)
        # What the agent keeps after it stops (the kill switch fails closed)
        # and what was built for it.
        vm.run("nft delete table inet vpnspot; ip rule del pref 9990; ip rule del pref 10000;"
               " ip route flush table 51820; ip -6 route flush table 51820; ip netns del lan;"
               " ip link del br-lan; ip link del vpnspot0; rm -rf %s" % GUEST_DIR, timeout=60)
        lab.stop_process(iperf)
        lab.stop_process(provider)
        gw.stop()


# ------------------------------------------------------------ for run.py

BUDGET_MB = {"userspace": 30.0, "kernel": 20.0}       # issue 12's targets
LABELS = {"userspace": "userspace WireGuard (household lab)",
          "kernel": "kernel WireGuard (router VM)"}


def bench(seconds=5, modes=("userspace", "kernel")):
    """({mode: figures}, [error text]) for tests/bench/run.py: each mode once."""
    results, errors = {}, []
    for mode in modes:
        fn = {"userspace": measure_userspace, "kernel": measure_kernel}[mode]
        try:
            results[mode] = fn(seconds)
        except Exception as e:          # a lab or VM that cannot run: reported, not fatal
            errors.append("agent memory, %s: %s" % (mode, e))
    return results, errors


def print_bench(results, errors=()):
    print("\nThe always-on agent (`vpnspot agent`, enrolled, connected): RSS in MB, lower is better;"
          "\n  budget %s (issue 12); peak = VmHWM over its whole life"
          % ", ".join("%s %g" % kv for kv in sorted(BUDGET_MB.items())))
    for mode in ("userspace", "kernel"):
        r = results.get(mode)
        if r is None:
            continue
        worst = max(r["rss_load_mb"], r["hwm_mb"])
        print("  %-38s idle %5.1f  under load %5.1f  peak %5.1f  %s%s" % (
            LABELS[mode], r["rss_idle_mb"], r["rss_load_mb"], r["hwm_mb"],
            "within budget" if worst <= BUDGET_MB[mode] else "OVER BUDGET",
            "" if not r["heavy_modules"] else "; holds %s" % ", ".join(r["heavy_modules"])))
    for e in errors:
        print("  failed: %s" % str(e)[:300])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", default="userspace,kernel", help="comma list: userspace, kernel")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per load test (default 5)")
    args = ap.parse_args(argv)
    seconds = int(args.seconds) if args.seconds == int(args.seconds) else args.seconds
    netns.sweep_stale()
    results = {}
    for mode in [m.strip() for m in args.mode.split(",") if m.strip()]:
        fn = {"userspace": measure_userspace, "kernel": measure_kernel}[mode]
        try:
            results[mode] = fn(seconds)
        except (netns.LabError, OSError) as e:
            results[mode] = {"error": str(e)}
        print("%s: %s" % (mode, json.dumps(results[mode], sort_keys=True)), flush=True)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
