"""`vpnspot-console`: the technician's side of the router's serial console.

  vpnspot-console PORT [--baud N|auto] [--json] [--timeout S] [--yes] [-v] [COMMAND ...]

PORT is a serial device (/dev/ttyUSB0) or a pyserial URL (socket://HOST:PORT,
loop://). With a COMMAND it runs that one command and exits (status 0 when
the router answered "ok", 1 for an error or "not available", 2 for bad
usage, 3 when no console could be reached); without one it is interactive,
with line history (~/.vpnspot_console_history).

How it talks (the protocol is core/console_proto.py's; keep both in sync):
  1. sync: Ctrl-C (drops any half-typed line), then "@sN json on" until a
     JSON response with that id arrives. Boot logs and a login banner before
     it are skipped. With --baud auto each common speed is tried in turn.
  2. each command goes out as "@cN COMMAND"; every received line that is
     not the JSON response with id cN is noise (kernel messages, boot log,
     our own echo, responses to earlier tries) and is skipped (shown on
     stderr with -v). CR, LF and CR LF all end a line.
  3. if the prompt comes back without our response (a kernel message or
     line noise broke the JSON line), or nothing arrives for a while, the
     same "@cN COMMAND" is sent again: the router remembers responses by
     id, so a command never runs twice.
  4. a read or write error (cable pulled, adapter unplugged) closes the
     port; it is reopened until --reconnect seconds pass, resynced, and the
     pending command resent with its id.
  5. at exit "json off" leaves the console as a person expects to find it.
Every wait has a deadline; nothing here blocks without one.
"""

import errno
import json
import os
import sys
import time

from vpnspot_router.core import console_proto as proto

COMMON_BAUDS = (115200, 57600, 38400, 19200, 9600, 230400, 460800, 921600)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_CONSOLE = 0, 1, 2, 3
PROMPT = proto.PROMPT.encode()
HISTORY = "~/.vpnspot_console_history"


class ClientError(Exception):
    """The console could not be reached or did not answer; says what to check."""


class PortLost(Exception):
    """The port failed under us (unplugged); reconnecting may help."""


def default_open_port(name, baud):
    """A pyserial port for a device path or URL, locked against other programs."""
    import serial
    try:
        kwargs = {"baudrate": baud, "timeout": 0.05, "write_timeout": 2.0}
        if "://" not in name:
            kwargs["exclusive"] = True
        return serial.serial_for_url(name, **kwargs)
    except serial.SerialException as e:
        raise ClientError(port_error_message(name, e))
    except (OSError, ValueError) as e:
        raise ClientError("%s: cannot open: %s" % (name, e))


def port_error_message(name, e):
    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.ENOENT or "No such file" in text:
        return ("%s: no such port: is the USB-serial adapter plugged in? "
                "(ls /dev/ttyUSB* /dev/ttyACM*)" % name)
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text:
        return ("%s: port is busy: another program (screen, minicom, another vpnspot-console) "
                "has it open; close it and try again" % name)
    if code == errno.EACCES or "Permission denied" in text:
        return ("%s: no permission: add yourself to the dialout group "
                "(sudo usermod -aG dialout $USER, then log in again)" % name)
    if "Connection refused" in text or code == errno.ECONNREFUSED:
        return "%s: connection refused: nothing listens there" % name
    return "%s: cannot open: %s" % (name, text)


def _looks_garbled(data):
    if not data:
        return False
    text = sum(1 for b in data if 32 <= b < 127 or b in (9, 10, 13))
    return text < 0.8 * len(data)


