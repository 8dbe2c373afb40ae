"""The `vpnspot` command: one entry point, one subcommand per job.

  vpnspot tunnel up CONFIG [--ifname NAME] [--status-file F] [--foreground]
                    [--backend auto|kernel|userspace]
        run the WireGuard tunnel of a wg-quick config until SIGTERM
  vpnspot genkey | vpnspot pubkey
        like `wg genkey` / `wg pubkey`, through our crypto provider
  vpnspot agent | status | killswitch | guard
        the router agent, its status, the kill switch table and the boot guard
        (vpnspot_router.agent, net/guard.py)
  vpnspot web --listen LAN_ADDR:PORT
        the household web UI on the LAN address (vpnspot_router.web)
  vpnspot setup-code [--state DIR]
        the web UI's first-run setup code (vpnspot_router.setupcode)
  vpnspot console [--tty DEV]
        the technician's serial console shell (vpnspot_router.console)
  vpnspot enroll | servers
        enroll with the VPN Spot service, list its servers (vpnspot_router.provider)
  vpnspot hw probe | choose
        the board and crypto probe and the measured offload choice (vpnspot_router.hw)
  vpnspot lab demo | up | down | status | provider
        the namespace demos, the household lab and the reference provider service
        (lab only, imported when used)

Exit codes: 0 success, 1 runtime failure (e.g. no TUN), 2 bad usage or a bad
config file; a bad config is reported as "error: FILE:LINE: FIELD: message"
before anything is created.
"""

import argparse
import importlib
import logging
import os
import sys

from vpnspot_router.version import VERSION

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _error(message, code):
    print("error: %s" % message, file=sys.stderr)
    return code


def _default_ifname(config_path):
    # As wg-quick: /etc/wireguard/wg0.conf is interface wg0.
    base = os.path.basename(config_path)
    if base.endswith(".conf"):
        base = base[:-5]
    return base


def cmd_tunnel_up(args):
    from vpnspot_router.core.wgconf import ConfigError, parse

    try:
        with open(args.config, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        return _error("%s: cannot read: %s" % (args.config, e.strerror), EXIT_USAGE)
    try:
        conf = parse(text, args.config)
    except ConfigError as e:
        return _error(str(e), EXIT_USAGE)
    ifname = args.ifname or _default_ifname(args.config)
    if not ifname or len(ifname) > 15 or "/" in ifname or " " in ifname:
        return _error("interface name %r must be 1-15 characters without '/' or spaces; use --ifname"
                      % ifname, EXIT_USAGE)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="vpnspot[%(process)d]: %(levelname)s %(message)s")
    if args.verbose:
        # Only our own debug lines; pyroute2's are netlink dumps.
        logging.getLogger("vpnspot").setLevel(logging.DEBUG)
    from vpnspot_router.crypto import default_provider
    from vpnspot_router.tunnel import dataplane, tun

    status_path = args.status_file or dataplane.default_status_path(ifname)
    if _tunnel_backend(args.backend) == "kernel":
        from vpnspot_router.tunnel import kernel
        try:
            return kernel.serve(conf, ifname, status_path=status_path,
                                status_interval=args.status_interval)
        except kernel.KernelError as e:
            return _error(str(e), EXIT_FAILURE)
    try:
        # Test and lab hook only: shortened protocol timers.
        from vpnspot_router.core.config import parse_timing
        timing = parse_timing(os.environ, "VPNSPOT_WG_TIMING")
        plane = dataplane.open_tunnel(conf, ifname, default_provider(), status_path=status_path,
                                      status_interval=args.status_interval, timing=timing)
    except ConfigError as e:
        return _error(str(e), EXIT_USAGE)
    except ValueError as e:
        return _error(str(e), EXIT_USAGE)
    except tun.TunError as e:
        return _error(str(e), EXIT_FAILURE)
    except OSError as e:
        return _error("cannot start tunnel %s: %s" % (ifname, e), EXIT_FAILURE)
    logging.getLogger("vpnspot.tunnel").info(
        "tunnel %s up: %d peer(s), UDP port %d, status in %s",
        plane.ifname, len(conf.peers), plane.bind.port, status_path)
    return plane.run()


def _tunnel_backend(requested):
    """'kernel' or 'userspace' for --backend, printing which and why."""
    if requested == "userspace":
        print("vpnspot: userspace WireGuard (--backend userspace)", file=sys.stderr)
        return "userspace"
    from vpnspot_router.tunnel.kernel import module_available
    state = module_available()
    if requested == "kernel" or state:
        print("vpnspot: kernel WireGuard: %s" % state.reason, file=sys.stderr)
        return "kernel"
    print("vpnspot: userspace WireGuard: %s" % state.reason, file=sys.stderr)
    return "userspace"


def cmd_genkey(args):
    import binascii
    from vpnspot_router.core.cryptoapi import generate_private_key
    from vpnspot_router.crypto import default_provider

    print(binascii.b2a_base64(generate_private_key(default_provider())).decode().strip())
    return EXIT_OK


def cmd_pubkey(args):
    import binascii
    from vpnspot_router.core.wgconf import decode_key
    from vpnspot_router.crypto import default_provider

    text = sys.stdin.read().strip()
    try:
        private = decode_key(text)
    except ValueError:
        return _error("stdin: not a 32-byte base64 key; pipe in the output of `vpnspot genkey`",
                      EXIT_USAGE)
    print(binascii.b2a_base64(default_provider().x25519_public(private)).decode().strip())
    return EXIT_OK


