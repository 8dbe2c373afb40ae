"""The reference VPN Spot service for the lab, the demo and the tests.

Owns: an HTTPS implementation of provider/openapi.yaml with in-memory
accounts, activation codes, devices and reports; a lab CA made with
`cryptography` (CA + server certificate for api.vpnspot.test and
127.0.0.1, plus deliberately wrong certificates); peer provisioning on lab
gateways (`wg set` on wireguard-go interfaces) when a router registers its
key; a record of every request received; and switchable misbehaviour.

Keep in sync with provider/openapi.yaml (the contract) and
provider/client.py (the router's side). Lab-only: not packaged for routers.

Request pipeline, in order, for every request:
  read body (at most 64 KiB) -> record it (headers minus Authorization)
  -> misbehave if told to (hang, slow, 5xx, 429, drop the connection)
  -> route by openapi.yaml (404/405) -> parse JSON -> validate the body and
  header parameters against the document (400 invalid_request: unknown
  fields are rejected, which is how privacy tests prove the router sends
  nothing extra) -> device token -> handler -> validate our own answer
  against the document (a mismatch becomes a 500 and is kept in
  `response_errors`, so tests catch a service that drifted from the spec).

Misbehaviour, via ProviderService.misbehave()/set_tls() or the admin calls
under /_lab/ (header X-Lab-Admin: the token in STATE/admin-token):
  hang N s      accept, answer nothing, close after N s (client timeout)
  slow N s      answer normally after N s
  error         answer HTTP 5xx (503 by default)
  rate_limit    answer 429 with Retry-After
  drop          close the connection without an answer
  lose_answer   carry the request out, then close without answering
  garbage       answer 200 with a body that is not JSON (a captive portal,
                a broken proxy)
  tls           present the good, wrong_host, untrusted or expired certificate
Account and code states (suspended, expired) are plain data: add_account(),
add_activation_code(), set_account_status().

The connection check (GET /v1/connection) answers with the address the
request came from and whether it is a VPN Spot exit: inside the tunnel
prefixes this service hands out (10.77.0.0/24 and ipv6_prefix/64; the lab's
gateways route tunnel traffic without NAT, so a request through the tunnel
arrives from the router's tunnel address), a gateway's endpoint address, or
one of `exit_addresses` (a real deployment's NAT exits). Anything else,
e.g. a router's WAN address, is "vpnspot": false. Each answer is also kept
in `connection_checks` as (address, vpnspot), for tests.
"""

import argparse
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vpnspot_router.provider import spec as _spec

API_HOSTNAME = "api.vpnspot.test"
MAX_BODY = 64 * 1024
TLS_MODES = ("good", "wrong_host", "untrusted", "expired")
MISBEHAVIOURS = ("hang", "slow", "error", "rate_limit", "drop", "lose_answer", "garbage")
# Headers the service records under their own name; Authorization is
# replaced by a marker saying only whether one was present.
REDACTED_HEADERS = ("authorization", "x-lab-admin")

STATUS_OF = {
    "invalid_request": 400, "activation_code_invalid": 400, "activation_code_expired": 400,
    "activation_code_used": 400, "unauthorized": 401, "account_suspended": 403,
    "account_expired": 403, "not_found": 404, "method_not_allowed": 405, "key_in_use": 409,
    "report_conflict": 409, "payload_too_large": 413, "rate_limited": 429,
    "internal_error": 500, "service_unavailable": 503,
}

Received = namedtuple("Received", "method path headers body")
TUNNEL_PREFIX4 = "10.77.0.0/24"     # the addresses op_registerKey hands out


