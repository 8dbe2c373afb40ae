"""Two of our tunnels against each other, where every offload meets its own
kind: TSO super-packets segmented on one side, UDP GSO bursts received with
GRO and coalesced into TUN super-packets on the other. The transfers are
checksummed end to end, so a wrong TCP checksum, sequence number or length
shows up as a stalled or corrupted transfer."""

import json
import os
import sys

import pytest

from .test_dataplane import REPO, _genkey, _pubkey, sigterm_and_wait, wait_file

ALL_OFF = {"VPNSPOT_TUN_TSO": "0", "VPNSPOT_TUN_COALESCE": "0",
           "VPNSPOT_UDP_GSO": "0", "VPNSPOT_UDP_GRO": "0"}


def start_pair(lab, env):
    lab.add_ns("a")
    lab.add_ns("b")
    lab.add_link("a", "b", "198.51.100.1/24", "198.51.100.2/24")
    ka, kb = _genkey(), _genkey()
    confs = {
        "a": "[Interface]\nPrivateKey = %s\nAddress = 10.77.0.1/24, fd77:77::1/64\nListenPort = 51820\n"
             "[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.2/32, fd77:77::2/128\n"
             "Endpoint = 198.51.100.2:51820\n" % (ka, _pubkey(kb)),
        "b": "[Interface]\nPrivateKey = %s\nAddress = 10.77.0.2/24, fd77:77::2/64\nListenPort = 51820\n"
             "[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.1/32, fd77:77::1/128\n" % (kb, _pubkey(ka)),
    }
    full_env = dict(os.environ)
    full_env.update(env)
    procs = {}
    for side, text in confs.items():
        path = os.path.join(lab.tmpdir, "wg%s.conf" % side)
        with open(path, "w") as f:
            f.write(text)
        procs[side] = lab.popen(side, [sys.executable, "-m", "vpnspot_router", "tunnel", "up", path,
                                       "--ifname", "vs%s0" % side, "--status-file",
                                       os.path.join(lab.tmpdir, "%s.json" % side)], cwd=REPO, env=full_env)
    for side, proc in procs.items():
        wait_file(os.path.join(lab.tmpdir, "%s.json" % side), proc=proc, lab=lab)
    lab.ping("a", "10.77.0.2", count=2)
    return procs


@pytest.mark.interop
@pytest.mark.parametrize("offloads", ["default", "all-on", "all-off"])
def test_our_two_tunnels_carry_tcp_intact_both_ways_over_ipv4_and_ipv6(lab, offloads):
    env = {"default": {}, "all-on": {"VPNSPOT_TUN_TSO": "1", "VPNSPOT_TUN_WRITER": "1"}, "all-off": ALL_OFF}[offloads]
    procs = start_pair(lab, env)
    nbytes = 30 * 1024 * 1024
    port = 5001
    for src, dst, addr in (("a", "b", "10.77.0.2"), ("b", "a", "10.77.0.1"),
                           ("a", "b", "fd77:77::2"), ("b", "a", "fd77:77::1")):
        result = lab.tcp_transfer(src, dst, addr, nbytes, port=port, timeout=120)
        port += 1
        assert result.received_bytes == nbytes, (src, addr)
        assert result.received_sha256 == result.sent_sha256, (src, addr)
    log = lab.read_log(procs["a"])
    want = {"default": "TSO=False coalesce=True writer thread=False, UDP GSO=True GRO=True",
            "all-on": "TSO=True coalesce=True writer thread=True, UDP GSO=True GRO=True",
            "all-off": "vnet header=False TSO=False coalesce=False writer thread=False, UDP GSO=False GRO=False"}[offloads]
    assert want in log, log
    for proc in procs.values():
        assert sigterm_and_wait(proc) == 0, lab.read_log(proc)
    status = json.load(open(os.path.join(lab.tmpdir, "b.json")))
    assert status["counters"]["core_errors"] == 0
    assert status["counters"]["tun_write_errors"] == 0
