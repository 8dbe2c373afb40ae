"""Bad logins against the web UI, as its own process on loopback.

A stream: `vpnspot web --fake --http` on 127.0.0.1 (the fake backend: no
router files touched). An attacker on the LAN sends 1,500 wrong
passwords, each from a fresh session as a script rotating cookies would:
the lockout must hold (even the right password is refused while locked),
the sessions table must stay bounded (security.MAX_SESSIONS) so the
process's memory (VmRSS, printed) does not grow with the stream, and the
UI must keep answering.

A burst: the real server (`vpnspot web` over HTTPS with the router's own
backend over temporary directories) gets 64 wrong passwords at once. At
most MAX_FAILURES are checked (each costs scrypt's 16 MiB), one at a
time, so the process's peak memory (VmHWM) stays under the web process
budget; the lockout then survives a kill -9 of the process.
"""

import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from vpnspot_router import setupcode
from vpnspot_router.web import security

from faults.household import rss_kib

PASSWORD = "correct horse battery"
ATTEMPTS = 1500
WEB_RSS_BUDGET_KIB = 64 * 1024


class Browser:
    """One cookie jar over plain HTTP/1.0 connections to the UI."""

    def __init__(self, port, https=False):
        self.port = port
        self.https = https
        self.cookie = None
        self.csrf = None

    def request(self, method, path, fields=None):
        if self.https:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context,
                                               timeout=60)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Host": "127.0.0.1:%d" % self.port}
        body = None
        if fields is not None:
            fields = dict(fields, csrf=self.csrf or "")
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookie:
            headers["Cookie"] = "%s=%s" % (security.COOKIE_NAME, self.cookie)
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie" and value.startswith(security.COOKIE_NAME + "="):
                self.cookie = value.split("=", 1)[1].split(";", 1)[0] or None
        m = re.search(r'name="csrf-token" content="([^"]+)"', text)
        if m:
            self.csrf = m.group(1)
        return resp.status, text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vpnspot_router", "web", "--fake", "--http",
                             "--listen", "127.0.0.1:%d" % port, "--state", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert b"web UI: open" in proc.stdout.readline()
        setup = Browser(port)
        setup.request("GET", "/setup/password")
        status, _ = setup.request("POST", "/setup/password", {
            "password": PASSWORD, "repeat": PASSWORD,
            "setup_code": setupcode.current(str(tmp_path))[0]})
        assert status == 303
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_stream_of_bad_logins_keeps_the_lockout_and_the_memory_bounded(web):
    proc, port = web
    # Warm up: the first pages load templates and modules once.
    for _ in range(20):
        b = Browser(port)
        b.request("GET", "/login")
    rss = [rss_kib(proc.pid)]
    statuses = {}
    t0 = time.monotonic()
    for i in range(ATTEMPTS):
        b = Browser(port)
        b.request("GET", "/login")
        status, _ = b.request("POST", "/login", {"password": "guess-%d" % i})
        statuses[status] = statuses.get(status, 0) + 1
        if i == 99:
            rss.append(rss_kib(proc.pid))
    took = time.monotonic() - t0
    rss.append(rss_kib(proc.pid))
    b = Browser(port)
    b.request("GET", "/login")
    status, text = b.request("POST", "/login", {"password": PASSWORD})
    print("\n[bad logins] %d attempts in %.1f s: statuses %s; right password then: %d; "
          "web RSS %d KiB before, %d after 100, %d after %d"
          % (ATTEMPTS, took, statuses, status, rss[0], rss[1], rss[2], ATTEMPTS))
    assert statuses == {401: security.MAX_FAILURES - 1, 429: ATTEMPTS - security.MAX_FAILURES + 1}
    assert status == 429 and "locked" in text
    # The first wrong passwords are checked with scrypt, whose 16 MiB work
    # area stays in the allocator's arena (a one-off); from then on the
    # stream must not grow the process.
    assert rss[2] <= WEB_RSS_BUDGET_KIB and rss[2] - rss[1] < 2 * 1024
    assert proc.poll() is None
    assert Browser(port).request("GET", "/login")[0] == 200


# -- a burst of parallel logins on the real server ------------------------------------

