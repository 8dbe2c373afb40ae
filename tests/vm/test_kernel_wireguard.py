"""Kernel WireGuard, configured by tunnel/kernel.py, on the router VM's kernel.

Topology (tests/vm/conftest.py): the namespace holding qemu's tap is
198.51.100.1, the VM 198.51.100.2; tunnel addresses 10.77.0.1 (namespace)
and 10.77.0.2 (VM). The namespace end is wireguard-go or our own userspace
tunnel; the VM end is always the kernel's WireGuard driven by our backend
(tests/vm/guest/kernel_driver.py, or `vpnspot tunnel up --backend kernel`).
"""

import json
import os
import sys
import time

from vpnspot_router.lab import netns

from .conftest import GUEST_ADDR, HOST_TAP_ADDR, REPO

DRIVER = "tests/vm/guest/kernel_driver.py"


def keypair():
    key = netns.wg_genkey()
    return key, netns.wg_pubkey(key)


def apply_in_vm(env, spec):
    path = env.write_xfer("spec-%d.json" % time.monotonic_ns(), json.dumps(spec))
    result = env.python("%s apply %s" % (DRIVER, path), timeout=120)
    assert result.status == 0, result.output[-3000:]
    return json.loads(result.output.strip().splitlines()[-1])


def status_in_vm(env, ifname):
    result = env.python("%s status %s" % (DRIVER, ifname), timeout=120)
    assert result.status == 0, result.output[-3000:]
    return json.loads(result.output.strip().splitlines()[-1])


def peer_status(status, public_key):
    return next(p for p in status["peers"] if p["public_key"] == public_key)


def vm_ping(env, addr, count=3):
    return env.run("ping -n -q -c %d -i 0.3 -W 2 %s" % (count, addr), timeout=60)


def start_gateway(env, vm_pub, port=51820):
    gw_key, _ = keypair()
    return env.lab.start_wireguard_go(
        env.ns, env.lab.wg_ifname("g%d" % (time.monotonic_ns() % 1000)), gw_key, listen_port=port,
        address_cidrs=["10.77.0.1/24"],
        peers=[{"public_key": vm_pub, "allowed_ips": ["10.77.0.2/32"],
                "endpoint": "%s:51820" % GUEST_ADDR}])


def vm_spec(vm_key, peers):
    return {"ifname": "wgk0", "private_key": vm_key, "listen_port": 51820,
            "addresses": ["10.77.0.2/24"], "mtu": 1420, "routes": [], "peers": peers}


def test_the_kernel_backend_carries_traffic_with_wireguard_go_and_reads_back_handshake_and_counters(vm_env):
    vm_key, vm_pub = keypair()
    gw = start_gateway(vm_env, vm_pub)
    try:
        out = apply_in_vm(vm_env, vm_spec(vm_key, [
            {"public_key": gw.public_key, "endpoint": [HOST_TAP_ADDR, 51820],
             "allowed_ips": ["10.77.0.1/32"], "persistent_keepalive": 0}]))
        assert not out["empty"] and "add peer %s (endpoint, allowed_ips, persistent_keepalive)" % gw.public_key[:8] in out["changes"]
        r = vm_ping(vm_env, "10.77.0.1")
        assert r.ok, r.output
        vm_env.lab.ping(vm_env.ns, "10.77.0.2")
        peer = peer_status(status_in_vm(vm_env, "wgk0"), gw.public_key)
        assert peer["last_handshake"] and abs(peer["last_handshake"] - time.time()) < 120
        assert peer["rx_bytes"] > 0 and peer["tx_bytes"] > 0
        assert peer["endpoint"] == "%s:51820" % HOST_TAP_ADDR
        assert gw.show().peers[vm_pub].latest_handshake > 0
    finally:
        gw.stop()