def utc(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --------------------------------------------------------------------------
# Lab certificates


class LabCertificates:
    """A lab CA and the server certificates the service can present.

    Files in `directory`: ca.pem (give it to the client as ca_file), and
    one cert/key pair per TLS mode. Keys are written with mode 0600.
    """

    def __init__(self, directory, hostname=API_HOSTNAME):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)

        def name(cn):
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def write(fname, data, private=False):
            path = os.path.join(directory, fname)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return path

        def make_ca(cn):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - day).not_valid_after(now + 30 * day)
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(x509.KeyUsage(True, False, False, False, False, True, True,
                                                 False, False), critical=True)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                   critical=False)
                    .sign(key, hashes.SHA256()))
            return key, cert

        def make_leaf(ca_key, ca_cert, hosts, not_before, not_after):
            key = ec.generate_private_key(ec.SECP256R1())
            sans = []
            for h in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(h)))
                except ValueError:
                    sans.append(x509.DNSName(h))
            cert = (x509.CertificateBuilder().subject_name(name(hosts[0]))
                    .issuer_name(ca_cert.subject).public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(not_before).not_valid_after(not_after)
                    .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                                   critical=False)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                        ca_key.public_key()), critical=False)
                    .sign(ca_key, hashes.SHA256()))
            return key, cert

        def pem_key(key):
            return key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())

        def pem(cert):
            return cert.public_bytes(serialization.Encoding.PEM)

        ca_key, ca_cert = make_ca("VPN Spot lab CA")
        other_key, other_cert = make_ca("Not the VPN Spot lab CA")
        self.ca_file = write("ca.pem", pem(ca_cert))
        good_hosts = [hostname, "127.0.0.1"]
        leaves = {
            "good": (ca_key, ca_cert, good_hosts, now - day, now + 30 * day),
            "wrong_host": (ca_key, ca_cert, ["wrong.vpnspot.test"], now - day, now + 30 * day),
            "untrusted": (other_key, other_cert, good_hosts, now - day, now + 30 * day),
            "expired": (ca_key, ca_cert, good_hosts, now - 30 * day, now - day),
        }
        self.pairs = {}
        for mode, (k, c, hosts, nb, na) in leaves.items():
            key, cert = make_leaf(k, c, hosts, nb, na)
            self.pairs[mode] = (write(mode + ".pem", pem(cert) + pem(c)),
                                write(mode + ".key", pem_key(key), private=True))

    def server_context(self, mode):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        cert, key = self.pairs[mode]
        ctx.load_cert_chain(cert, key)
        return ctx


# --------------------------------------------------------------------------
# Gateways


class WgSetProvisioner:
    """Adds and removes router peers on one wireguard-go interface with `wg set`.

    run(argv) runs a command where the interface lives (inside its
    namespace) and raises on failure.
    """

    def __init__(self, run, ifname):
        self._run = run
        self.ifname = ifname

    @classmethod
    def for_gateway(cls, wg):
        """For a lab.netns.WireGuardGo handle."""
        return cls(lambda argv: wg.lab.run(wg.ns, *argv), wg.ifname)

    @classmethod
    def in_netns(cls, netns, ifname):
        def run(argv):
            subprocess.run(["ip", "netns", "exec", netns] + list(argv), check=True,
                           capture_output=True, timeout=10)
        return cls(run, ifname)

    def add_peer(self, public_key, allowed_ips):
        self._run(["wg", "set", self.ifname, "peer", public_key,
                   "allowed-ips", ",".join(allowed_ips)])

    def remove_peer(self, public_key):
        self._run(["wg", "set", self.ifname, "peer", public_key, "remove"])


def server_entry(server_id, endpoint, public_key, region="europe", country="NL",
                 city="Amsterdam", load=20, ipv6=True, dns=("10.77.0.1",)):
    """A Server object for the server list (see openapi.yaml: Server)."""
    return {"id": server_id, "region": region, "country": country, "city": city,
            "hostname": "%s.vpnspot.test" % server_id, "endpoint": endpoint,
            "public_key": public_key, "load": load, "ipv6": ipv6, "dns": list(dns)}


# --------------------------------------------------------------------------
# The service


