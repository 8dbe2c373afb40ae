"""The README's main job, run as a test: `vpnspot lab demo` must hold every claim."""

import io
import subprocess
import sys

from vpnspot_router.lab import demo


def test_the_lab_demo_proves_its_claims_and_leaves_nothing_behind():
    before = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    proc = subprocess.run([sys.executable, "-m", "vpnspot_router", "lab", "demo", "--megabytes", "5"],
                          capture_output=True, text=True, timeout=180)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[FAIL]" not in proc.stdout
    assert proc.stdout.count("[PASS]") >= 10
    assert "marker seen 0 times on the wire" in proc.stdout
    after = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    assert not {ns for ns in after - before if ns.startswith("vs")}


def test_the_wire_tally_counts_anything_but_wireguard_as_a_leak():
    lines = [
        "13:00:00.000001 IP 198.51.100.2.40000 > 198.51.100.1.51820: UDP, length 148",
        "13:00:00.000002 IP 198.51.100.1.51820 > 198.51.100.2.40000: UDP, length 92",
        "13:00:00.000003 IP6 fe80::1 > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28",
        "13:00:00.000004 IP 192.168.77.10.5353 > 198.51.100.1.53: 1+ A? example.test. (30)",
        "13:00:00.000005 IP6 fd77:77::2 > fd77:77::1: ICMP6, echo request, id 1, seq 1, length 64",
    ]
    tally = demo.classify(lines)
    assert tally["ip_packets"] == 5
    assert tally["wireguard"] == 2
    assert tally["link_control"] == 1
    assert tally["other"] == 2
    assert len(tally["other_examples"]) == 2
