"""`vpnspot web`: serve the household UI on the router's LAN address.

Owns the listening sockets: one LAN address (never 0.0.0.0, so the WAN
side has nothing to connect to), HTTPS with the certificate from tls.py,
and optionally a plain-HTTP port on the same address that only redirects
to the HTTPS URL (built from the configured address, never from the
request's Host). The server itself (threads, TLS, no access log) is in
httpd.py.

Binding the LAN address alone does not keep the WAN side out: Linux
accepts a packet for any of its addresses on any interface, so an ISP that
routes the LAN address to the router's WAN would reach the UI. The
listening sockets are therefore also tied to the interface that holds the
address (SO_BINDTODEVICE, e.g. br-lan): a connection arriving on any other
interface is refused by the kernel, whatever the firewall says.

Three ways to run (issue 12, memory; see webholder.py):
  always on      `vpnspot web --listen ADDR:PORT` binds and serves forever;
  on demand      `vpnspot web --listen ADDR:PORT --on-demand` is only the
                 socket holder (no bottle, ssl or http.server): it starts
                 the web process when a browser connects; the agent can
                 hold the sockets instead (`vpnspot agent --web-listen`);
  started by a holder  `--listen-fd N [--redirect-fd M] --idle-exit S`:
                 serve the inherited sockets, save the sessions and exit
                 after S seconds without a request.
"""

import os
import sys
import threading

# Nothing heavy at import: .app (and bottle with it, ~12 MB), .httpd (ssl,
# http.server, wsgiref) are imported only when the UI is served, so
# registering this command costs the other `vpnspot` commands, and the
# on-demand holder, nothing.

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
SESSION_STATE_FILE = "web-sessions.json"
# The sign-in lockout, written at every counted attempt (security.Lockout):
# in the RUN directory (tmpfs), so a web process killed mid-check (out of
# memory, kill -9) does not reset it; the demo's in its state directory.
LOCKOUT_FILE = "web-lockout.json"


def device_of(host):
    from vpnspot_router.webholder import device_of as find
    return find(host)


def make_server(wsgi_app, host, port, cert=None, device=None, sock=None, activity=None):
    from . import httpd
    return httpd.make_server(wsgi_app, host, port, cert, device, sock=sock, activity=activity)


def redirect_app(target_url):
    from . import httpd
    return httpd.redirect_app(target_url)


def _inherited(fd):
    import socket
    return socket.socket(fileno=fd)


def serve(backend, config, ready=None, listen_fd=None, redirect_fd=None, idle_exit=None):
    """Run until interrupted, or (idle_exit) until no request came for that
    many seconds. ready(url) is called once the sockets listen."""
    cert = None
    if config.https:
        from .tls import ensure_certificate
        names = [config.host] + [h for h in config.allowed_hosts if not h.startswith("[")]
        cert = ensure_certificate(config.state_dir, list(dict.fromkeys(names)))
    from . import httpd
    from .app import app
    activity = httpd.Activity() if idle_exit else None
    device = None if listen_fd is not None else device_of(config.host)
    wsgi = app(backend, config)
    sock = _inherited(listen_fd) if listen_fd is not None else None
    server = make_server(wsgi, config.host, config.port, cert, device, sock=sock,
                         activity=activity)
    servers = [server]
    if config.redirect_port and (listen_fd is None or redirect_fd is not None):
        rsock = _inherited(redirect_fd) if redirect_fd is not None else None
        servers.append(make_server(redirect_app(config.url()), config.host, config.redirect_port,
                                   device=device, sock=rsock, activity=activity))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers[1:]]
    if idle_exit:
        threads.append(threading.Thread(target=_exit_when_idle, args=(server, activity, idle_exit),
                                        daemon=True))
    for t in threads:
        t.start()
    if ready:
        ready(config.url())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for s in servers:
            s.shutdown() if s is not server else None
            s.server_close()
        save = getattr(getattr(wsgi, "bottle", None), "config", {}).get("vpnspot.save_state")
        if save is not None:
            try:
                save()
            except OSError as e:
                print("vpnspot web: sessions not saved (%s): the household signs in again"
                      % (e.strerror or e), file=sys.stderr)


