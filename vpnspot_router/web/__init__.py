"""The household web UI on the router (Bottle).

  backend.py     the narrow interface the pages use (Backend), its errors,
                 and FakeBackend, an in-memory implementation for tests/demos
  realbackend.py Backend over the router's files: configstore, the provider
                 client, the tunnel status file, a debug session
  security.py    admin password (scrypt), sessions, CSRF, login lockout,
                 Host header check, request size limit
  tls.py         the self-signed certificate made on first start
  chart.py       the bandwidth chart as inline SVG from accounting totals
  app.py         app(backend, config): routes and templates (webui/)
  server.py      `vpnspot web`: binds the LAN address (or takes the socket from
                 webholder.py), HTTPS, optional redirect, idle exit
  httpd.py       the threaded HTTP(S) server, no access log, idle clock

The UI never shows or stores a LAN client address or a destination outside
an explicit debug session; the backends hand it nothing of the kind.
"""
