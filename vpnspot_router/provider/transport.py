"""The one-method boundary between the provider client and the network.

Owns: `Transport.handle(request) -> Response`, the HTTPS implementation the
router uses (stdlib http.client + ssl only: no third-party HTTP stack in the
router's flash), and FakeTransport, a real implementation of the same
interface that answers from a function, for tests of the client.

A transport moves one request and returns whatever HTTP status came back;
it raises only for failures below HTTP:

  TransportError
   +-- ConnectFailed        no route, refused, reset, DNS failure, connection
   |                        closed before an answer
   +-- TimedOut             connected (or trying to) but no answer in time
   +-- CertificateRejected  TLS verification failed: unknown CA, wrong name,
                            expired certificate

Certificate verification cannot be switched off: there is no parameter for
it. `ca_file` replaces the system CA bundle, so an ISP that runs its own
service pins its own CA. `resolve` maps the API hostname to an address
(like curl --resolve) for labs and ISPs without DNS for it; the certificate
is still checked against the hostname.

`device` binds every connection to one interface (SO_BINDTODEVICE), for
the connection check sent out of the tunnel: the kernel then routes the
request through that interface only, or fails, never through another. Such a
socket carries no firewall mark (SO_MARK stays 0): the routing rule for
FWMARK (net/routing.py) sends marked packets to the WAN, which is the one
place the check must not go. Without `device`, connections take the
router's ordinary route (its own traffic, through the WAN).

Keep in sync with client.py (which maps these errors to household messages).
"""

import http.client
import socket
import ssl
from collections import namedtuple
from urllib.parse import urlsplit

Request = namedtuple("Request", "method url headers body timeout")
# headers: dict with lower-case names; body: bytes
Response = namedtuple("Response", "status headers body")

MAX_RESPONSE_BYTES = 1 << 20  # the largest answer (500 servers) is ~200 KiB


class TransportError(Exception):
    """The request did not get an HTTP answer."""


class ConnectFailed(TransportError):
    pass


class TimedOut(TransportError):
    pass


class CertificateRejected(TransportError):
    pass


class Transport:
    """Interface: send one request, return its Response or raise TransportError."""

    def handle(self, request):
        raise NotImplementedError


def tls_context(ca_file=None):
    """Verifying client context: system CAs, or only the CAs in ca_file."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # create_default_context already sets these; asserting them here keeps
    # a future edit from weakening them unnoticed.
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


def open_socket(address, port, timeout, device=None):
    """A connected TCP socket to address:port; with `device`, bound to that
    interface before connecting and without a firewall mark."""
    if device is None:
        return socket.create_connection((address, port), timeout)
    error = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(address, port, 0,
                                                               socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    raise error or OSError("no address for %s" % address)


class _Connection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout, context, device=None):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ctx = context
        self._device = device

    def connect(self):
        sock = open_socket(self._address, self.port, self.timeout, self._device)
        try:
            self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class HttpsTransport(Transport):
    def __init__(self, ca_file=None, resolve=None, device=None):
        self.ca_file = ca_file
        self.resolve = dict(resolve or {})
        self.device = device
        self._context = tls_context(ca_file)

    @property
    def context(self):
        return self._context

    def handle(self, request):
        url = urlsplit(request.url)
        if url.scheme != "https" or not url.hostname:
            raise ValueError("the VPN Spot API URL must start with https:// (got %r)" % request.url)
        host = url.hostname
        port = url.port or 443
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        conn = _Connection(host, port, self.resolve.get(host, host), request.timeout, self._context,
                           self.device)
        try:
            conn.request(request.method, path, body=request.body, headers=request.headers)
            resp = conn.getresponse()
            body = resp.read(MAX_RESPONSE_BYTES + 1)
            if len(body) > MAX_RESPONSE_BYTES:
                raise ConnectFailed("answer larger than %d bytes" % MAX_RESPONSE_BYTES)
            headers = {k.lower(): v for k, v in resp.getheaders()}
            return Response(resp.status, headers, body)
        except ssl.SSLCertVerificationError as e:
            raise CertificateRejected(e.verify_message or str(e)) from None
        except ssl.SSLError as e:
            # Not a verdict on the certificate (that is the subclass above):
            # a handshake cut short or garbled on the way, like a reset.
            raise ConnectFailed("TLS failed: %s" % (e.reason or e)) from None
        except (socket.timeout, TimeoutError):
            raise TimedOut("no answer within %s s" % request.timeout) from None
        except (OSError, http.client.HTTPException) as e:
            raise ConnectFailed(type(e).__name__ + (": %s" % e if str(e) else "")) from None
        finally:
            conn.close()


class FakeTransport(Transport):
    """A transport that answers from `handler(request) -> Response`.

    `handler` may instead be a list of Responses and exceptions, answered
    in order. Every request is kept in `requests` for assertions.
    """

    def __init__(self, handler):
        self.requests = []
        if isinstance(handler, list):
            queue = list(handler)

            def handler(request):
                if not queue:
                    raise AssertionError("FakeTransport: no answer left for %s %s"
                                         % (request.method, request.url))
                item = queue.pop(0)
                if isinstance(item, BaseException):
                    raise item
                return item
        self._handler = handler

    def handle(self, request):
        self.requests.append(request)
        return self._handler(request)
