"""The HTTP(S) server under `vpnspot web`: threads, TLS, no access log, and
the idle clock of an on-demand web process.

Owns the wsgiref/socketserver classes (kept out of server.py, so that
`vpnspot web --on-demand`, the socket holder, never imports http.server,
ssl or wsgiref). Threads, one per connection, with a timeout, so one slow
phone cannot hold the UI, and at most MAX_CONNECTIONS of them: a LAN
device opening hundreds of connections cannot make the process grow
without bound (each thread is a stack, each request a parse); a further
connection waits in the listen queue for up to SLOT_WAIT seconds and is
then closed unanswered. A household's browser opens a handful.

A server made over an inherited listening socket (`sock`, from
webholder.py) neither binds nor closes anything the holder still needs:
the holder keeps its own copy of the socket.

The access log is off: the standard handler would print every client's
LAN address, which this product never records.
"""

import socket
import socketserver
import ssl
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


MAX_CONNECTIONS = 16
SLOT_WAIT = 5.0


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


class Activity:
    """When the last connection ended, and how many are open: an on-demand
    web process is idle when none is open and none ended for a while. One
    object shared by the HTTPS server and the redirect server."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.open = 0
        self.last = clock()
        self.lock = threading.Lock()

    def begin(self):
        with self.lock:
            self.open += 1
            self.last = self.clock()

    def end(self):
        with self.lock:
            self.open -= 1
            self.last = self.clock()

    def idle_for(self):
        with self.lock:
            return 0.0 if self.open else self.clock() - self.last


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """Serves on a socket that already listens: bound (and tied to its
    device) by webholder.listen_socket, here or in the holder that started
    this process, so both modes bind the same way."""
    daemon_threads = True

    def __init__(self, sock, handler, ssl_context=None, activity=None):
        self.address_family = sock.family
        self.ssl_context = ssl_context
        self.activity = activity
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        WSGIServer.__init__(self, sock.getsockname(), handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()
        # No getfqdn() here (HTTPServer.server_bind's reverse lookup): the
        # pages never use SERVER_NAME, and a lookup could stall the start.
        self.server_name, self.server_port = self.server_address[:2]
        self.setup_environ()

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            # The TLS handshake runs in the connection's own thread, on its
            # first read, so a client that never finishes it blocks nobody.
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request, client_address):
        # Accepting stops while every slot is taken (the kernel's listen
        # queue holds the next connections); one that waited SLOT_WAIT is
        # closed, so this loop never blocks for long (shutdown stays quick).
        if not self.slots.acquire(timeout=SLOT_WAIT):
            self.shutdown_request(request)
            return
        if self.activity is not None:
            self.activity.begin()
        try:
            socketserver.ThreadingMixIn.process_request(self, request, client_address)
        except BaseException:
            self.slots.release()
            if self.activity is not None:
                self.activity.end()
            raise

    def process_request_thread(self, request, client_address):
        try:
            socketserver.ThreadingMixIn.process_request_thread(self, request, client_address)
        finally:
            self.slots.release()
            if self.activity is not None:
                self.activity.end()

    def handle_error(self, request, client_address):
        # The default prints the client's address; say only what failed.
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout)):
            print("vpnspot web: request failed: %s" % type(exc).__name__, file=sys.stderr)


def make_server(wsgi_app, host, port, cert=None, device=None, sock=None, activity=None):
    """sock: an inherited listening socket; else one is made on host:port,
    tied to `device` when given."""
    if sock is None:
        from vpnspot_router.webholder import listen_socket
        sock = listen_socket(host, port, device)
    context = None
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert[0], cert[1])
    server = ThreadingServer(sock, QuietHandler, ssl_context=context, activity=activity)
    server.set_app(wsgi_app)
    return server


def redirect_app(target_url):
    def redirect(environ, start_response):
        start_response("301 Moved Permanently", [("Location", target_url),
                                                 ("Content-Length", "0"),
                                                 ("Cache-Control", "no-store")])
        return [b""]
    return redirect