def test_the_same_desired_state_twice_changes_nothing_and_one_changed_peer_touches_only_that_peer(vm_env):
    vm_key, vm_pub = keypair()
    gw = start_gateway(vm_env, vm_pub)
    _, other_pub = keypair()
    try:
        gw_peer = {"public_key": gw.public_key, "endpoint": [HOST_TAP_ADDR, 51820],
                   "allowed_ips": ["10.77.0.1/32"]}
        other = {"public_key": other_pub, "allowed_ips": ["10.77.0.3/32"], "persistent_keepalive": 0}
        apply_in_vm(vm_env, vm_spec(vm_key, [gw_peer, other]))
        assert vm_ping(vm_env, "10.77.0.1").ok
        before = peer_status(status_in_vm(vm_env, "wgk0"), gw.public_key)
        assert before["last_handshake"] and before["rx_bytes"] > 0

        again = apply_in_vm(vm_env, vm_spec(vm_key, [gw_peer, other]))
        assert again["empty"] and again["changes"] == []

        other["persistent_keepalive"] = 33
        changed = apply_in_vm(vm_env, vm_spec(vm_key, [gw_peer, other]))
        assert changed["changes"] == ["update peer %s (persistent_keepalive)" % other_pub[:8]]
        after = changed["status"]
        assert peer_status(after, other_pub)["persistent_keepalive"] == 33
        kept = peer_status(after, gw.public_key)
        # Removed and re-added, the peer would have lost its session: no
        # handshake time and counters back at zero.
        assert kept["last_handshake"] == before["last_handshake"]
        assert kept["rx_bytes"] >= before["rx_bytes"] and kept["tx_bytes"] >= before["tx_bytes"]
        assert vm_ping(vm_env, "10.77.0.1", count=1).ok
    finally:
        gw.stop()


def _userspace_tunnel(env, us_key, vm_pub):
    conf = os.path.join(env.lab.tmpdir, "us-%d.conf" % time.monotonic_ns())
    with open(conf, "w") as f:
        f.write("\n".join(["[Interface]", "PrivateKey = " + us_key, "Address = 10.77.0.1/24",
                           "ListenPort = 51821", "", "[Peer]", "PublicKey = " + vm_pub,
                           "Endpoint = %s:51820" % GUEST_ADDR, "AllowedIPs = 10.77.0.0/24", ""]))
    ifname = env.lab.wg_ifname("u0")
    proc = env.lab.popen(env.ns, [sys.executable, "-m", "vpnspot_router", "tunnel", "up", conf,
                                  "--ifname", ifname, "--backend", "userspace",
                                  "--status-file", conf + ".status"])

    def up():
        if proc.poll() is not None:
            raise AssertionError("userspace tunnel exited:\n" + env.lab.read_log(proc))
        out = env.lab.run(env.ns, "ip", "-o", "addr", "show", "dev", ifname, check=False)
        return out.returncode == 0 and "10.77.0.1/24" in out.stdout
    netns.wait_for(up, timeout=20, what="the userspace tunnel in the namespace")
    return proc


def _wait_for_file_line(path, n, timeout):
    def ready():
        try:
            with open(path) as f:
                lines = [line for line in f.read().splitlines() if line.strip()]
        except OSError:
            return None
        return lines if len(lines) >= n else None
    return netns.wait_for(ready, timeout=timeout, interval=0.2, what=path)