BURST = 64


def status_of(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (key, pid))


def start_real_web(dirs, port):
    proc = subprocess.Popen([sys.executable, "-m", "vpnspot_router", "web",
                             "--listen", "127.0.0.1:%d" % port, "--name", "127.0.0.1",
                             "--state", str(dirs["state"]), "--config-dir", str(dirs["config"]),
                             "--run-dir", str(dirs["run"])],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = proc.stdout.readline()
    assert b"web UI: open https://" in line, line + proc.stdout.read(4000)
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


@pytest.fixture
def real_web(tmp_path):
    dirs = {name: tmp_path / name for name in ("state", "config", "run")}
    for d in dirs.values():
        d.mkdir()
    port = free_port()
    procs = [start_real_web(dirs, port)]
    try:
        setup = Browser(port, https=True)
        setup.request("GET", "/setup/password")
        status, text = setup.request("POST", "/setup/password", {
            "password": PASSWORD, "repeat": PASSWORD,
            "setup_code": setupcode.current(str(dirs["state"]))[0]})
        assert status == 303, text
        # Signed out again: the 64 sessions of the burst then fit the table
        # (security.MAX_SESSIONS) and none is evicted before it posts.
        setup.request("GET", "/setup/account")
        assert setup.request("POST", "/logout", {})[0] == 303

        def restart():
            procs[-1].send_signal(signal.SIGKILL)
            procs[-1].wait(timeout=10)
            procs.append(start_real_web(dirs, port))
            return procs[-1]
        yield procs[0], port, dirs, restart
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)


def test_64_parallel_logins_on_the_real_server_check_at_most_5_passwords_within_the_budget(
        real_web):
    proc, port, dirs, restart = real_web
    # Warm up (templates, TLS) in one session, then the baseline.
    warm = Browser(port, https=True)
    for _ in range(5):
        warm.request("GET", "/login")
    before = status_of(proc.pid, "VmHWM")
    browsers = []
    for _ in range(BURST):
        b = Browser(port, https=True)
        assert b.request("GET", "/login")[0] == 200
        browsers.append(b)
    answers = [None] * BURST
    start = threading.Barrier(BURST)

    def guess(i):
        start.wait()
        try:
            answers[i] = browsers[i].request("POST", "/login", {"password": "guess-%d" % i})
        except (OSError, http.client.HTTPException) as e:
            answers[i] = (None, type(e).__name__)   # not answered: nothing tried
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(BURST)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    took = time.monotonic() - t0
    peak = status_of(proc.pid, "VmHWM")
    rss = status_of(proc.pid, "VmRSS")
    checked = [a for a in answers if a[0] is not None and "That password is not right" in a[1]]
    refused = [a for a in answers if a[0] == 429 and "That password is not right" not in a[1]]
    unanswered = [a for a in answers if a[0] is None]
    print("\n[64 parallel logins] %.1f s: %d checked, %d refused as locked, %d not answered; "
          "web VmHWM %d KiB before, %d after (VmRSS %d KiB; budget %d KiB)"
          % (took, len(checked), len(refused), len(unanswered), before, peak, rss,
             WEB_RSS_BUDGET_KIB))
    assert len(checked) <= security.MAX_FAILURES
    assert len(checked) + len(refused) + len(unanswered) == BURST, \
        sorted(set(a[0] for a in answers if a not in checked + refused + unanswered))
    assert all("locked for" in a[1] for a in refused)
    assert peak <= WEB_RSS_BUDGET_KIB
    assert proc.poll() is None
    # Locked now, the right password too; and a kill -9 of the web process
    # (what the kernel's OOM killer does) does not unlock it.
    b = Browser(port, https=True)
    b.request("GET", "/login")
    status, text = b.request("POST", "/login", {"password": PASSWORD})
    assert status == 429 and "locked for" in text
    again = restart()
    b = Browser(port, https=True)
    b.request("GET", "/login")
    status, text = b.request("POST", "/login", {"password": PASSWORD})
    assert status == 429 and "locked for" in text, text
    assert again.poll() is None
    lockout = dirs["run"] / "web-lockout.json"
    assert lockout.stat().st_mode & 0o777 == 0o600
