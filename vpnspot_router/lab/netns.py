"""Network-namespace lab for the tests and the demo.

Owns: creating and destroying Linux network namespaces, the veth links
between them, processes started inside them, wireguard-go peers, and a
checksummed TCP transfer for proving that bulk traffic crosses a tunnel
intact.

Rules it keeps:
- Every name it creates carries a per-run prefix, "vs" + 6 hex digits
  (e.g. ``vs1a2b3cgw``), so several runs can share a machine and leftovers
  are recognisable. Names stay within Linux's 15-character limit.
- Before creating anything it writes a marker file
  ``/run/vpnspot-lab/PREFIX`` holding the creating pid and that process's
  start time. ``sweep_stale()`` removes only what belongs to prefixes whose
  creator is gone, so a crashed run is cleaned up without disturbing a run
  that is still going.
- Teardown always runs to the end: it kills every process it started and
  every process still inside its namespaces (``ip netns pids``), deletes
  each namespace, and only then reports what it could not undo.
- wireguard-go keeps its control socket in /var/run/wireguard/IFNAME.sock,
  a path shared by all namespaces; interface names therefore include the
  run prefix.
- Addresses used are the lab's own (see tests/conftest.py); this module does
  not add default routes, so nothing here can reach beyond the lab.

This module runs as root on the test machine only; it is not part of the
router agent.
"""

import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

MARKER_DIR = "/run/vpnspot-lab"
WG_SOCKET_DIR = "/var/run/wireguard"
PREFIX_RE = re.compile(r"^vs[0-9a-f]{6}")
ROLE_RE = re.compile(r"^[a-z0-9]{1,7}$")
IFNAMSIZ = 15

REQUIRED_TOOLS = ("ip", "wg", "wireguard-go")


class LabError(Exception):
    """A lab command failed; the message carries the command and its output."""


def missing_tools(tools=REQUIRED_TOOLS):
    """Names of required executables that are not on PATH."""
    return [t for t in tools if shutil.which(t) is None]


# --------------------------------------------------------------------------
# Running commands


def _run(argv, check=True, timeout=30, input=None):
    try:
        proc = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise LabError(
            f"command failed with exit code {proc.returncode}: {' '.join(argv)}\n"
            f"stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}"
        )
    return proc


def wait_for(predicate, timeout=5.0, interval=0.02, what="condition"):
    """Poll predicate() until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# Stale-run markers


def _start_time(pid):
    """The process's start time in clock ticks, or None if it is gone.

    Stored next to the pid so a recycled pid is not mistaken for the
    original creator.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are
    # counted from the closing parenthesis.
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[19])


def _creator_alive(prefix):
    try:
        with open(os.path.join(MARKER_DIR, prefix)) as f:
            pid_s, start_s = f.read().split()
        pid, start = int(pid_s), int(start_s)
    except (OSError, ValueError):
        return False
    return _start_time(pid) == start


