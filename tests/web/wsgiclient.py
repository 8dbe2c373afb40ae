"""A small webtest-like client: calls the WSGI app directly, keeps the one
cookie, and finds the CSRF token in the last page, so the security tests
read like the requests a browser (or an attacker) would send."""

import io
import re
import urllib.parse
from http.cookies import SimpleCookie


class Response:
    def __init__(self, status, headers, body):
        self.status = int(status.split()[0])
        self.status_line = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_named(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def location(self):
        loc = self.header("Location")
        return urllib.parse.urlsplit(loc).path if loc else None


class Client:
    def __init__(self, app, host="192.168.77.1", https=True):
        self.app = app
        self.host = host
        self.https = https
        self.cookie = None
        self.last = None

    def csrf(self):
        m = re.search(r'name="csrf-token" content="([^"]+)"', self.last.text if self.last else "")
        return m.group(1) if m else None

    def request(self, method, path, body=b"", content_type=None, headers=None, host=None,
                content_length=None):
        path, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "router", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "https" if self.https else "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0), "wsgi.multithread": False,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body) if content_length is None else content_length),
            "HTTP_HOST": self.host if host is None else host,
        }
        if content_type:
            environ["CONTENT_TYPE"] = content_type
        if self.cookie:
            environ["HTTP_COOKIE"] = "vpnspot_session=" + self.cookie
        for k, v in (headers or {}).items():
            environ["HTTP_" + k.upper().replace("-", "_")] = v
        captured = {}

        def start_response(status, hdrs, exc_info=None):
            captured["status"], captured["headers"] = status, hdrs
        chunks = self.app(environ, start_response)
        body_out = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        resp = Response(captured["status"], captured["headers"], body_out)
        for value in resp.headers_named("Set-Cookie"):
            c = SimpleCookie()
            c.load(value)
            if "vpnspot_session" in c:
                morsel = c["vpnspot_session"]
                self.cookie = morsel.value or None
                if morsel["expires"] or morsel["max-age"] == "-1" or morsel["max-age"] == "0":
                    if not morsel.value:
                        self.cookie = None
        if resp.header("Content-Type", ) and resp.header("Content-Type").startswith("text/html"):
            self.last = resp
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, fields=None, csrf=True, **kw):
        fields = dict(fields or {})
        if csrf is True:
            fields["csrf"] = self.csrf()
        elif csrf:
            fields["csrf"] = csrf
        body = urllib.parse.urlencode(fields, doseq=True).encode()
        return self.request("POST", path, body=body,
                            content_type="application/x-www-form-urlencoded", **kw)

    def post_multipart(self, path, fields, files):
        boundary = "----vpnspottest"
        parts = []
        for k, v in fields.items():
            parts.append('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                         % (boundary, k, v))
        for k, (filename, data) in files.items():
            parts.append('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                         'Content-Type: text/plain\r\n\r\n%s\r\n' % (boundary, k, filename, data))
        parts.append("--%s--\r\n" % boundary)
        body = "".join(parts).encode()
        return self.request("POST", path, body=body,
                            content_type="multipart/form-data; boundary=%s" % boundary)