class ApiError(Exception):
    def __init__(self, code, message, retry_after=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class ProviderService:
    """The reference service. Use as a context manager or start()/stop().

    servers: Server dicts (server_entry()); provisioners: {server_id:
    WgSetProvisioner}; tunnel addresses are handed out from
    10.77.0.2 upward (10.77.0.1 is the gateways' side) and, when
    ipv6_prefix is set, the same host number in that /64.
    """

    def __init__(self, state_dir=None, listen=("127.0.0.1", 0), servers=(), provisioners=None,
                 ipv6_prefix="fd77:77::", clock=time.time, hostname=API_HOSTNAME,
                 tls_mode="good", admin_token=None, exit_addresses=()):
        self.spec = _spec.load()
        self._own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="vpnspot-provider-")
        os.makedirs(self.state_dir, exist_ok=True)
        self.hostname = hostname
        self.certs = LabCertificates(os.path.join(self.state_dir, "tls"), hostname)
        self._contexts = {m: self.certs.server_context(m) for m in TLS_MODES}
        self.tls_mode = tls_mode
        self.clock = clock
        self.servers = [dict(s) for s in servers]
        self.provisioners = dict(provisioners or {})
        self.ipv6_prefix = ipv6_prefix
        self.exit_addresses = set(exit_addresses)
        self.connection_checks = []  # (address, vpnspot) per connection check answered
        self.lock = threading.RLock()
        self.accounts = {}  # email -> {"status", "plan", "expires_at"}
        self.codes = {}  # code -> {"email", "expires_at", "used_by"}
        self.devices = {}  # device_id -> {"email", "token", "public_key", "host"}
        self.tokens = {}  # token -> device_id
        self.idempotent = {}  # Idempotency-Key -> (email, code, answer)
        self.reports = {}  # device_id -> {report_id: report dict}
        self.received = []  # Received, in arrival order
        self.response_errors = []  # our own answers that broke the spec
        self.tls_rejections = 0  # handshakes the client refused
        self._misbehaviour = []  # [kind, remaining count or None, params]
        self.admin_token = admin_token or secrets.token_urlsafe(16)
        self._write_private("admin-token", self.admin_token + "\n")
        self._log_path = os.path.join(self.state_dir, "requests.jsonl")
        self._listen = listen
        self.httpd = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        self.httpd = _Server(self._listen, _Handler, self)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="vpnspot-provider")
        self._thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def url(self):
        return "https://%s:%d" % (self.hostname, self.port)

    @property
    def resolve(self):
        """For the client's `resolve`: the lab hostname -> the listening address."""
        return {self.hostname: self.httpd.server_address[0]}

    @property
    def ca_file(self):
        return self.certs.ca_file

    # -- test and admin controls -------------------------------------------

    def add_account(self, email, plan="family", status="active", expires_at=None):
        with self.lock:
            self.accounts[email] = {"status": status, "plan": plan, "expires_at": expires_at}

    def set_account_status(self, email, status):
        with self.lock:
            self.accounts[email]["status"] = status

    def add_activation_code(self, code, email, valid_for=3600.0):
        with self.lock:
            self.codes[code] = {"email": email, "expires_at": self.clock() + valid_for,
                                "used_by": None}

    def misbehave(self, kind, count=1, seconds=0.0, status=503, retry_after=1):
        """Misbehave for the next `count` requests (None: until clear_misbehaviour())."""
        if kind not in MISBEHAVIOURS:
            raise ValueError("misbehaviour %r; one of %s" % (kind, ", ".join(MISBEHAVIOURS)))
        with self.lock:
            self._misbehaviour.append([kind, count, {"seconds": float(seconds), "status": status,
                                                     "retry_after": retry_after}])

    def clear_misbehaviour(self):
        with self.lock:
            self._misbehaviour = []

    def set_tls(self, mode):
        if mode not in TLS_MODES:
            raise ValueError("TLS mode %r; one of %s" % (mode, ", ".join(TLS_MODES)))
        self.tls_mode = mode

    def _next_misbehaviour(self):
        with self.lock:
            if not self._misbehaviour:
                return None
            entry = self._misbehaviour[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    self._misbehaviour.pop(0)
            return entry[0], entry[2]

    def _write_private(self, name, text):
        path = os.path.join(self.state_dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def record(self, method, path, headers, body):
        kept = {}
        for name, value in headers.items():
            lname = name.lower()
            kept[lname] = "<present>" if lname in REDACTED_HEADERS else value
        entry = Received(method, path, kept, body)
        with self.lock:
            self.received.append(entry)
            with open(self._log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"method": method, "path": path, "headers": kept,
                                    "body": body.decode("utf-8", "replace")}) + "\n")
        return entry

    # -- the API -----------------------------------------------------------

    def dispatch(self, method, path, headers, body, peer=None):
        """(status, answer dict, extra headers) for one API request; `peer`
        is the address it came from (for the connection check)."""
        op = self.spec.operation(method, path)
        if op is None:
            if self.spec.allowed_methods(path):
                raise ApiError("method_not_allowed", "%s is not allowed on %s" % (method, path))
            raise ApiError("not_found", "no such API path %s" % path)
        for param in op.get("parameters", ()):
            value = headers.get(param["name"].lower())
            if value is None:
                if param.get("required"):
                    raise ApiError("invalid_request", "header %s is required" % param["name"])
                continue
            errors = self.spec.validate(param["schema"], value, "header " + param["name"])
            if errors:
                raise ApiError("invalid_request", "; ".join(errors))
        data = None
        schema = self.spec.request_schema(op)
        if schema is not None:
            ctype = headers.get("content-type", "").split(";")[0].strip()
            if ctype != "application/json":
                raise ApiError("invalid_request", "Content-Type must be application/json")
            try:
                data = json.loads(body)
            except ValueError:
                raise ApiError("invalid_request", "body is not JSON") from None
            errors = self.spec.validate(schema, data)
            if errors:
                raise ApiError("invalid_request", "; ".join(errors)[:480])
        elif body:
            raise ApiError("invalid_request", "this call takes no body")
        device_id = None
        if op.get("security", self.spec.doc.get("security")):
            device_id = self._authenticate(headers.get("authorization", ""))
        if op["operationId"] == "connectionCheck":
            return self.op_connectionCheck(peer)
        handler = getattr(self, "op_" + op["operationId"])
        with self.lock:
            return handler(data, device_id, headers)

    def _authenticate(self, value):
        if not value.startswith("Bearer "):
            raise ApiError("unauthorized", "a device token is required")
        with self.lock:
            device_id = self.tokens.get(value[len("Bearer "):])
        if device_id is None:
            raise ApiError("unauthorized", "unknown device token")
        return device_id

    def _account_usable(self, email):
        account = self.accounts.get(email)
        if account is None:
            raise ApiError("unauthorized", "the account no longer exists")
        status = self._status(account)
        if status == "suspended":
            raise ApiError("account_suspended", "the account is suspended")
        if status == "expired":
            raise ApiError("account_expired", "the account has expired")

    def _status(self, account):
        if account["status"] == "active" and account["expires_at"] is not None \
                and self.clock() >= account["expires_at"]:
            return "expired"
        return account["status"]

    def op_enroll(self, data, _device, headers):
        email, code = data["email"], data["activation_code"]
        key = headers.get("idempotency-key")
        if key and key in self.idempotent:
            seen_email, seen_code, answer = self.idempotent[key]
            if (seen_email, seen_code) == (email, code):
                return 201, answer, {}
        entry = self.codes.get(code)
        # The same answer for an unknown code and a code of another account:
        # the service does not confirm which emails have accounts.
        if entry is None or entry["email"] != email:
            raise ApiError("activation_code_invalid", "unknown activation code for this email")
        if entry["used_by"] is not None:
            raise ApiError("activation_code_used", "the activation code was used already")
        if self.clock() >= entry["expires_at"]:
            raise ApiError("activation_code_expired", "the activation code has expired")
        self._account_usable(email)
        device_id = "dev_" + secrets.token_hex(8)
        token = secrets.token_urlsafe(32)
        self.devices[device_id] = {"email": email, "token": token, "public_key": None,
                                   "host": None}
        self.tokens[token] = device_id
        entry["used_by"] = device_id
        answer = {"device_id": device_id, "device_token": token}
        if key:
            self.idempotent[key] = (email, code, answer)
        return 201, answer, {}

    def op_listServers(self, _data, device_id, _headers):
        self._account_usable(self.devices[device_id]["email"])
        return 200, {"servers": [dict(s) for s in self.servers]}, {}

    def op_registerKey(self, data, device_id, _headers):
        device = self.devices[device_id]
        self._account_usable(device["email"])
        key = data["public_key"]
        for other_id, other in self.devices.items():
            if other_id != device_id and other["public_key"] == key:
                raise ApiError("key_in_use", "the public key belongs to another device")
        if device["host"] is None:
            used = {d["host"] for d in self.devices.values()}
            host = 2
            while host in used:
                host += 1
            if host > 254:
                raise ApiError("service_unavailable", "the lab tunnel range is full")
            device["host"] = host
        ipv4 = "10.77.0.%d/32" % device["host"]
        ipv6 = "%s%x/128" % (self.ipv6_prefix, device["host"]) if self.ipv6_prefix else None
        old = device["public_key"]
        if old != key:
            allowed = [ipv4] + ([ipv6] if ipv6 else [])
            try:
                for prov in self.provisioners.values():
                    if old:
                        prov.remove_peer(old)
                    prov.add_peer(key, allowed)
            except Exception as e:
                print("provider: provisioning failed: %s" % e, file=sys.stderr)
                raise ApiError("service_unavailable", "could not provision the gateways") from None
            device["public_key"] = key
        return 200, {"public_key": key, "ipv4": ipv4, "ipv6": ipv6}, {}

    def op_report(self, data, device_id, _headers):
        mine = self.reports.setdefault(device_id, {})
        rid = data["report_id"]
        if rid in mine:
            if mine[rid] != data:
                raise ApiError("report_conflict", "report_id reused with different content")
            return 200, {"report_id": rid, "duplicate": True}, {}
        mine[rid] = data
        return 201, {"report_id": rid, "duplicate": False}, {}

    def op_accountStatus(self, _data, device_id, _headers):
        account = self.accounts.get(self.devices[device_id]["email"])
        if account is None:
            raise ApiError("unauthorized", "the account no longer exists")
        status = self._status(account)
        expires = account["expires_at"]
        return 200, {"active": status == "active", "status": status, "plan": account["plan"],
                     "expires_at": None if expires is None else utc(expires)}, {}

    def is_exit(self, address):
        """Whether `address` is a VPN Spot exit: a tunnel address this
        service hands out, a gateway's endpoint, or a listed exit."""
        addr = ipaddress.ip_address(address)
        prefixes = [ipaddress.ip_network(TUNNEL_PREFIX4)]
        if self.ipv6_prefix:
            prefixes.append(ipaddress.ip_network(self.ipv6_prefix + "/64"))
        if any(addr.version == net.version and addr in net for net in prefixes):
            return True
        exits = set(self.exit_addresses)
        for server in self.servers:
            exits.add(server["endpoint"].rpartition(":")[0].strip("[]"))
        for other in exits:
            try:
                if ipaddress.ip_address(other) == addr:
                    return True
            except ValueError:
                pass            # a host name: not an address to compare
        return False

    def op_connectionCheck(self, peer):
        if not peer:
            raise ApiError("internal_error", "the service cannot tell where the request came from")
        addr = ipaddress.ip_address(peer.split("%")[0])
        addr = getattr(addr, "ipv4_mapped", None) or addr
        answer = {"address": str(addr), "vpnspot": self.is_exit(str(addr))}
        with self.lock:
            self.connection_checks.append((answer["address"], answer["vpnspot"]))
        return 200, answer, {}

    def totals(self, device_id=None):
        """(rx, tx) bytes reported, each report counted once."""
        with self.lock:
            rx = tx = 0
            for dev, reports in self.reports.items():
                if device_id is None or dev == device_id:
                    for r in reports.values():
                        rx += r["rx_bytes"]
                        tx += r["tx_bytes"]
            return rx, tx

    # -- admin (lab only, not in openapi.yaml) -----------------------------

    def admin(self, method, path, headers, body):
        if not secrets.compare_digest(headers.get("x-lab-admin", ""), self.admin_token):
            return 401, {"error": "X-Lab-Admin token required"}
        try:
            data = json.loads(body) if body else {}
            if path == "/_lab/misbehave" and method == "POST":
                self.misbehave(data["kind"], data.get("count", 1), data.get("seconds", 0),
                               data.get("status", 503), data.get("retry_after", 1))
            elif path == "/_lab/clear" and method == "POST":
                self.clear_misbehaviour()
                self.set_tls("good")
            elif path == "/_lab/tls" and method == "POST":
                self.set_tls(data["mode"])
            elif path == "/_lab/accounts" and method == "POST":
                self.add_account(data["email"], data.get("plan", "family"),
                                 data.get("status", "active"), data.get("expires_at"))
            elif path == "/_lab/codes" and method == "POST":
                self.add_activation_code(data["code"], data["email"],
                                         data.get("valid_for", 3600))
            elif path == "/_lab/received" and method == "GET":
                with self.lock:
                    return 200, {"received": [{"method": r.method, "path": r.path,
                                               "headers": r.headers,
                                               "body": r.body.decode("utf-8", "replace")}
                                              for r in self.received]}
            else:
                return 404, {"error": "no such admin call"}
        except (KeyError, ValueError, TypeError) as e:
            return 400, {"error": "bad admin call: %s" % e}
        return 200, {"ok": True}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, service):
        self.service = service
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # TLS is set up here, in the connection's own thread, with the
        # certificate chosen at this moment: set_tls() affects the next
        # connection without restarting the server.
        service = self.service
        request.settimeout(10)
        try:
            tls = service._contexts[service.tls_mode].wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with service.lock:
                service.tls_rejections += 1
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vpnspot-lab-provider"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass  # requests are recorded in requests.jsonl instead

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _handle(self):
        service = self.server.service
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            # Drain a moderately large body so the client reads the 413
            # instead of a reset from closing on unread data.
            if 0 < length <= 16 * MAX_BODY:
                self.rfile.read(length)
            self.close_connection = True
            return self._send(413, {"error": {"code": "payload_too_large",
                                              "message": "body larger than %d bytes" % MAX_BODY}})
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        if path.startswith("/_lab/"):
            status, answer = service.admin(self.command, path, headers, body)
            return self._send(status, answer)
        service.record(self.command, self.path, headers, body)
        trouble = service._next_misbehaviour()
        if trouble is not None:
            kind, params = trouble
            if kind == "hang":
                time.sleep(params["seconds"])
                self.close_connection = True
                return
            if kind == "drop":
                self.close_connection = True
                return
            if kind == "slow":
                time.sleep(params["seconds"])
            elif kind == "error":
                return self._send(params["status"], {"error": {
                    "code": "service_unavailable" if params["status"] == 503 else "internal_error",
                    "message": "lab: told to fail"}})
            elif kind == "garbage":
                data = b"<html>\x00\xff{\"servers\": [" + b"\x9c" * 64
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            elif kind == "rate_limit":
                return self._send(429, {"error": {"code": "rate_limited", "message": "lab: slow down",
                                                  "retry_after": params["retry_after"]}},
                                  {"Retry-After": str(params["retry_after"])})
        extra = {}
        try:
            status, answer, extra = service.dispatch(self.command, path, headers, body,
                                                     peer=self.client_address[0])
        except ApiError as e:
            status = STATUS_OF[e.code]
            answer = {"error": {"code": e.code, "message": e.message}}
            if e.retry_after is not None:
                answer["error"]["retry_after"] = e.retry_after
        except Exception as e:  # a bug in the lab service: visible to tests, not a hang
            with service.lock:
                service.response_errors.append((self.command, path, 500, [repr(e)]))
            status, answer = 500, {"error": {"code": "internal_error", "message": "lab service bug"}}
        if trouble is not None and trouble[0] == "lose_answer":
            self.close_connection = True
            return
        op = service.spec.operation(self.command, path)
        if op is not None:
            schema = service.spec.response_schema(op, status)
            errors = ["no schema for HTTP %d" % status] if schema is None else \
                service.spec.validate(schema, answer)
            if errors:
                with service.lock:
                    service.response_errors.append((self.command, path, status, errors))
                status, answer = 500, {"error": {"code": "internal_error",
                                                 "message": "lab service answer broke the spec"}}
        self._send(status, answer, extra)

    def _send(self, status, answer, extra_headers=None):
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


