"""The web server's own bounds (web/httpd.py): a LAN device that opens many
connections gets at most MAX_CONNECTIONS handler threads, and the UI answers
again once they close."""

import http.client
import socket
import threading
import time

from vpnspot_router.web import httpd
from vpnspot_router.web import server as web_server


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def handler_threads():
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def test_sixty_idle_connections_get_at_most_max_connections_threads_and_the_ui_answers_after():
    srv = web_server.make_server(hello, "127.0.0.1", 0)
    port = srv.server_address[1]
    loop = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    loop.start()
    idle = []
    try:
        for _ in range(60):
            # Not waiting for each to be accepted: the listen queue is short,
            # and the server takes a new one only when a slot is free.
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            idle.append(s)
        deadline = time.monotonic() + 3
        most = 0
        while time.monotonic() < deadline:
            most = max(most, len(handler_threads()))
            time.sleep(0.05)
        print("\n[idle connections] 60 opened: %d handler threads (cap %d)"
              % (most, httpd.MAX_CONNECTIONS))
        assert 0 < most <= httpd.MAX_CONNECTIONS
        for s in idle:
            s.close()
        idle = []
        # Slots come back: the UI answers (the refused extra connections,
        # closed after SLOT_WAIT, may still be draining from the queue).
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=httpd.SLOT_WAIT * 20)
        conn.request("GET", "/", headers={"Host": "127.0.0.1"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"ok"
        conn.close()
        print("[idle connections] next request answered after %.2f s" % (time.monotonic() - t0))
    finally:
        for s in idle:
            s.close()
        srv.shutdown()
        srv.server_close()