def cmd_lab(args):
    try:
        import vpnspot_router.lab  # noqa: F401
    except ImportError as e:
        # The router package leaves lab/ out (firmware_pkg/build.py EXCLUDED).
        if getattr(e, "name", None) != "vpnspot_router.lab":
            raise
        return _error("the namespace lab is not part of this installation "
                      "(vpnspot_router.lab is missing); run it from a source checkout",
                      EXIT_FAILURE)
    if args.lab_args[:1] in (["up"], ["down"], ["status"]):
        from vpnspot_router.lab import topology
        return topology.main(args.lab_args)
    if args.lab_args[:1] == ["provider"]:
        from vpnspot_router.lab import provider_service
        return provider_service.main(args.lab_args[1:])
    try:
        from vpnspot_router.lab import demo
    except ImportError as e:
        if getattr(e, "name", None) != "vpnspot_router.lab.demo":
            raise
        return _error("the namespace lab demo is not part of this installation "
                      "(vpnspot_router.lab.demo is missing); run it from a source checkout",
                      EXIT_FAILURE)
    return demo.main(args.lab_args)


def build_parser(command=None):
    """The `vpnspot` parser; with `command`, only that command's module is
    imported to declare it (see COMMAND_MODULES), else every command."""
    parser = argparse.ArgumentParser(prog="vpnspot", description="VPN Spot router agent")
    parser.add_argument("--version", action="version", version="vpnspot " + VERSION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    tunnel = sub.add_parser("tunnel", help="run a WireGuard tunnel from a wg-quick config")
    tsub = tunnel.add_subparsers(dest="tunnel_command", metavar="ACTION")
    tsub.required = True
    up = tsub.add_parser("up", help="bring up CONFIG and run in the foreground until SIGTERM")
    up.add_argument("config", metavar="CONFIG", help="a wg-quick style config file")
    up.add_argument("--ifname", help="interface name (default: CONFIG's file name without .conf)")
    up.add_argument("--status-file", help="status JSON path (default: /run/vpnspot/tunnel-IFNAME.json); "
                    "rewritten periodically and on SIGUSR1")
    up.add_argument("--status-interval", type=float, default=10.0, help="seconds between status writes")
    up.add_argument("--foreground", action="store_true",
                    help="accepted for procd/systemd clarity; the tunnel always runs in the foreground")
    up.add_argument("--backend", choices=("auto", "kernel", "userspace"), default="userspace",
                    help="kernel WireGuard, our userspace one, or auto: kernel when the "
                    "wireguard module loads, else userspace (default: userspace)")
    up.add_argument("-v", "--verbose", action="store_true", help="log handshake attempts too")
    up.set_defaults(func=cmd_tunnel_up)

    sub.add_parser("genkey", help="print a new private key").set_defaults(func=cmd_genkey)
    sub.add_parser("pubkey", help="read a private key on stdin, print its public key").set_defaults(
        func=cmd_pubkey)

    wanted = _modules_for(command)
    if "vpnspot_router.agent" in wanted:
        importlib.import_module("vpnspot_router.agent").register(sub)

    lab = sub.add_parser("lab", help="namespace lab: demo, up, down, status (source checkouts only)")
    lab.add_argument("lab_args", nargs=argparse.REMAINDER)
    lab.set_defaults(func=cmd_lab)
    # Each module's register() only declares arguments; heavy imports
    # (bottle, pyserial, pyroute2) wait until its command runs.
    for name in wanted:
        if name != "vpnspot_router.agent":
            importlib.import_module(name).register(sub)
    return parser


# Which module declares each command. Importing a module that declares
# commands costs memory for the life of the process (the web server's and
# the console's imports alone are about 13 MB), so a command imports only
# its own; a word not listed here (help, a typo, a command added without
# updating this table) registers them all, as before.
COMMAND_MODULES = {
    "agent": "vpnspot_router.agent", "status": "vpnspot_router.agent",
    "killswitch": "vpnspot_router.agent", "guard": "vpnspot_router.agent",
    "connect": "vpnspot_router.agent",
    "disconnect": "vpnspot_router.agent", "debug": "vpnspot_router.agent",
    "hw": "vpnspot_router.hw.cli",
    "enroll": "vpnspot_router.provider.commands", "servers": "vpnspot_router.provider.commands",
    "web": "vpnspot_router.web.server", "setup-code": "vpnspot_router.setupcode",
    "console": "vpnspot_router.console.server",
    "tunnel": None, "genkey": None, "pubkey": None, "lab": None,
}
ALL_MODULES = ("vpnspot_router.agent", "vpnspot_router.hw.cli", "vpnspot_router.provider.commands",
               "vpnspot_router.web.server", "vpnspot_router.setupcode",
               "vpnspot_router.console.server")


def _modules_for(command):
    if command not in COMMAND_MODULES:
        return ALL_MODULES
    name = COMMAND_MODULES[command]
    return (name,) if name else ()


def _command_word(argv):
    """The subcommand `argv` names (the first word that is not an option), or None."""
    for word in argv:
        if not word.startswith("-"):
            return word
        if word == "--":
            return None
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_word(argv)).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
