"""The web UI on demand (issue 12, memory): webholder.Holder holds the
listening socket, starts `vpnspot web --listen-fd` when a browser connects,
and the web process exits when idle.

Real processes and real HTTPS over loopback (127.0.0.1): the holder is
`vpnspot web --on-demand` (the agent's --web-listen runs the same Holder in
a thread); its web process is found as its child in /proc.
"""

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from vpnspot_router import webholder

PASSWORD = "correct horse battery"
IDLE = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def https(port, path, method="GET", form=None, cookie=None, timeout=20):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    headers = {"Host": "127.0.0.1:%d" % port}
    body = None
    if cookie:
        headers["Cookie"] = cookie
    if form is not None:
        body = "&".join("%s=%s" % (k, v.replace(" ", "+")) for k, v in form.items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Location"), r.getheader("Set-Cookie"), r.read().decode()
    finally:
        conn.close()


@pytest.fixture
def holder(tmp_path):
    port = free_port()
    dirs = {name: tmp_path / name for name in ("state", "config", "run")}
    for d in dirs.values():
        d.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "vpnspot_router.cli", "web",
         "--listen", "127.0.0.1:%d" % port, "--on-demand", "--idle-exit", str(IDLE),
         "--state", str(dirs["state"]), "--config-dir", str(dirs["config"]),
         "--run-dir", str(dirs["run"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "on demand at https://127.0.0.1:%d/" % port in line, line + proc.stderr.read()
    # Keep reading, so the children's output never fills the pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    proc.port, proc.run_dir, proc.state_dir = port, dirs["run"], dirs["state"]
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(15)


def test_the_first_request_starts_the_web_process_which_exits_when_idle_and_sessions_survive(holder):
    assert children(holder.pid) == []                    # nothing but the holder

    status, location, cookie, page = https(holder.port, "/setup/password")
    assert status == 200, page
    web = children(holder.pid)
    assert len(web) == 1
    # The certificate was made by that first start, as without the holder.
    cookie = cookie.split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    from vpnspot_router import setupcode
    code = setupcode.current(str(holder.state_dir))[0]
    status, location, new_cookie, _ = https(holder.port, "/setup/password", "POST",
                                            {"csrf": csrf, "password": PASSWORD,
                                             "repeat": PASSWORD, "setup_code": code},
                                            cookie=cookie)
    assert status == 303 and location.endswith("/setup/account")
    cookie = (new_cookie or cookie).split(";")[0]

    # No request for IDLE seconds: the web process saves the sessions and exits.
    wait_for(lambda: children(holder.pid) == [], IDLE + 10, "the idle web process to exit")
    saved = holder.run_dir / "web-sessions.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert any(s["authenticated"] for s in json.loads(saved.read_text())["sessions"])
    assert holder.poll() is None

    # The next request starts it again, and the household is still signed in.
    status, location, _, page = https(holder.port, "/setup/account", cookie=cookie)
    assert status == 200, (location, page)
    assert "csrf" in page
    assert len(children(holder.pid)) == 1
    # A Host that is not the router is still refused (DNS rebinding).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", holder.port, context=context, timeout=20)
    conn.request("GET", "/", headers={"Host": "evil.example"})
    assert conn.getresponse().status == 421
    conn.close()

    holder.terminate()
    assert holder.wait(15) == 0
    assert children(holder.pid) == []


def test_the_holder_process_imports_neither_bottle_nor_ssl_nor_http_server(holder):
    status, _, _, _ = https(holder.port, "/")
    assert status in (200, 303)
    holder.terminate()
    holder.wait(15)
    imported = set(re.findall(r"\|\s+(\S+)\s*$", holder.stderr.read(), re.M))
    assert "vpnspot_router.webholder" in imported
    heavy = {"bottle", "ssl", "_ssl", "http.server", "wsgiref", "socketserver",
             "vpnspot_router.web.app", "vpnspot_router.web.httpd"}
    assert imported & heavy == set()


class Recorder:
    def __init__(self):
        self.lines = []

    def __call__(self, text):
        self.lines.append(text)


def test_a_web_process_that_dies_at_once_backs_off_and_the_next_start_answers(tmp_path):
    port = free_port()
    crash = [sys.executable, "-c", "import sys; sys.exit(3)"]
    state = {"argv": crash}
    log = Recorder()
    holder = webholder.Holder("127.0.0.1", port, lambda fds: state["argv"], log=log)
    assert holder.bind()
    thread = holder.start_thread()
    client = socket.create_connection(("127.0.0.1", port))   # pending, never accepted
    try:
        time.sleep(4.0)
        # 1 + 2 s of back-off in 4 s: three starts, not hundreds.
        assert 2 <= holder.starts <= 4, holder.starts
        assert holder.failures >= 2 and "next try in" in log.lines[-1]
        assert thread.is_alive()

        # Repaired: the next start serves the connection that waited.
        state["argv"] = None
        tmp = tmp_path / "state"

        def real(fds):
            return webholder.web_command("127.0.0.1:%d" % port, fds, IDLE,
                                         extra=["--fake", "--http", "--state", str(tmp)])
        holder.command = real
        client.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
        client.settimeout(RETRY_WAIT)
        answer = client.recv(200)
        assert answer.startswith(b"HTTP/1.0 303") or answer.startswith(b"HTTP/1.0 200"), answer
        wait_for(lambda: holder.child is None and holder.failures == 0, IDLE + 10,
                 "a clean idle exit to reset the back-off")
    finally:
        client.close()
        holder.stop()
        thread.join(15)
    assert holder.sockets == []


RETRY_WAIT = webholder.RETRY_MAX + 20


def test_the_holder_refuses_to_listen_on_all_addresses(capsys):
    from vpnspot_router import cli
    assert cli.main(["web", "--listen", "0.0.0.0:8443", "--on-demand"]) == 2
    assert "LAN address" in capsys.readouterr().err


def test_a_port_another_server_holds_is_refused_with_the_setting_that_frees_it(tmp_path, capsys):
    # As LuCI's uhttpd on a router: a listener on every address, port taken.
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    logged = []
    try:
        holder = webholder.Holder("127.0.0.1", port, lambda fds: ["true"], log=logged.append)
        assert holder.bind() is False and holder.sockets == []
        from vpnspot_router import cli
        code = cli.main(["web", "--listen", "127.0.0.1:%d" % port, "--fake", "--http",
                         "--state", str(tmp_path)])
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert code == 1
    for text in (logged[0], err):
        assert "cannot listen on 127.0.0.1:%d" % port in text
        assert "Address already in use" in text
        assert "another program holds port %d" % port in text
        assert "uci set vpnspot.main.web_port=PORT" in text


def test_a_taken_redirect_port_is_named_as_the_port_that_failed(tmp_path, capsys):
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen(1)
    redirect = taken.getsockname()[1]
    port = free_port()
    logged = []
    try:
        holder = webholder.Holder("127.0.0.1", port, lambda fds: ["true"], redirect_port=redirect,
                                  log=logged.append)
        assert holder.bind() is False and holder.sockets == []
        from vpnspot_router import cli
        code = cli.main(["web", "--listen", "127.0.0.1:%d" % port, "--redirect-port", str(redirect),
                         "--fake", "--state", str(tmp_path)])
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert code == 1
    for text in (logged[0], err):
        assert "cannot listen on 127.0.0.1:%d: Address already in use" % redirect in text
        assert "another program holds port %d" % redirect in text
        assert "127.0.0.1:%d" % port not in text