def test_our_userspace_tunnel_and_the_vm_kernel_s_wireguard_ping_both_ways_and_move_data_intact(vm_env):
    env = vm_env
    us_key, us_pub = keypair()
    vm_key, vm_pub = keypair()
    kconf = env.write_xfer("k.conf", "\n".join([
        "[Interface]", "PrivateKey = " + vm_key, "Address = 10.77.0.2/24", "ListenPort = 51820", "",
        "[Peer]", "PublicKey = " + us_pub, "Endpoint = %s:51821" % HOST_TAP_ADDR,
        "AllowedIPs = 10.77.0.1/32", ""]))
    env.run("rm -f /xfer/k.status /xfer/k.log /xfer/sink.out")
    started = env.run("cd %s && nohup .venv/bin/python -m vpnspot_router tunnel up %s --ifname wgk0 "
                      "--backend kernel --status-file /xfer/k.status >/xfer/k.log 2>&1 & "
                      "echo $! > /xfer/k.pid" % (REPO, kconf))
    assert started.ok, started.output
    status_path = os.path.join(env.vm.xfer_dir, "k.status")
    log_path = os.path.join(env.vm.xfer_dir, "k.log")
    us = None
    try:
        netns.wait_for(lambda: os.path.exists(status_path), timeout=60,
                       what="the kernel tunnel's status file (log: %s)" % log_path)
        with open(log_path) as f:
            assert "kernel WireGuard" in f.read()
        us = _userspace_tunnel(env, us_key, vm_pub)
        r = vm_ping(env, "10.77.0.1")
        assert r.ok, r.output + env.lab.read_log(us)
        env.lab.ping(env.ns, "10.77.0.2")

        nbytes = 4 * 1024 * 1024
        # Namespace -> VM: sink in the VM, source in the namespace.
        with open(os.path.join(env.vm.xfer_dir, "sink.py"), "w") as f:
            f.write(netns._SINK_SCRIPT)
        env.run("cd / && nohup %s/.venv/bin/python /xfer/sink.py 10.77.0.2 5001 >/xfer/sink.out 2>&1 &"
                % REPO, check=True)
        sink_out = os.path.join(env.vm.xfer_dir, "sink.out")
        assert _wait_for_file_line(sink_out, 1, 60)[0] == "READY"
        sent = json.loads(env.lab.run(env.ns, sys.executable, "-c", netns._SOURCE_SCRIPT, "10.77.0.2",
                                      5001, nbytes, timeout=180).stdout)
        received = json.loads(_wait_for_file_line(sink_out, 2, 60)[1])
        assert sent["bytes"] == received["bytes"] == nbytes
        assert sent["sha256"] == received["sha256"]

        # VM -> namespace: sink in the namespace, source in the VM.
        sink = netns.TcpSink(env.lab, env.ns, "10.77.0.1", 5002)
        with open(os.path.join(env.vm.xfer_dir, "source.py"), "w") as f:
            f.write(netns._SOURCE_SCRIPT)
        r = env.run("%s/.venv/bin/python /xfer/source.py 10.77.0.1 5002 %d" % (REPO, nbytes), timeout=240)
        assert r.ok, r.output
        sent = json.loads(r.output.strip().splitlines()[-1])
        got_bytes, got_sha = sink.result(timeout=60)
        assert sent["bytes"] == got_bytes == nbytes and sent["sha256"] == got_sha

        with open(status_path) as f:
            peer = json.load(f)["peers"][0]
        assert peer["public_key"] == us_pub
    finally:
        env.run("kill $(cat /xfer/k.pid) 2>/dev/null; sleep 1")
        if us is not None:
            # Its 10.77.0.1/24 would shadow the next test's gateway in the
            # shared namespace (the session keeps one lab for all tests).
            us.terminate()
            us.wait(10)
    # SIGTERM took the kernel interface down with it.
    assert env.run("ip link show wgk0").status != 0


def test_the_agent_s_backend_choice_picks_kernel_wireguard_in_the_vm_and_it_carries_traffic(vm_env):
    """The same path as `vpnspot agent`: offload decision -> backend.select()
    -> the driver's _start_backend(), inside a kernel that has the module."""
    env = vm_env
    vm_key, vm_pub = keypair()
    gw = start_gateway(env, vm_pub)
    try:
        conf = env.write_xfer("agent-backend.conf", "\n".join([
            "[Interface]", "PrivateKey = " + vm_key, "Address = 10.77.0.2/24", "ListenPort = 51820",
            "", "[Peer]", "PublicKey = " + gw.public_key, "Endpoint = %s:51820" % HOST_TAP_ADDR,
            "AllowedIPs = 10.77.0.1/32", ""]))
        r = env.python("tests/vm/guest/agent_backend.py %s wgk0 /tmp/agent-backend-state" % conf,
                       timeout=180)
        assert r.ok, r.output[-3000:]
        out = json.loads(r.output.strip().splitlines()[-1])
        assert out["crypto"]["data_plane"] == "kernel", out["crypto"]
        assert out["data_plane"]["backend"] == "kernel", out["data_plane"]
        assert "using kernel WireGuard" in out["data_plane"]["reason"]
        assert out["status"]["backend"] == "kernel"

        ping = vm_ping(env, "10.77.0.1")
        assert ping.ok, ping.output
        env.lab.ping(env.ns, "10.77.0.2")
        peer = peer_status(status_in_vm(env, "wgk0"), gw.public_key)
        assert peer["last_handshake"] and peer["rx_bytes"] > 0 and peer["tx_bytes"] > 0
        # The tunnel's own UDP carries the routing mark that keeps it on the WAN.
        from vpnspot_router.net.routing import FWMARK
        assert env.run("wg show wgk0 fwmark").output.strip() == "0x%x" % FWMARK
    finally:
        gw.stop()