def list_namespaces():
    out = _run(["ip", "netns", "list"]).stdout
    # Lines look like "name" or "name (id: 3)".
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pid_alive(pid):
    """True while the process runs. A zombie counts as dead: processes
    orphaned inside a namespace are reaped by init whenever it gets to it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill_netns_pids(ns):
    proc = _run(["ip", "netns", "pids", ns], check=False)
    pids = [int(p) for p in proc.stdout.split() if p.isdigit()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5,
             what=f"processes in namespace {ns} to exit")


def _delete_namespace(ns):
    _kill_netns_pids(ns)
    _run(["ip", "netns", "del", ns], check=False)
    if ns in list_namespaces():
        raise LabError(f"namespace {ns} still exists after 'ip netns del'")


def _remove_sockets(prefix):
    try:
        names = os.listdir(WG_SOCKET_DIR)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".sock"):
            try:
                os.unlink(os.path.join(WG_SOCKET_DIR, name))
            except OSError:
                pass


def sweep_stale():
    """Remove namespaces, sockets and markers left by lab runs that died.

    Returns the names of the namespaces removed. Runs whose creating
    process is still alive are left alone.
    """
    removed = []
    prefixes = set()
    for ns in list_namespaces():
        m = PREFIX_RE.match(ns)
        if m:
            prefixes.add(m.group(0))
    try:
        prefixes.update(p for p in os.listdir(MARKER_DIR) if PREFIX_RE.fullmatch(p))
    except OSError:
        pass
    for prefix in sorted(prefixes):
        if _creator_alive(prefix):
            continue
        for ns in list_namespaces():
            if ns.startswith(prefix):
                _delete_namespace(ns)
                removed.append(ns)
        _remove_sockets(prefix)
        try:
            os.unlink(os.path.join(MARKER_DIR, prefix))
        except OSError:
            pass
    return removed


# --------------------------------------------------------------------------
# wg tool helpers


def wg_genkey():
    return _run(["wg", "genkey"]).stdout.strip()


def wg_pubkey(private_key):
    return _run(["wg", "pubkey"], input=private_key + "\n").stdout.strip()


def wg_genpsk():
    return _run(["wg", "genpsk"]).stdout.strip()


WgInterface = namedtuple("WgInterface", "public_key listen_port fwmark peers")
WgPeer = namedtuple(
    "WgPeer",
    "public_key has_preshared_key endpoint allowed_ips latest_handshake "
    "rx_bytes tx_bytes persistent_keepalive",
)


def parse_wg_dump(text):
    """Parse `wg show IFNAME dump`.

    The first line describes the interface (private key, public key, port,
    fwmark); each further line is a peer. Key material other than public
    keys is dropped so it never ends up in test output.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise LabError("empty 'wg show dump' output")
    head = lines[0].split("\t")
    if len(head) != 4:
        raise LabError(f"unexpected interface line in wg dump: {len(head)} fields")
    peers = {}
    for line in lines[1:]:
        f = line.split("\t")
        if len(f) != 8:
            raise LabError(f"unexpected peer line in wg dump: {len(f)} fields")
        peers[f[0]] = WgPeer(
            public_key=f[0],
            has_preshared_key=f[1] != "(none)",
            endpoint=None if f[2] == "(none)" else f[2],
            allowed_ips=[] if f[3] == "(none)" else f[3].split(","),
            latest_handshake=int(f[4]),
            rx_bytes=int(f[5]),
            tx_bytes=int(f[6]),
            persistent_keepalive=None if f[7] == "off" else int(f[7]),
        )
    return WgInterface(
        public_key=head[1],
        listen_port=int(head[2]),
        fwmark=None if head[3] == "off" else head[3],
        peers=peers,
    )


# --------------------------------------------------------------------------
# The lab


Link = namedtuple("Link", "ns_a ifname_a ns_b ifname_b")


