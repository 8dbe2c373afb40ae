"""The README's main job, run as a test: `vpnspot lab demo` must hold every
claim, and the household web UI it prints must answer from this machine and
show the demo router protected, while the ISP's side cannot reach it."""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import urllib.parse

from vpnspot_router.lab import demo
from vpnspot_router.lab.household_demo import fetch


def namespaces():
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True,
                              text=True).stdout.split())


def read_until(proc, out, needle, timeout):
    """Append the demo's stdout to `out` until `needle` appears or it exits."""
    deadline = time.monotonic() + timeout
    while needle not in out[0]:
        if time.monotonic() > deadline:
            raise AssertionError("no %r within %d s:\n%s" % (needle, timeout, out[0]))
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError("the demo exited (%s):\n%s" % (proc.wait(), out[0]))
            out[0] += chunk.decode(errors="replace")


def sign_in_as_household(base, cert, code):
    """What a household does on first visit: type the setup code the demo
    printed and choose the admin password; then the status page. Returns
    its HTML."""
    import http.cookiejar
    import ssl
    import urllib.request
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cert)),
        urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(base + "setup/password", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrf": csrf, "password": "demo-household-pw",
                                   "repeat": "demo-household-pw", "setup_code": code}).encode()
    opener.open(base + "setup/password", data=data, timeout=10).read()
    with opener.open(base + "status", timeout=10) as r:
        assert r.url == base + "status", r.url
        return r.read().decode()


def test_the_lab_demo_proves_its_claims_and_serves_the_household_ui_until_ctrl_c():
    before = namespaces()
    # A terminal on stdin: the demo keeps the lab up after its proofs, as for
    # a household at the keyboard, until Ctrl-C.
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "vpnspot_router", "lab", "demo",
                             "--megabytes", "5"], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    os.close(slave)
    out = [""]
    try:
        read_until(proc, out, "press Ctrl-C", timeout=240)
        text = out[0]
        print(text)
        assert "[FAIL]" not in text
        assert text.count("[PASS]") >= 28
        assert "marker seen 0 times on the wire" in text
        assert "packets leaked = 0" in text
        assert "every report carried only the whitelist" in text
        url = re.search(r"Household web UI: (https://127\.0\.0\.1:\d+/)", text).group(1)
        cert = re.search(r"\(file (/\S+\.pem)\)", text).group(1)

        # The printed address answers on this machine's loopback, and the
        # page there shows the demo router protected.
        status, headers, _ = fetch(url, cert)
        assert status == 303 and headers["Location"] == url + "setup/password", headers
        code = re.search(r"Setup code: ([A-Z0-9]{5}-[A-Z0-9]{5}) ", text).group(1)
        page = sign_in_as_household(url, cert, code)
        assert "Protected: all traffic of your home goes through the VPN Spot tunnel." in page
        assert "ams-gw (Amsterdam, NL)" in page
        assert 'data-field="kill_switch">on<' in page

        # The ISP's side: the router's WAN address does not answer on the UI port.
        prefix = re.search(r"namespaces (vs\w+)<role>", text).group(1)
        wan = [prefix + "wan"]
        assert wan[0] in namespaces(), (wan, namespaces())
        probe = subprocess.run(
            ["ip", "netns", "exec", wan[0], sys.executable, "-c",
             "import socket\ntry:\n socket.create_connection(('198.51.100.2', 443), timeout=2)\n"
             " print('connected')\nexcept OSError as e:\n print(type(e).__name__)"],
            capture_output=True, text=True, timeout=20)
        assert probe.stdout.strip() == "ConnectionRefusedError", probe
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)       # Ctrl-C, as the household would
        rest = proc.communicate(timeout=60)[0].decode(errors="replace")
        os.close(master)
    print(rest)
    assert proc.returncode == 0, out[0] + rest
    assert "Removing the lab." in rest
    # Only this run's labs: other lab runs on the machine may be up meanwhile.
    ours = set(re.findall(r"namespaces (vs\w+)<role>", out[0] + rest))
    assert ours and not {ns for ns in namespaces() - before if ns[:8] in ours}
    try:
        fetch(url, cert, timeout=3)
    except OSError:
        pass
    else:
        raise AssertionError("the web UI still answers at %s after Ctrl-C" % url)


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
