"""`vpnspot web`: serve the household UI on the router's LAN address.

Owns the listening sockets: one LAN address (never 0.0.0.0, so the WAN
side has nothing to connect to), HTTPS with the certificate from tls.py,
and optionally a plain-HTTP port on the same address that only redirects
to the HTTPS URL (built from the configured address, never from the
request's Host). Threads, one per connection, with a timeout, so one slow
phone cannot hold the UI.

Binding the LAN address alone does not keep the WAN side out: Linux
accepts a packet for any of its addresses on any interface, so an ISP that
routes the LAN address to the router's WAN would reach the UI. The
listening sockets are therefore also tied to the interface that holds the
address (SO_BINDTODEVICE, e.g. br-lan): a connection arriving on any other
interface is refused by the kernel, whatever the firewall says.

The access log is off: the standard handler would print every client's
LAN address, which this product never records.
"""

import argparse
import os
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

# .app (and bottle with it, ~12 MB) is imported only when the UI is served,
# so registering this command costs the other `vpnspot` commands nothing.

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class QuietHandler(WSGIRequestHandler):
    timeout = 30

    def log_message(self, format, *args):
        pass

    def get_environ(self):
        env = WSGIRequestHandler.get_environ(self)
        if isinstance(self.connection, ssl.SSLSocket):
            # wsgiref guesses the scheme from HTTPS; without it every
            # redirect Bottle builds would point the browser at http:// on
            # the TLS port, and the first page after the wizard would fail.
            env["HTTPS"] = "on"
        return env

    def get_stderr(self):
        # wsgiref prints tracebacks here; they carry no client address.
        return sys.stderr


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, family=socket.AF_INET, ssl_context=None, device=None):
        self.address_family = family
        self.ssl_context = ssl_context
        self.device = device
        WSGIServer.__init__(self, address, handler)

    def server_bind(self):
        if self.device:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                   self.device.encode())
        WSGIServer.server_bind(self)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            # The TLS handshake runs in the connection's own thread, on its
            # first read, so a client that never finishes it blocks nobody.
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        # The default prints the client's address; say only what failed.
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout)):
            print("vpnspot web: request failed: %s" % type(exc).__name__, file=sys.stderr)


def device_of(host):
    """The interface that holds `host`, from `ip -o addr`; None for loopback
    addresses (nothing outside the machine reaches them) or when unknown."""
    import ipaddress
    import subprocess
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


def make_server(wsgi_app, host, port, cert=None, device=None):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    context = None
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert[0], cert[1])
    server = ThreadingServer((host, port), QuietHandler, family=family, ssl_context=context,
                             device=device)
    server.set_app(wsgi_app)
    return server


def redirect_app(target_url):
    def redirect(environ, start_response):
        start_response("301 Moved Permanently", [("Location", target_url),
                                                 ("Content-Length", "0"),
                                                 ("Cache-Control", "no-store")])
        return [b""]
    return redirect


def serve(backend, config, ready=None):
    """Run until interrupted. ready(url) is called once the sockets listen."""
    cert = None
    if config.https:
        from .tls import ensure_certificate
        names = [config.host] + [h for h in config.allowed_hosts if not h.startswith("[")]
        cert = ensure_certificate(config.state_dir, list(dict.fromkeys(names)))
    from .app import app
    device = device_of(config.host)
    server = make_server(app(backend, config), config.host, config.port, cert, device)
    servers = [server]
    if config.redirect_port:
        servers.append(make_server(redirect_app(config.url()), config.host, config.redirect_port,
                                   device=device))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers[1:]]
    for t in threads:
        t.start()
    if ready:
        ready(config.url())
    try:
        server.serve_forever()
    finally:
        for s in servers:
            s.shutdown() if s is not server else None
            s.server_close()


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("--listen takes ADDRESS:PORT, e.g. 192.168.1.1:443")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        raise ValueError("--listen needs the router's LAN address, not %r: the web UI must not "
                         "be reachable from the internet side" % (host or "all addresses"))
    return host, int(port)


def cmd_web(args):
    from .app import WebConfig
    try:
        host, port = parse_listen(args.listen)
    except ValueError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    state_dir = args.state
    if args.fake and state_dir is None:
        state_dir = os.path.join(tempfile.gettempdir(), "vpnspot-web-demo")
    config = WebConfig(host=host, port=port, state_dir=state_dir or "/etc/vpnspot",
                       https=not args.http, allowed_hosts=args.name or (),
                       redirect_port=args.redirect_port, memory_only=args.fake)
    if args.fake:
        from .backend import FakeBackend
        backend = FakeBackend()
    else:
        from vpnspot_router import configstore
        from .realbackend import RealBackend
        # Same layout as `vpnspot agent`: the UCI file in --config-dir, the
        # ISP's provisioning file beside device.json in the state directory.
        prov = configstore.PROVISIONING_PATHS
        if config.state_dir != "/etc/vpnspot":
            prov = (os.path.join(config.state_dir, "provisioning"),)
        paths = configstore.Paths(os.path.join(args.config_dir, "vpnspot"), prov)
        backend = RealBackend(paths=paths, state_dir=config.state_dir, run_dir=args.run_dir)

    def ready(url):
        print("web UI: open %s%s" % (url, " (demo: in-memory fake router)" if args.fake else ""),
              flush=True)
    try:
        serve(backend, config, ready)
    except OSError as e:
        print("error: cannot listen on %s: %s" % (args.listen, e.strerror or e), file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def register(sub):
    p = sub.add_parser("web", help="serve the household web UI on the LAN address")
    p.add_argument("--listen", required=True, metavar="ADDR:PORT",
                   help="the router's LAN address and port, e.g. 192.168.1.1:443")
    p.add_argument("--fake", action="store_true",
                   help="demo/test: an in-memory router instead of this one's files")
    p.add_argument("--http", action="store_true",
                   help="plain HTTP (tests and demos on 127.0.0.1 only; the cookie is then not Secure)")
    p.add_argument("--redirect-port", type=int, metavar="PORT",
                   help="also answer plain HTTP on this port with a redirect to HTTPS")
    p.add_argument("--name", action="append", metavar="HOST",
                   help="another name the router answers to (Host header), may repeat")
    p.add_argument("--state", metavar="DIR",
                   help="where the password and certificate live (default /etc/vpnspot)")
    p.add_argument("--config-dir", default="/etc/config",
                   help="UCI directory (file vpnspot), as for `vpnspot agent`")
    p.add_argument("--run-dir", default="/run/vpnspot",
                   help="the running agent's status files and control socket")
    p.set_defaults(func=cmd_web)