class Lab:
    """A set of network namespaces that exists for one `with` block.

    Roles are short names ("gw", "router"); methods accept a role or the
    full namespace name.
    """

    def __init__(self):
        if os.geteuid() != 0:
            raise LabError("the namespace lab needs root (ip netns, veth, TUN)")
        missing = missing_tools(("ip",))
        if missing:
            raise LabError(f"missing tools: {', '.join(missing)}; run vpnspot_router/lab/setup.sh")
        existing = list_namespaces()
        while True:
            self.prefix = "vs" + secrets.token_hex(3)
            if not any(ns.startswith(self.prefix) for ns in existing):
                break
        self._namespaces = {}  # role -> namespace name
        self._ifcount = {}  # namespace name -> next ethN index
        self._procs = []
        self._wireguards = []
        self._closed = False
        os.makedirs(MARKER_DIR, exist_ok=True)
        with open(os.path.join(MARKER_DIR, self.prefix), "w") as f:
            f.write(f"{os.getpid()} {_start_time(os.getpid())}\n")
        self.tmpdir = tempfile.mkdtemp(prefix=f"{self.prefix}-")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.close()
        except LabError:
            # Do not hide the error that ended the block behind a cleanup
            # error; the cleanup one is only raised when the block succeeded.
            if exc_type is None:
                raise

    # -- namespaces -------------------------------------------------------

    @property
    def namespaces(self):
        return dict(self._namespaces)

    def name(self, ns):
        if ns in self._namespaces:
            return self._namespaces[ns]
        if ns in self._namespaces.values():
            return ns
        raise LabError(f"unknown namespace {ns!r}; known: {sorted(self._namespaces)}")

    def add_ns(self, role):
        """Create namespace PREFIX+role with loopback up; return its name."""
        if not ROLE_RE.match(role):
            raise LabError(f"role {role!r} must be 1-7 characters of a-z, 0-9")
        if role in self._namespaces:
            raise LabError(f"namespace role {role!r} already exists")
        name = self.prefix + role
        _run(["ip", "netns", "add", name])
        self._namespaces[role] = name
        self._ifcount[name] = 0
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def sysctl(self, ns, key, value):
        self.run(ns, "sysctl", "-q", "-w", f"{key}={value}")

    def enable_forwarding(self, ns):
        self.sysctl(ns, "net.ipv4.ip_forward", 1)
        self.sysctl(ns, "net.ipv6.conf.all.forwarding", 1)

    # -- links ------------------------------------------------------------

    def _next_ifname(self, name):
        n = self._ifcount[name]
        self._ifcount[name] = n + 1
        return f"eth{n}"

    def add_address(self, ns, ifname, cidr):
        """Add an IPv4 or IPv6 address; IPv6 skips duplicate detection so it
        is usable at once instead of after ~1 s of DAD."""
        argv = ["ip", "-n", self.name(ns), "addr", "add", cidr, "dev", ifname]
        if ":" in cidr:
            argv.append("nodad")
        _run(argv)

    def add_link(self, ns_a, ns_b, addr_a=None, addr_b=None, addr6_a=None,
                 addr6_b=None, ifname_a=None, ifname_b=None, mtu=None):
        """Connect two namespaces with a veth pair, address and raise both ends.

        Addresses are CIDR strings ("198.51.100.1/24", "fd77:1::1/64").
        Interface names default to eth0, eth1, ... per namespace.
        """
        a, b = self.name(ns_a), self.name(ns_b)
        ifname_a = ifname_a or self._next_ifname(a)
        ifname_b = ifname_b or self._next_ifname(b)
        for ifname in (ifname_a, ifname_b):
            if len(ifname) > IFNAMSIZ:
                raise LabError(f"interface name {ifname!r} longer than {IFNAMSIZ}")
        _run(["ip", "-n", a, "link", "add", ifname_a, "type", "veth",
              "peer", "name", ifname_b, "netns", b])
        for ns, ifname, v4, v6 in ((a, ifname_a, addr_a, addr6_a),
                                   (b, ifname_b, addr_b, addr6_b)):
            if mtu:
                _run(["ip", "-n", ns, "link", "set", ifname, "mtu", str(mtu)])
            for cidr in (v4, v6):
                if cidr:
                    self.add_address(ns, ifname, cidr)
            _run(["ip", "-n", ns, "link", "set", ifname, "up"])
        return Link(a, ifname_a, b, ifname_b)

    def add_route(self, ns, dest, via=None, dev=None):
        argv = ["ip", "-n", self.name(ns), "route", "add", dest]
        if ":" in dest:
            argv[3:3] = ["-6"]
        if via:
            argv += ["via", via]
        if dev:
            argv += ["dev", dev]
        _run(argv)

    # -- processes --------------------------------------------------------

    def run(self, ns, *argv, check=True, timeout=30, input=None):
        """Run a command inside a namespace; return the CompletedProcess."""
        argv = [str(a) for a in argv]
        return _run(["ip", "netns", "exec", self.name(ns), *argv],
                    check=check, timeout=timeout, input=input)

    def popen(self, ns, argv, stdout=None, stderr=None, **kwargs):
        """Start a background process inside a namespace.

        Output goes to a log file in the lab's temporary directory unless
        stdout/stderr are given; the path is on ``proc.log_path``. Every
        process is killed at teardown. ns None runs it in the host's own
        namespace: only for loopback forwards into the lab (lab/relay.py).
        """
        argv = [str(a) for a in argv]
        log_path = os.path.join(self.tmpdir, f"{len(self._procs)}-{os.path.basename(argv[0])}.log")
        log = None
        if stdout is None or stderr is None:
            log = open(log_path, "wb")
        prefix = [] if ns is None else ["ip", "netns", "exec", self.name(ns)]
        proc = subprocess.Popen(
            prefix + argv,
            stdin=subprocess.DEVNULL,
            stdout=log if stdout is None else stdout,
            stderr=log if stderr is None else stderr,
            start_new_session=True,
            **kwargs,
        )
        if log is not None:
            log.close()
        proc.log_path = log_path
        self._procs.append(proc)
        return proc

    @staticmethod
    def read_log(proc):
        try:
            with open(proc.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @staticmethod
    def stop_process(proc, timeout=5):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=timeout)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def ping(self, ns, addr, count=3, timeout=10):
        """Ping from a namespace; raises LabError with ping's output if it fails."""
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2"]
        if ":" in addr:
            argv.append("-6")
        return self.run(ns, *argv, addr, timeout=timeout)

    # -- wireguard-go -----------------------------------------------------

    def wg_ifname(self, name):
        """Interface name unique across namespaces: the run prefix + name."""
        full = name if name.startswith(self.prefix) else self.prefix + name
        if len(full) > IFNAMSIZ:
            raise LabError(f"wireguard interface name {full!r} longer than {IFNAMSIZ}; "
                           f"use at most {IFNAMSIZ - len(self.prefix)} characters")
        return full

    def start_wireguard_go(self, ns, ifname, private_key, listen_port=None,
                           address_cidrs=(), peers=(), mtu=None, routes=()):
        """Start and configure a wireguard-go interface inside a namespace.

        peers: dicts with public_key and optionally preshared_key, endpoint,
        allowed_ips (list or comma string), persistent_keepalive.
        Returns a WireGuardGo handle.
        """
        wg = WireGuardGo(self, self.name(ns), self.wg_ifname(ifname), private_key,
                         listen_port, list(address_cidrs), list(peers), mtu, list(routes))
        self._wireguards.append(wg)
        wg.start()
        return wg

    # -- TCP transfers ----------------------------------------------------

    def start_tcp_sink(self, ns, bind_addr, port):
        """Start a one-connection TCP receiver; returns a TcpSink."""
        return TcpSink(self, ns, bind_addr, port)

    def run_tcp_source(self, ns, addr, port, nbytes, timeout=120):
        """Send nbytes of random data to addr:port; returns (nbytes, sha256)."""
        proc = self.run(ns, sys.executable, "-c", _SOURCE_SCRIPT, addr, port, nbytes,
                        timeout=timeout)
        result = json.loads(proc.stdout)
        return result["bytes"], result["sha256"]

    def tcp_transfer(self, src_ns, dst_ns, dst_addr, nbytes, port=5001, timeout=120):
        """Send nbytes from src_ns to dst_ns over TCP and checksum both ends.

        Returns a TransferResult; compare sent and received fields.
        """
        sink = self.start_tcp_sink(dst_ns, dst_addr, port)
        start = time.monotonic()
        sent_bytes, sent_sha = self.run_tcp_source(src_ns, dst_addr, port, nbytes,
                                                   timeout=timeout)
        got_bytes, got_sha = sink.result(timeout=timeout)
        return TransferResult(sent_bytes, sent_sha, got_bytes, got_sha,
                              time.monotonic() - start)

    # -- teardown ---------------------------------------------------------

    def close(self):
        """Kill every process, delete every namespace; raise if any survived."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for wg in self._wireguards:
            try:
                wg.stop()
            except Exception as exc:  # keep tearing down; report at the end
                errors.append(f"stopping {wg.ifname}: {exc}")
        for proc in self._procs:
            try:
                self.stop_process(proc)
            except Exception as exc:
                errors.append(f"stopping pid {proc.pid}: {exc}")
        for name in self._namespaces.values():
            try:
                _delete_namespace(name)
            except Exception as exc:
                errors.append(f"deleting namespace {name}: {exc}")
        _remove_sockets(self.prefix)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        if not errors:
            try:
                os.unlink(os.path.join(MARKER_DIR, self.prefix))
            except OSError:
                pass
        else:
            # The marker stays, so a later sweep_stale() retries once this
            # process is gone.
            raise LabError("lab teardown incomplete:\n" + "\n".join(errors))


TransferResult = namedtuple(
    "TransferResult", "sent_bytes sent_sha256 received_bytes received_sha256 seconds")


class WireGuardGo:
    """One wireguard-go process and the interface it serves."""

    def __init__(self, lab, ns, ifname, private_key, listen_port, address_cidrs,
                 peers, mtu, routes):
        self.lab = lab
        self.ns = ns
        self.ifname = ifname
        self.public_key = wg_pubkey(private_key)
        self._private_key = private_key
        self.listen_port = listen_port
        self.address_cidrs = address_cidrs
        self.peers = peers
        self.mtu = mtu
        self.routes = routes
        self.proc = None

    def __repr__(self):
        # The private key stays out of reprs and test failure output.
        return f"<WireGuardGo {self.ifname} in {self.ns} pub={self.public_key}>"

    @property
    def socket_path(self):
        return os.path.join(WG_SOCKET_DIR, f"{self.ifname}.sock")

    def _key_file(self, key):
        fd, path = tempfile.mkstemp(dir=self.lab.tmpdir, prefix="key-")
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        return path

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            raise LabError(f"{self.ifname} is already running")
        # A socket left by a killed process would make the wait below
        # succeed before the new process is listening.
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        self.proc = self.lab.popen(self.ns, ["wireguard-go", "-f", self.ifname],
                                   env={**os.environ, "LOG_LEVEL": "verbose"})

        def ready():
            if self.proc.poll() is not None:
                raise LabError(f"wireguard-go {self.ifname} exited with {self.proc.returncode}:\n"
                               + self.lab.read_log(self.proc))
            return os.path.exists(self.socket_path)

        wait_for(ready, timeout=10, what=f"{self.socket_path}")
        self._configure()

    def _configure(self):
        key_files = []
        try:
            argv = ["wg", "set", self.ifname]
            path = self._key_file(self._private_key)
            key_files.append(path)
            argv += ["private-key", path]
            if self.listen_port is not None:
                argv += ["listen-port", str(self.listen_port)]
            for peer in self.peers:
                argv += ["peer", peer["public_key"]]
                if peer.get("preshared_key"):
                    path = self._key_file(peer["preshared_key"])
                    key_files.append(path)
                    argv += ["preshared-key", path]
                if peer.get("endpoint"):
                    argv += ["endpoint", peer["endpoint"]]
                allowed = peer.get("allowed_ips")
                if allowed:
                    if not isinstance(allowed, str):
                        allowed = ",".join(allowed)
                    argv += ["allowed-ips", allowed]
                if peer.get("persistent_keepalive"):
                    argv += ["persistent-keepalive", str(peer["persistent_keepalive"])]
            self.lab.run(self.ns, *argv)
        finally:
            for path in key_files:
                os.unlink(path)
        if self.mtu:
            self.lab.run(self.ns, "ip", "link", "set", self.ifname, "mtu", str(self.mtu))
        for cidr in self.address_cidrs:
            self.lab.add_address(self.ns, self.ifname, cidr)
        self.lab.run(self.ns, "ip", "link", "set", self.ifname, "up")
        for dest in self.routes:
            self.lab.add_route(self.ns, dest, dev=self.ifname)

    def stop(self):
        if self.proc is not None:
            self.lab.stop_process(self.proc)
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass

    def restart(self):
        self.stop()
        self.start()

    def show(self):
        """Parsed `wg show IFNAME dump` (a WgInterface)."""
        return parse_wg_dump(self.lab.run(self.ns, "wg", "show", self.ifname, "dump").stdout)

    def log(self):
        return self.lab.read_log(self.proc) if self.proc else ""


# The transfer scripts run under the same interpreter inside the namespace;
# they use only the standard library. Random payload (not zeros) so that a
# tunnel that corrupts or reorders data cannot pass by accident.
_SINK_SCRIPT = r"""
import hashlib, json, socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(1)
print("READY", flush=True)
conn, _ = srv.accept()
h = hashlib.sha256()
n = 0
buf = bytearray(1 << 20)
view = memoryview(buf)
while True:
    k = conn.recv_into(buf)
    if not k:
        break
    h.update(view[:k])
    n += k
