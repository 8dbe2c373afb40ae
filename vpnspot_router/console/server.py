"""`vpnspot console`: the technician's command shell on the router's serial port.

Data flow:
  tty bytes -> ConsoleSession.feed -> core LineEditor (echo, lines)
            -> core parse -> backend call -> render.py lines
            -> core frame_human / frame_json -> tty

Owns the session state (human or JSON framing, the factory-reset
confirmation, the responses remembered per request id so a client that
lost a response to line noise can ask again without running the command
twice) and the IO loop over a file descriptor pair: a serial device opened
raw (8N1, no flow control, CLOCAL so a pulled cable does not hang us) or
stdin/stdout. The loop never blocks for long: reads wait at most TICK
seconds (debug sessions expire on time), and a write that cannot drain
within WRITE_TIMEOUT (nobody reading a pty, a stuck line) is dropped.

Nothing here may end the session on bad input: a backend failure becomes
an error response naming what failed; only `exit`, end of input or a
hang-up of the line end it.
"""

import argparse
import collections
import errno
import os
import select
import signal
import sys
import termios
import time
import traceback
import tty

from vpnspot_router.console import render
from vpnspot_router.console.backend import ConsoleError, Unavailable
from vpnspot_router.core import console_proto as proto

TICK = 1.0
WRITE_TIMEOUT = 5.0
REMEMBERED = 32
BANNER = ["VPN Spot router console. Type help for commands, exit to leave."]
CONFIRM_TEXT = ["factory-reset erases everything this router keeps for the household:",
                "settings, enrollment and keys, the web UI password, bandwidth totals",
                "(the ISP's provisioning in the firmware image is kept).",
                "Type yes to erase; anything else cancels."]


class ConsoleSession:
    """One technician's session: bytes in -> bytes out. `done` once they exit."""

    def __init__(self, backend, json_mode=False, echo=True):
        self.backend = backend
        self.json = json_mode
        self.echo = echo
        self.editor = proto.LineEditor(echo=echo and not json_mode)
        self.pending = None
        self.remembered = collections.OrderedDict()
        self.seq = 0
        self.done = False

    def greeting(self):
        return self._frame(proto.Response(None, proto.OK, {"banner": BANNER[0]}, list(BANNER)))

    def _frame(self, resp):
        prompt = resp.status != proto.BYE
        if self.json:
            return proto.frame_json(resp, prompt)
        return proto.frame_human(resp, prompt)

    def feed(self, data):
        out = []
        echo, events = self.editor.feed(data)
        out.append(echo)
        for event in events:
            if self.done:
                break
            if event[0] == proto.LINE:
                out.append(self.line(event[1]))
            elif event[0] == proto.INTERRUPT:
                if self.pending:
                    self.pending = None
                    out.append(self._frame(proto.Response(None, proto.OK, {"cancelled": True},
                                                          ["cancelled"])))
                else:
                    out.append(proto.PROMPT.encode())
            else:
                self.seq += 1
                out.append(self._frame(proto.Response(str(self.seq), proto.ERROR,
                                                      {"error": event[1]}, [event[1]])))
        return b"".join(out)

    def line(self, text):
        # A terminal that echoes what it receives sends our prompt back.
        while text.startswith(proto.PROMPT):
            text = text[len(proto.PROMPT):]
        req = proto.parse(text)
        if req.rid is not None and req.rid in self.remembered:
            return self._frame(self.remembered[req.rid])
        self.seq += 1
        rid = req.rid if req.rid is not None else str(self.seq)
        if self.pending and (req.error or req.command is not None or req.args):
            resp = self._confirm(rid, req.args == ["yes"] or req.command == "yes")
        elif req.error:
            resp = proto.Response(rid, proto.ERROR, {"error": req.error}, [req.error])
        elif req.command is None:
            return proto.PROMPT.encode()
        else:
            was_json = self.json
            resp = self._run(rid, req)
            if req.command == "json" and was_json and not self.json:
                # The answer to "json off" still goes to the program that
                # asked in JSON; the human framing starts after it.
                return proto.frame_json(resp)
        if req.rid is not None:
            self.remembered[req.rid] = resp
            while len(self.remembered) > REMEMBERED:
                self.remembered.popitem(last=False)
        return self._frame(resp)

    def _confirm(self, rid, yes):
        self.pending = None
        if not yes:
            return proto.Response(rid, proto.OK, {"cancelled": True},
                                  ["cancelled; nothing was erased"])
        return self._call(rid, "factory-reset", self.backend.factory_reset, ())

    def _run(self, rid, req):
        name = req.command
        opts = req.options
        if name == "help":
            return proto.Response(rid, proto.OK, {"commands": [c.usage for c in proto.COMMANDS]},
                                  proto.help_lines(opts.get("topic")))
        if name == "json":
            self.json = opts["on"]
            self.editor.echo = self.echo and not self.json
            return proto.Response(rid, proto.OK, {"json": self.json},
                                  ["json " + ("on" if self.json else "off")])
        if name == "exit":
            self.done = True
            return proto.Response(rid, proto.BYE, {}, ["bye"])
        if name == "factory-reset":
            self.pending = name
            return proto.Response(rid, proto.CONFIRM, {"confirm": "yes"}, list(CONFIRM_TEXT))
        b = self.backend
        calls = {
            "status": (b.status, ()), "diag": (b.diag, ()), "servers": (b.servers, ()),
            "connect": (b.connect, (opts.get("target"),)), "disconnect": (b.disconnect, ()),
            "logs": (b.logs, (opts.get("n"),)),
            "debug open": (b.debug_open, (opts.get("minutes"),)),
            "debug close": (b.debug_close, ()), "debug show": (b.debug_show, ()),
            "config get": (b.config_get, (opts.get("key"),)),
            "config set": (b.config_set, (opts.get("key"), opts.get("value"))),
            "config diff": (b.config_diff, ()), "config commit": (b.config_commit, ()),
            "config revert": (b.config_revert, ()), "bundle": (b.bundle, ()),
        }
        fn, args = calls[name]
        return self._call(rid, name, fn, args)

    def _call(self, rid, name, fn, args):
        try:
            data = fn(*args)
            return proto.Response(rid, proto.OK, data, render.BY_COMMAND[name](data))
        except Unavailable as e:
            return proto.Response(rid, proto.UNAVAILABLE, {"error": str(e)}, [str(e)])
        except ConsoleError as e:
            return proto.Response(rid, proto.ERROR, {"error": str(e)}, [str(e)])
        except Exception as e:  # a bug must cost one command, not the technician's session
            traceback.print_exc(file=sys.stderr)
            text = "%s failed inside the router: %s: %s" % (name, type(e).__name__, e)
            return proto.Response(rid, proto.ERROR, {"error": text}, [text])

    def tick(self):
        tick = getattr(self.backend, "tick", None)
        if tick:
            try:
                tick()
            except Exception:
                traceback.print_exc(file=sys.stderr)