def _exit_when_idle(server, activity, idle_exit):
    while activity.idle_for() < idle_exit:
        threading.Event().wait(min(1.0, max(0.1, idle_exit / 10.0)))
    server.shutdown()


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
    try:
        host, port = parse_listen(args.listen)
    except ValueError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    if args.on_demand:
        return hold(args, host, port)
    from .app import WebConfig
    state_dir = args.state
    if args.fake and state_dir is None:
        import tempfile
        state_dir = os.path.join(tempfile.gettempdir(), "vpnspot-web-demo")
    state_file = None
    # Sessions outlive this process (it exits when idle): a file in the RUN
    # directory (tmpfs); the demo's in its own state directory. The lockout
    # file too, in every mode.
    where = state_dir if args.fake else args.run_dir
    os.makedirs(where, mode=0o700, exist_ok=True)
    if args.idle_exit:
        state_file = os.path.join(where, SESSION_STATE_FILE)
    from vpnspot_router import setupcode
    state_dir = state_dir or "/etc/vpnspot"
    config = WebConfig(host=host, port=port, state_dir=state_dir,
                       https=not args.http, allowed_hosts=args.name or (),
                       redirect_port=args.redirect_port, memory_only=args.fake,
                       state_file=state_file, lockout_file=os.path.join(where, LOCKOUT_FILE),
                       provisioning_paths=() if args.fake else
                       setupcode.provisioning_paths_for(state_dir))
    if args.fake:
        from .backend import FakeBackend
        backend = FakeBackend()
    else:
        from vpnspot_router import configstore
        from .realbackend import RealBackend
        # Same layout as `vpnspot agent`: the UCI file in --config-dir, the
        # ISP's provisioning file beside device.json in the state directory.
        paths = configstore.Paths(os.path.join(args.config_dir, "vpnspot"),
                                  config.provisioning_paths)
        backend = RealBackend(paths=paths, state_dir=config.state_dir, run_dir=args.run_dir)

    def ready(url):
        print("web UI: open %s%s" % (url, " (demo: in-memory fake router)" if args.fake else ""),
              flush=True)
        if args.fake:
            # The demo's own code (never printed for a real router: this
            # output goes to the system log there; `vpnspot setup-code`).
            print("web UI: setup code %s" % setupcode.shown(setupcode.current(state_dir)[0]),
                  flush=True)
    if args.idle_exit:
        import signal

        def stop(signum, frame):
            raise SystemExit(0)         # through serve()'s finally: sessions saved
        signal.signal(signal.SIGTERM, stop)
    from vpnspot_router.webholder import ListenError
    try:
        serve(backend, config, ready, listen_fd=args.listen_fd, redirect_fd=args.redirect_fd,
              idle_exit=args.idle_exit)
    except ListenError as e:
        print("error: %s" % e.strerror, file=sys.stderr)
        return EXIT_FAILURE
    except OSError as e:
        print("error: cannot listen on %s: %s" % (args.listen, e.strerror or e), file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def hold(args, host, port):
    """`--on-demand`: hold the sockets, start `vpnspot web --listen-fd` per
    pending connection (webholder.py). Runs until SIGTERM/SIGINT."""
    import signal
    from vpnspot_router import webholder
    extra = []
    for flag, value in (("--fake", args.fake), ("--http", args.http)):
        if value:
            extra.append(flag)
    for name in args.name or ():
        extra += ["--name", name]
    if args.state:
        extra += ["--state", args.state]
    extra += ["--config-dir", args.config_dir, "--run-dir", args.run_dir]
    idle = args.idle_exit or webholder.DEFAULT_IDLE_EXIT

    def command(fds):
        return webholder.web_command(args.listen, fds, idle, args.redirect_port, extra)
    holder = webholder.Holder(host, port, command, redirect_port=args.redirect_port)
    if not holder.bind():
        return EXIT_FAILURE

    def stop(signum, frame):
        holder.stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    shown = "[%s]" % host if ":" in host else host
    print("web UI: on demand at %s://%s:%d/ (started when a browser connects, stops after %d s "
          "idle)" % ("http" if args.http else "https", shown, port, idle), flush=True)
    holder.run()
    return EXIT_OK


def register(sub):
    p = sub.add_parser("web", help="serve the household web UI on the LAN address")
    p.add_argument("--listen", required=True, metavar="ADDR:PORT",
                   help="the router's LAN address and port, e.g. 192.168.1.1:8443")
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
    p.add_argument("--on-demand", action="store_true",
                   help="only hold the listening sockets; start the web UI when a browser "
                   "connects, and let it stop when idle (saves memory)")
    p.add_argument("--idle-exit", type=int, metavar="SECONDS",
                   help="stop after this many seconds without a request (default with "
                   "--on-demand: 300); sessions are kept in --run-dir for the next start")
    p.add_argument("--listen-fd", type=int, metavar="FD",
                   help="serve this inherited listening socket (from the holder) instead of "
                   "binding --listen")
    p.add_argument("--redirect-fd", type=int, metavar="FD",
                   help="the inherited socket for --redirect-port")
    p.set_defaults(func=cmd_web)