conn.close()
print(json.dumps({"bytes": n, "sha256": h.hexdigest()}), flush=True)
"""

_SOURCE_SCRIPT = r"""
import hashlib, json, os, socket, sys
addr, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.create_connection((addr, port), timeout=60)
h = hashlib.sha256()
left = total
while left:
    chunk = os.urandom(min(left, 1 << 20))
    s.sendall(chunk)
    h.update(chunk)
    left -= len(chunk)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
print(json.dumps({"bytes": total, "sha256": h.hexdigest()}), flush=True)
"""


class TcpSink:
    """A receiver that accepts one TCP connection and reports bytes + sha256."""

    def __init__(self, lab, ns, bind_addr, port, ready_timeout=10):
        self.lab = lab
        self.proc = lab.popen(ns, [sys.executable, "-c", _SINK_SCRIPT, bind_addr, port],
                              stdout=subprocess.PIPE)
        line = self._readline(ready_timeout)
        if line.strip() != "READY":
            raise LabError(f"TCP sink did not start: {line!r}\n{lab.read_log(self.proc)}")

    def _readline(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise LabError(f"TCP sink gave no output within {timeout}s")
        return self.proc.stdout.readline().decode()

    def result(self, timeout=120):
        """(bytes received, sha256 hex) once the sender has closed."""
        line = self._readline(timeout)
        if not line:
            raise LabError(f"TCP sink exited without a result:\n{self.lab.read_log(self.proc)}")
        data = json.loads(line)
        self.proc.wait(timeout=5)
        return data["bytes"], data["sha256"]