def extract_response(line, rid):
    """The JSON response with id `rid` in one received line, or None."""
    start = line.find(b'{"id"')
    if start < 0:
        return None
    try:
        obj = json.loads(line[start:].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(obj, dict) and obj.get("id") == rid and obj.get("status") in proto.STATUSES:
        return obj
    return None


class ConsoleClient:
    def __init__(self, port_name, baud=115200, open_port=default_open_port, timeout=30.0,
                 reconnect=30.0, noise=None, status=None, clock=time.monotonic):
        self.port_name = port_name
        self.baud = baud              # an int, or "auto"
        self.open_port = open_port
        self.timeout = timeout
        self.reconnect = reconnect
        self.noise = noise or (lambda line: None)
        self.status = status or (lambda text: None)
        self.clock = clock
        self.port = None
        self.buf = b""
        self.prompts = 0              # prompts seen at the start of a line
        self.seq = 0
        # Ids unique across clients: the router remembers responses by id,
        # and the next technician's "s1" must not get this one's answer.
        self.tag = os.urandom(3).hex()
        self.received = b""           # everything read during the last sync, for diagnosis

    # -- port -------------------------------------------------------------

    def _read(self):
        try:
            data = self.port.read(4096)
        except Exception as e:       # SerialException, OSError: the line is gone
            raise PortLost(str(e))
        return data

    def _write(self, data):
        try:
            self.port.write(data)
            self.port.flush()
        except Exception as e:
            raise PortLost(str(e))

    def _close_port(self):
        if self.port is not None:
            try:
                self.port.close()
            except Exception:
                pass
        self.port = None
        self.buf = b""

    def _lines(self, data):
        """Append data; return complete lines (CR, LF or CR LF ended)."""
        self.buf += data
        out = []
        while True:
            cut = -1
            for i, b in enumerate(self.buf):
                if b in (10, 13):
                    cut = i
                    break
            if cut < 0:
                break
            line = self.buf[:cut]
            self.buf = self.buf[cut + 1:]
            while line.startswith(PROMPT):
                line = line[len(PROMPT):]
                self.prompts += 1
            if line.strip():
                out.append(line)
        return out

    def _prompt_waiting(self):
        return self.buf.endswith(PROMPT) or self.buf.endswith(PROMPT.rstrip())

    # -- sync -------------------------------------------------------------

    def _try_sync(self, deadline):
        self.seq += 1
        rid = "%ss%d" % (self.tag, self.seq)
        self.received = b""
        self._write(b"\x03")
        next_send = self.clock()
        while self.clock() < deadline:
            if self.clock() >= next_send:
                self._write(("@%s json on\r" % rid).encode())
                next_send = self.clock() + 1.0
            data = self._read()
            self.received += data
            for line in self._lines(data):
                if extract_response(line, rid) is not None:
                    self._drain_prompt(min(deadline, self.clock() + 1.0))
                    return True
                self.noise(line)
        return False

    def _drain_prompt(self, deadline):
        while not self._prompt_waiting() and self.clock() < deadline:
            for line in self._lines(self._read()):
                self.noise(line)

    def connect(self, sync_timeout=None):
        """Open the port and reach the console's prompt (JSON framing on)."""
        sync_timeout = self.timeout if sync_timeout is None else sync_timeout
        bauds = COMMON_BAUDS if self.baud == "auto" else (self.baud,)
        garbled = False
        heard = b""
        for baud in bauds:
            self._close_port()
            self.port = self.open_port(self.port_name, baud)
            per_rate = min(sync_timeout, 1.5) if len(bauds) > 1 else sync_timeout
            try:
                if self._try_sync(self.clock() + per_rate):
                    if self.baud == "auto":
                        self.status("found the console at %d baud" % baud)
                    self.baud_found = baud
                    return baud
            except PortLost as e:
                self._close_port()
                raise ClientError("%s: the port failed: %s" % (self.port_name, e))
            garbled = garbled or _looks_garbled(self.received)
            heard = self.received or heard
        self._close_port()
        if garbled:
            raise ClientError("%s: the router answers with garbled bytes: wrong speed? "
                              "try --baud auto (tried %s)" % (self.port_name,
                                                              ", ".join(str(b) for b in bauds)))
        if heard:
            last = [l for l in heard.replace(b"\r", b"\n").split(b"\n") if l.strip()]
            shown = proto.ascii_text(last[-1].decode("ascii", "replace"))[:60] if last else ""
            raise ClientError("%s: something answers, but not the VPN Spot console (last line: "
                              "%r); on a router shell, start it with: vpnspot console"
                              % (self.port_name, shown))
        raise ClientError("%s: no answer within %.0f s: check the cable (TX to RX, RX to TX, "
                          "GND), the speed (--baud auto) and that the router is on"
                          % (self.port_name, sync_timeout))

    # -- requests ----------------------------------------------------------

    def _reconnect(self, why):
        self._close_port()
        self.status("connection lost (%s); waiting up to %.0f s for %s to come back"
                    % (why, self.reconnect, self.port_name))
        deadline = self.clock() + self.reconnect
        last = None
        while self.clock() < deadline:
            try:
                baud = self.baud
                if baud == "auto" and getattr(self, "baud_found", None):
                    self.baud = self.baud_found
                try:
                    self.connect(sync_timeout=min(5.0, max(0.5, deadline - self.clock())))
                finally:
                    self.baud = baud
                self.status("reconnected")
                return
            except ClientError as e:
                last = e
                time.sleep(0.2)
        raise ClientError("%s: connection lost and not back within %.0f s (%s)"
                          % (self.port_name, self.reconnect, last or why))

    def request(self, command, timeout=None):
        """Run one console command; its JSON response (a dict)."""
        if self.port is None:
            self.connect()
        timeout = self.timeout if timeout is None else timeout
        self.seq += 1
        rid = "%sc%d" % (self.tag, self.seq)
        line = ("@%s %s\r" % (rid, command)).encode("ascii", "replace")
        deadline = self.clock() + timeout
        resend_after = 3.0
        while True:
            try:
                return self._exchange(line, rid, deadline, resend_after)
            except PortLost as e:
                self._reconnect(str(e))

    def _exchange(self, line, rid, deadline, resend_after):
        self._write(line)
        sent = self.clock()
        prompts = self.prompts
        saw_other = False
        while self.clock() < deadline:
            data = self._read()
            for got in self._lines(data):
                obj = extract_response(got, rid)
                if obj is not None:
                    if obj["status"] != proto.BYE:
                        self._drain_prompt(min(deadline, self.clock() + 2.0))
                    return obj
                saw_other = True
                self.noise(got)
            # The prompt without our response: it was lost or broken in
            # transit; ask again (the router answers from memory).
            prompt_lost = saw_other and (self._prompt_waiting() or self.prompts > prompts)
            if prompt_lost or self.clock() - sent > resend_after:
                if self._prompt_waiting():
                    self.buf = b""
                self._write(line)
                sent = self.clock()
                prompts = self.prompts
                saw_other = False
                resend_after = min(resend_after * 1.5, 10.0)
        raise ClientError("%s: no response to %r within the timeout; the router may be busy "
                          "or the line noisy (--timeout to wait longer)"
                          % (self.port_name, line.decode("ascii", "replace").strip()))

    def close(self):
        if self.port is None:
            return
        try:
            self.seq += 1
            rid = "%sx%d" % (self.tag, self.seq)
            self._write(("@%s json off\r" % rid).encode())
            end = self.clock() + 1.0
            while self.clock() < end:
                if any(b'"id": "%s"' % rid.encode() in l for l in self._lines(self._read())):
                    break
        except (PortLost, ClientError):
            pass
        self._close_port()


# -- command line -------------------------------------------------------------

USAGE = ("usage: vpnspot-console PORT [--baud N|auto] [--json] [--timeout S] [--reconnect S] "
         "[--yes] [-v] [COMMAND ...]")


def parse_argv(argv):
    """Client options may come anywhere (`PORT diag --json`); every other
    word after PORT belongs to the command (`logs -n 5`). `--` ends options."""
    opts = {"baud": "115200", "json": False, "timeout": "30", "reconnect": "30", "yes": False,
            "verbose": False, "port": None, "command": []}
    i = 0
    only_words = False
    while i < len(argv):
        a = argv[i]
        i += 1
        if not only_words:
            if a == "--":
                only_words = True
                continue
            if a in ("-h", "--help"):
                # Help asked for is an answer, not an error: stdout, exit 0.
                opts["help"] = True
                return opts
            if a in ("--json", "--yes", "-v", "--verbose"):
                opts[{"-v": "verbose", "--verbose": "verbose"}.get(a, a[2:])] = True
                continue
            name = a.split("=", 1)[0]
            if name in ("--baud", "--timeout", "--reconnect"):
                if "=" in a:
                    value = a.split("=", 1)[1]
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise ValueError("%s needs a value" % name)
                opts[name[2:]] = value
                continue
        if opts["port"] is None:
            opts["port"] = a
        else:
            opts["command"].append(a)
    if opts["port"] is None:
        raise ValueError("which port? e.g. vpnspot-console /dev/ttyUSB0 diag")
    if opts["baud"] != "auto":
        if not opts["baud"].isdigit() or int(opts["baud"]) not in COMMON_BAUDS + (1200, 2400, 4800):
            raise ValueError("--baud %s: use auto or one of %s" % (
                opts["baud"], ", ".join(str(b) for b in COMMON_BAUDS)))
        opts["baud"] = int(opts["baud"])
    for key in ("timeout", "reconnect"):
        try:
            opts[key] = float(opts[key])
        except ValueError:
            raise ValueError("--%s %s: give seconds, e.g. 30" % (key, opts[key]))
        if not 0 < opts[key] <= 3600:
            raise ValueError("--%s: give 0 to 3600 seconds" % key)
    return opts


def _quote(word):
    if word and all(c not in word for c in " '\""):
        return word
    return "'%s'" % word.replace("'", "") if "'" in word and '"' not in word else '"%s"' % word


def _show(obj, as_json, out):
    if as_json:
        out.write(json.dumps(obj) + "\n")
    else:
        for line in obj.get("text") or []:
            out.write(line + "\n")
    out.flush()


def run_command(client, command, opts, out, ask):
    """One command, with the factory-reset confirmation. Returns an exit code."""
    obj = client.request(command)
    if obj["status"] == proto.CONFIRM:
        _show(obj, opts["json"], out)
        answer = "yes" if opts["yes"] else ask()
        obj = client.request("yes" if answer.strip().lower() == "yes" else "no")
    _show(obj, opts["json"], out)
    return EXIT_OK if obj["status"] in (proto.OK, proto.BYE) else EXIT_FAILED


def interactive(client, opts, out):
    try:
        import readline
        history = os.path.expanduser(HISTORY)
        try:
            readline.read_history_file(history)
        except OSError:
            pass
    except ImportError:
        readline = None
    name = os.path.basename(opts["port"]) or opts["port"]
    out.write("connected to the VPN Spot console on %s; help lists commands, exit leaves\n"
              % opts["port"])
    code = EXIT_OK
    try:
        while True:
            try:
                line = input("vpnspot@%s> " % name)
            except EOFError:
                out.write("\n")
                break
            except KeyboardInterrupt:
                out.write("^C\n")
                continue
            if not line.strip():
                continue
            if line.strip() in ("exit", "quit"):
                break
            try:
                code = run_command(client, line, opts, out,
                                   lambda: input("type yes to confirm: "))
            except ClientError as e:
                sys.stderr.write("error: %s\n" % e)
                code = EXIT_NO_CONSOLE
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError:
                pass
    return code


def main(argv=None, open_port=default_open_port, out=None, stdin=None):
    out = out or sys.stdout
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = parse_argv(argv)
    except ValueError as e:
        sys.stderr.write("error: %s\n%s\n" % (e, USAGE))
        return EXIT_USAGE
    if opts.get("help"):
        out.write(USAGE + "\n\n" + __doc__.split("How it talks")[0].strip() + "\n")
        out.flush()
        return EXIT_OK

    def noise(line):
        if opts["verbose"]:
            sys.stderr.write("router: %s\n" % proto.ascii_text(line.decode("latin-1")))

    client = ConsoleClient(opts["port"], opts["baud"], open_port=open_port,
                           timeout=opts["timeout"], reconnect=opts["reconnect"], noise=noise,
                           status=lambda t: sys.stderr.write("vpnspot-console: %s\n" % t))
    try:
        client.connect(sync_timeout=min(opts["timeout"], 10.0))
        if opts["command"]:
            command = " ".join(_quote(w) for w in opts["command"])
            ask = (lambda: input("type yes to confirm: ")) if sys.stdin.isatty() else (lambda: "no")
            return run_command(client, command, opts, out, ask)
        return interactive(client, opts, out)
    except ClientError as e:
        sys.stderr.write("error: %s\n" % e)
        return EXIT_NO_CONSOLE
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
