"""A stream of bad logins against the web UI, over loopback HTTP.

`vpnspot web --fake --http` runs as its own process on 127.0.0.1 (the fake
backend: no router files touched). An attacker on the LAN sends 1,500 wrong
passwords, each from a fresh session as a script rotating cookies would:
the lockout must hold (even the right password is refused while locked),
the sessions table must stay bounded (security.MAX_SESSIONS) so the
process's memory (VmRSS, printed) does not grow with the stream, and the
UI must keep answering.
"""

import http.client
import re
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

from vpnspot_router.web import security

from faults.household import rss_kib

PASSWORD = "correct horse battery"
ATTEMPTS = 1500
WEB_RSS_BUDGET_KIB = 64 * 1024


class Browser:
    """One cookie jar over plain HTTP/1.0 connections to the UI."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None

    def request(self, method, path, fields=None):
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
        status, _ = setup.request("POST", "/setup/password", {"password": PASSWORD, "repeat": PASSWORD})
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