# --------------------------------------------------------------------------
# `vpnspot lab provider`


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="vpnspot lab provider",
        description="Run the reference VPN Spot service (lab only) until interrupted.")
    parser.add_argument("--listen", default="127.0.0.1:8443", help="ADDR:PORT (default %(default)s)")
    parser.add_argument("--state", required=True, help="directory for the lab CA, admin token "
                        "and requests.jsonl")
    parser.add_argument("--servers", help="JSON file: a list of Server objects (openapi.yaml)")
    parser.add_argument("--gateway", action="append", default=[], metavar="ID=NETNS/IFNAME",
                        help="provision registered keys on this wireguard-go interface")
    parser.add_argument("--account", action="append", default=[], metavar="EMAIL=CODE",
                        help="create an active account with an activation code valid 1 h")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    try:
        address = (host.strip("[]"), int(port))
    except ValueError:
        parser.error("--listen must be ADDR:PORT, e.g. 127.0.0.1:8443")
    servers = []
    if args.servers:
        with open(args.servers, encoding="utf-8") as f:
            servers = json.load(f)
    provisioners = {}
    for item in args.gateway:
        sid, _, where = item.partition("=")
        netns, _, ifname = where.partition("/")
        if not (sid and netns and ifname):
            parser.error("--gateway must be ID=NETNS/IFNAME")
        provisioners[sid] = WgSetProvisioner.in_netns(netns, ifname)
    service = ProviderService(state_dir=args.state, listen=address, servers=servers,
                              provisioners=provisioners)
    for item in args.account:
        email, _, code = item.partition("=")
        service.add_account(email)
        service.add_activation_code(code, email)
    service.start()
    print("VPN Spot lab service on %s (https://%s:%d), CA %s, admin token in %s"
          % (args.listen, service.hostname, service.port, service.ca_file,
             os.path.join(args.state, "admin-token")), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
