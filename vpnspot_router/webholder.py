"""The web UI on demand: hold its listening sockets, start `vpnspot web` when
a browser connects, and let it exit when idle (issue 12, memory).

Owns: binding the web UI's sockets (the LAN address, tied to the interface
that holds it, see device_of), and the life of the web process. It is the
inetd "wait" / systemd Accept=no pattern:

  holder                              web process (`vpnspot web --listen-fd N`)
  ------                              -----------------------------------------
  bind + listen, poll for readable
  a connection is pending  ---------> started with the listening sockets
  stop watching, wait for the child   accepts the pending connection, serves,
                                      exits after --idle-exit seconds without
                                      a request (sessions saved, see web/security)
  child exited: watch again <-------

Nothing is lost between the two: the kernel queues connections on the
socket both processes share, and whoever accepts next answers them.

A child that fails (non-zero exit, or gone within MIN_RUN seconds) makes
the holder wait before the next start: RETRY_FIRST seconds, doubling up to
RETRY_MAX, so a web UI that cannot start never spins the router's CPU. The
pending connection stays queued and the next start answers it. A clean idle
exit resets the wait.

Rules: standard library only, and nothing the agent does not already load
(socket, select, subprocess, ipaddress): the agent runs a Holder in one of
its threads and must not grow by bottle, ssl or http.server
(tests/router/test_agent_memory.py). `vpnspot web --on-demand` runs the
same Holder in its own small process.
"""

import ipaddress
import os
import select
import socket
import subprocess
import sys
import threading
import time

MIN_RUN = 1.0           # a child gone sooner than this failed, whatever its status
RETRY_FIRST = 1.0
RETRY_MAX = 60.0
BIND_RETRY = 5.0        # address in use: a web child of an earlier agent still serves
BACKLOG = 16
DEFAULT_IDLE_EXIT = 300


def device_of(host):
    """The interface that holds `host`, from `ip -o addr`; None for loopback
    addresses (nothing outside the machine reaches them) or when unknown."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
        out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=5).stdout
    except (ValueError, OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] in ("inet", "inet6") \
                and fields[3].split("/")[0] == host:
            return fields[1].split("@")[0]
    return None


class ListenError(OSError):
    """listen_socket could not listen; `strerror` names the address and port
    that failed (the UI's or the redirect's) and what to do about it."""


def listen_socket(host, port, device=None):
    """A listening TCP socket on host:port, tied to `device` when given
    (SO_BINDTODEVICE: a connection arriving on another interface, e.g. the
    WAN, is refused by the kernel). ListenError when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if device:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as e:
        if sock is not None:
            sock.close()
        raise ListenError(e.errno, "cannot listen on %s:%d: %s"
                          % ("[%s]" % host if ":" in host else host, port,
                             _listen_error_text(host, port, e))) from e
    return sock


def _listen_error_text(host, port, error):
    """Why host:port cannot be listened on, in words a household or an ISP
    can act on: "in use" names the usual holder on OpenWrt and the setting."""
    import errno
    text = error.strerror or str(error)
    if error.errno == errno.EADDRINUSE:
        text += ("; another program holds port %d (on OpenWrt, LuCI's web server uhttpd "
                 "listens on 80 and 443): choose a free one with "
                 "`uci set vpnspot.main.web_port=PORT; uci commit vpnspot`" % port)
    elif error.errno == errno.EADDRNOTAVAIL:
        text += "; %s is not an address of this router" % host
    return text


def web_command(listen, fds, idle_exit, redirect_port=None, extra=()):
    """argv of the web process: fds is (https_fd, redirect_fd or None)."""
    argv = [sys.executable, "-m", "vpnspot_router.cli", "web", "--listen", listen,
            "--listen-fd", str(fds[0]), "--idle-exit", str(idle_exit)]
    if redirect_port and fds[1] is not None:
        argv += ["--redirect-port", str(redirect_port), "--redirect-fd", str(fds[1])]
    return argv + list(extra)


class Holder:
    """Owns the listening sockets and at most one web process.

    `bind()` makes the sockets (or `sockets` are given, already listening);
    `command(fds)` builds the child's argv for the inherited fds. `run()`
    loops until `stop()`; `step()` is one round, for tests and the loop."""

    def __init__(self, host, port, command, redirect_port=None, sockets=None, log=None,
                 clock=time.monotonic):
        self.host, self.port, self.redirect_port = host, port, redirect_port
        self.command = command
        self.sockets = list(sockets) if sockets else []
        self.log = log or (lambda text: print("vpnspot web: %s" % text, file=sys.stderr,
                                              flush=True))
        self.clock = clock
        self.child = None
        self.started = 0.0
        self.failures = 0
        self.retry_at = 0.0
        self.bind_at = 0.0
        self.starts = 0
        self.stopping = threading.Event()

    def bind(self):
        """Bind the sockets; False (and a log line) when the address is still
        in use, e.g. by a web process an earlier agent started."""
        if self.sockets:
            return True
        device = device_of(self.host)
        made = []
        try:
            made.append(listen_socket(self.host, self.port, device))
            if self.redirect_port:
                made.append(listen_socket(self.host, self.redirect_port, device))
        except ListenError as e:
            for s in made:
                s.close()
            if self.bind_at:
                return False            # said once; keep trying quietly
            self.log("%s; trying again in %d s" % (e.strerror, BIND_RETRY))
            return False
        self.sockets = made
        return True

    def _spawn(self):
        fds = [s.fileno() for s in self.sockets] + [None]
        argv = self.command((fds[0], fds[1]))
        try:
            self.child = subprocess.Popen(argv, pass_fds=[fd for fd in fds if fd is not None],
                                          close_fds=True, stdin=subprocess.DEVNULL)
        except OSError as e:
            self.log("cannot start the web UI: %s" % (e.strerror or e))
            self._failed(self.clock())
            return
        self.started = self.clock()
        self.starts += 1

    def _failed(self, now):
        self.failures += 1
        wait = min(RETRY_FIRST * (2 ** (self.failures - 1)), RETRY_MAX)
        self.retry_at = now + wait
        self.log("the web UI failed to start or stopped with an error (%d in a row); "
                 "next try in %d s" % (self.failures, wait))

    def _reap(self, now):
        code = self.child.poll()
        if code is None:
            return False
        lived = now - self.started
        self.child = None
        if code == 0 and lived >= MIN_RUN:
            self.failures = 0
        else:
            self._failed(now)
        return True

    def step(self, timeout=0.5):
        """One round: reap or watch. Returns after at most `timeout` seconds."""
        now = self.clock()
        if not self.sockets:
            if now < self.bind_at:
                self.stopping.wait(min(timeout, self.bind_at - now))
                return
            if not self.bind():
                self.bind_at = now + BIND_RETRY
                return
        if self.child is not None:
            if not self._reap(now):
                self.stopping.wait(min(timeout, 0.2))
            return
        if now < self.retry_at:
            self.stopping.wait(min(timeout, self.retry_at - now))
            return
        try:
            ready, _, _ = select.select(self.sockets, [], [], timeout)
        except (OSError, ValueError):
            return
        if ready and not self.stopping.is_set():
            self._spawn()

    def run(self):
        while not self.stopping.is_set():
            self.step()
        self.close()

    def stop(self):
        self.stopping.set()

    def close(self):
        child, self.child = self.child, None
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for s in self.sockets:
            s.close()
        self.sockets = []

    def start_thread(self):
        t = threading.Thread(target=self.run, daemon=True, name="vpnspot-web-holder")
        t.start()
        return t