# -- IO -------------------------------------------------------------------------

class HangUp(Exception):
    """The line went away (pty closed, device removed)."""


def write_all(fd, data, timeout=WRITE_TIMEOUT):
    """Write everything, or give up after `timeout` without draining."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
            continue
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno in (errno.EIO, errno.ENXIO, errno.EBADF, errno.EPIPE):
                raise HangUp(str(e))
            raise
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        select.select([], [fd], [], min(left, 0.5))
    return True


def serve(session, fd_in, fd_out, tick=TICK, stop=lambda: False, writer=None):
    """Run the session until exit, end of input or hang-up. `writer(bytes)`
    replaces the plain write to fd_out (tests: a slow or noisy line)."""
    writer = writer or (lambda data: write_all(fd_out, data))
    try:
        writer(session.greeting())
    except HangUp:
        return "hang-up"
    while not session.done and not stop():
        try:
            ready, _, _ = select.select([fd_in], [], [], tick)
        except InterruptedError:
            continue
        if not ready:
            session.tick()
            continue
        try:
            data = os.read(fd_in, 4096)
        except BlockingIOError:
            continue
        except OSError as e:
            if e.errno in (errno.EIO, errno.ENXIO, errno.EBADF):
                return "hang-up"
            raise
        if not data:
            return "end of input"
        try:
            writer(session.feed(data))
        except HangUp:
            return "hang-up"
    return "exit"


def open_tty(path, baud):
    """A serial device, raw 8N1 at `baud`, CLOCAL (modem lines ignored)."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        speed = getattr(termios, "B%d" % baud, None)
        if speed is None:
            raise ValueError("%d is not a speed this system's serial driver knows" % baud)
        attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB | termios.CSTOPB
                                 | getattr(termios, "CRTSCTS", 0))) | termios.CS8 | termios.CREAD \
            | termios.CLOCAL
        attrs[0] &= ~(termios.IXON | termios.IXOFF)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except Exception:
        os.close(fd)
        raise
    return fd


def make_backend(args):
    from vpnspot_router import configstore
    from vpnspot_router.console.backend import RealBackend
    paths = configstore.Paths(args.config, tuple(args.provisioning) if args.provisioning
                              else configstore.PROVISIONING_PATHS)
    return RealBackend(paths=paths, run_dir=args.run_dir, state_dir=args.state)


def cmd_console(args):
    backend = make_backend(args)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))
    signal.signal(signal.SIGHUP, lambda s, f: sys.exit(0))
    if args.tty:
        baud = args.baud
        if baud is None:
            try:
                baud = backend._settings()[0].console_baud
            except ConsoleError:
                baud = 115200
        try:
            fd = open_tty(args.tty, baud)
        except (OSError, ValueError) as e:
            print("error: %s: cannot open the serial port: %s" % (args.tty, getattr(e, "strerror", None)
                                                                  or e), file=sys.stderr)
            return 1
        session = ConsoleSession(backend, json_mode=args.json, echo=True)
        try:
            serve(session, fd, fd)
        finally:
            os.close(fd)
        return 0
    fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    saved = None
    if os.isatty(fd_in):
        saved = termios.tcgetattr(fd_in)
        tty.setraw(fd_in)
    try:
        session = ConsoleSession(backend, json_mode=args.json, echo=saved is not None)
        serve(session, fd_in, fd_out)
    finally:
        if saved is not None:
            termios.tcsetattr(fd_in, termios.TCSADRAIN, saved)
    return 0


def register(sub):
    from vpnspot_router import configstore
    p = sub.add_parser("console", help="technician console on a serial port (or stdin/stdout)")
    p.add_argument("--tty", metavar="DEV", help="serial device, e.g. /dev/ttyS0 (default: "
                   "stdin/stdout)")
    p.add_argument("--baud", type=int, metavar="N", help="speed (default: console.baud, 115200)")
    p.add_argument("--json", action="store_true", help="start with machine-readable responses")
    p.add_argument("--config", default=configstore.CONFIG_PATH, help=argparse.SUPPRESS)
    p.add_argument("--provisioning", action="append", help=argparse.SUPPRESS)
    p.add_argument("--run-dir", default="/run/vpnspot", help=argparse.SUPPRESS)
    p.add_argument("--state", default="/etc/vpnspot", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_console)
