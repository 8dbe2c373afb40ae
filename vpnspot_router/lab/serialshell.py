"""A root shell driven over a serial line: run a command, get its exit status.

Owns: the command protocol spoken to a plain POSIX shell on a serial port
(the router VM's ttyS0), and the SerialPort interface it needs, with a
pyserial implementation and an in-memory fake beside it.

Protocol. Each command is sent as one line

    echo TAG''B; ( CMD
    ); echo TAG''E$?

and the reply is everything between the lines "TAGB" and "TAGE<status>".
TAG is fresh random hex per command, so output of an earlier command that
timed out can never be mistaken for this one's. The two quote characters
split the marker in the text we send: if the terminal echoes our input back,
the echo contains "TAG''B", never the marker "TAGB". The subshell keeps an
`exit` or `cd` inside CMD from ending or moving the session shell.

SerialPort interface (what SerialShell needs, nothing more):
    write(data: bytes) -> None
    read(timeout: float) -> bytes      whatever arrived within timeout, b"" if nothing
    close() -> None
"""

import re
import secrets
import time


class SerialShellError(Exception):
    """The shell did not answer as the protocol expects (timeout, no prompt)."""


class CommandResult(object):
    __slots__ = ("command", "status", "output")

    def __init__(self, command, status, output):
        self.command = command
        self.status = status
        self.output = output

    @property
    def ok(self):
        return self.status == 0

    def __repr__(self):
        return "<CommandResult status=%d %r: %r>" % (self.status, self.command[:60], self.output[-400:])


def _normalise(text):
    # The tty's output processing turns "\n" into "\r\n".
    return text.replace("\r\n", "\n").replace("\r", "")


class SerialShell(object):
    """Runs shell commands over a SerialPort and returns CommandResults."""

    def __init__(self, port, log=None):
        self.port = port
        self._buf = ""
        self._log = log     # optional file object: a transcript for failure reports

    def _read_some(self, timeout):
        data = self.port.read(timeout)
        if data:
            text = data.decode("utf-8", errors="replace")
            if self._log is not None:
                self._log.write(text)
                self._log.flush()
            self._buf += _normalise(text)
        return bool(data)

    def _wait_for(self, pattern, timeout, poke=None, poke_every=0.5):
        """Read until regex `pattern` matches the buffer; return the match and
        drop everything up to its end. `poke`, when given, is re-sent every
        poke_every seconds while waiting (used to wake a fresh console)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        next_poke = 0.0
        while True:
            m = rx.search(self._buf)
            if m:
                self._buf = self._buf[m.end():]
                return m
            now = time.monotonic()
            if now >= deadline:
                raise SerialShellError("no %r from the serial shell within %.0f s; last output: %r"
                                       % (pattern, timeout, self._buf[-500:]))
            if poke is not None and now >= next_poke:
                self.port.write(poke)
                next_poke = now + poke_every
            self._read_some(min(0.2, deadline - now))

    def sync(self, timeout=60.0):
        """Wait until the shell answers, then switch its echo off. Call once
        after boot; safe to call again to resynchronise after a timeout."""
        tag = secrets.token_hex(6)
        poke = ("\rstty -echo 2>/dev/null; echo %s''R\r" % tag).encode()
        self._wait_for(re.escape(tag) + "R\n", timeout, poke=poke, poke_every=1.0)
        # Pokes sent while the shell was starting may still be queued in the
        # tty; one more round trip runs them all, and their output is dropped.
        tag = secrets.token_hex(6)
        self.port.write(("echo %s''R\r" % tag).encode())
        self._wait_for(re.escape(tag) + "R\n", 10.0)
        self._buf = ""

    def run(self, command, timeout=60.0, check=False):
        """Run one command line; return its CommandResult. With check=True a
        non-zero status raises SerialShellError with the output."""
        tag = secrets.token_hex(6)
        self.port.write(("echo %s''B; ( %s\n); echo %s''E$?\n" % (tag, command, tag)).encode())
        try:
            self._wait_for(re.escape(tag) + "B\n", timeout)
            m = self._wait_for("(?s)(.*?)" + re.escape(tag) + r"E(\d+)\n", timeout)
        except SerialShellError:
            # Leave the shell usable for the next command, then report.
            try:
                self.interrupt()
            except SerialShellError:
                pass
            raise
        result = CommandResult(command, int(m.group(2)), m.group(1))
        if check and result.status != 0:
            raise SerialShellError("command failed with status %d: %s\n%s"
                                   % (result.status, command, result.output[-3000:]))
        return result

    def interrupt(self):
        """Send ^C (ends a command that ran past its timeout) and resync."""
        self.port.write(b"\x03")
        self.sync(timeout=10.0)

    def send_raw(self, text):
        """Write without waiting for anything (e.g. a power-off trigger)."""
        self.port.write(text.encode())


class PyserialPort(object):
    """SerialPort on a real or pseudo terminal through pyserial."""

    def __init__(self, device, baudrate=115200):
        import serial  # a dependency of the agent (the console uses it too)
        self._serial = serial.Serial(device, baudrate=baudrate, timeout=0)

    def write(self, data):
        self._serial.write(data)
        self._serial.flush()

    def read(self, timeout):
        self._serial.timeout = timeout
        first = self._serial.read(1)
        if not first:
            return b""
        waiting = self._serial.in_waiting
        return first + (self._serial.read(waiting) if waiting else b"")

    def close(self):
        self._serial.close()


class FakeSerialPort(object):
    """SerialPort backed by a function that plays the shell.

    `respond(line) -> str` gets each complete line written and returns what
    the "shell" prints back. The default implements the two commands the
    protocol sends (the sync echo and the marker-wrapped command) with a
    table of canned outputs and statuses per command, which is enough to
    test SerialShell's framing without a VM.
    """

    def __init__(self, respond=None, echo=False, crlf=True):
        self._respond = respond
        self._pending = b""
        self._out = b""
        self.echo = echo
        self.crlf = crlf
        self.written = []
        self.commands = {}      # command -> (status, output)
        self.closed = False

    def write(self, data):
        self.written.append(data)
        if self.echo:
            self._out += data
        self._pending += data.replace(b"\r", b"\n")
        while b"\n" in self._pending:
            line, _, self._pending = self._pending.partition(b"\n")
            if not line:
                continue
            reply = (self._respond or self._default_respond)(line.decode())
            if reply:
                text = reply.replace("\n", "\r\n") if self.crlf else reply
                self._out += text.encode()

    def _default_respond(self, line):
        m = re.match(r"(?:stty -echo 2>/dev/null; )?echo (\w+)''R$", line)
        if m:
            return m.group(1) + "R\n"
        m = re.match(r"echo (\w+)''B; \( (.*)$", line)
        if m:
            self._tag, self._command = m.group(1), m.group(2)
            return ""
        m = re.match(r"\); echo (\w+)''E\$\?$", line)
        if m:
            status, output = self.commands.get(self._command, (127, "sh: not found\n"))
            return "%sB\n%s%sE%d\n" % (self._tag, output, self._tag, status)
        return ""

    def read(self, timeout):
        data, self._out = self._out, b""
        return data

    def close(self):
        self.closed = True
