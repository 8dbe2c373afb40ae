"""Fuzz targets for the technician console: arbitrary bytes from the serial
line (a technician, a noisy cable, a program in JSON mode) into the line
editor and into a whole ConsoleSession over the console's FakeBackend.

Promises checked on every input (core/console_proto.py and
console/server.py document them):
  - nothing raises, and no command ends in the session's catch-all
    ("... failed inside the router"), which hides a bug from the technician;
  - everything sent back is ASCII;
  - in human mode every response line is at most 80 columns (WIDTH is 79)
    and a response ends in CR LF and the prompt (the last, "bye", without);
  - in JSON mode every response is exactly one line of valid JSON with
    id, status (one of STATUSES), data and text, then the prompt;
  - the editor hands on only lines of printable ASCII within MAX_LINE,
    and parse() answers every line with a Request, never an exception.

The input is cut into chunks at fuzzer-chosen points, as a serial line
delivers bytes in reads of any size.
"""

import json

from tests.fuzz.registry import Bytes, register
from vpnspot_router.console import server
from vpnspot_router.console.fakebackend import FakeBackend
from vpnspot_router.core import console_proto as proto

NOW = 1700000000.0


def _chunks(data):
    """First byte: chunk size pattern; the rest is the stream."""
    if not data:
        return []
    step = data[0] % 17
    stream = data[1:]
    if step == 0:
        return [stream]
    out = []
    i = 0
    n = 0
    while i < len(stream):
        size = 1 + (step * (n + 1)) % 23
        out.append(stream[i:i + size])
        i += size
        n += 1
    return out


def _ascii(blob, what):
    assert all(b < 128 for b in blob), "%s is not ASCII: %r" % (what, blob[:200])


def check_line_editor(data):
    r = Bytes(data[:1])
    editor = proto.LineEditor(echo=bool(r.byte() & 0x80), max_line=proto.MAX_LINE)
    for chunk in _chunks(data):
        echo, events = editor.feed(chunk)
        _ascii(echo, "the echo")
        for event in events:
            assert event[0] in (proto.LINE, proto.INTERRUPT, proto.BAD_LINE), event
            if event[0] == proto.LINE:
                text = event[1]
                assert len(text) <= proto.MAX_LINE, len(text)
                assert all(32 <= ord(c) < 127 for c in text), "line not printable: %r" % text[:200]
                req = proto.parse(text)
                assert isinstance(req, proto.Request)
                assert req.error is None or isinstance(req.error, str)
            elif event[0] == proto.BAD_LINE:
                assert isinstance(event[1], str) and event[1], event
    # Arbitrary text straight into the grammar, too (what a pty would hand on).
    req = proto.parse(data.decode("latin-1"))
    assert isinstance(req, proto.Request)


class _Frames:
    """Wraps the two framings while one input runs, checking each frame."""

    def __init__(self):
        self.count = 0

    def human(self, resp, prompt=True):
        out = _orig_human(resp, prompt)
        self.count += 1
        _ascii(out, "a human frame")
        text = out.decode("ascii")
        if prompt:
            assert text.endswith(proto.PROMPT), text[-100:]
            text = text[:-len(proto.PROMPT)]
        assert text == "" or text.endswith("\r\n"), repr(text[-100:])
        for line in text.split("\r\n"):
            assert len(line) <= 80, "a %d-column line: %r" % (len(line), line)
            assert "\r" not in line and "\n" not in line, repr(line)
            assert all(32 <= ord(c) < 127 for c in line), "control characters: %r" % line
        return out

    def json(self, resp, prompt=True):
        out = _orig_json(resp, prompt)
        self.count += 1
        _ascii(out, "a JSON frame")
        text = out.decode("ascii")
        if prompt:
            assert text.endswith("\r\n" + proto.PROMPT), text[-100:]
            text = text[:-len(proto.PROMPT)]
        assert text.endswith("\r\n") and text.count("\n") == 1 and text.count("\r") == 1, repr(text[:300])
        obj = json.loads(text[:-2])
        assert isinstance(obj, dict) and set(obj) == {"id", "status", "data", "text"}, obj
        assert obj["status"] in proto.STATUSES, obj
        assert obj["id"] is None or isinstance(obj["id"], str), obj
        assert isinstance(obj["text"], list) and all(isinstance(x, str) for x in obj["text"]), obj
        return out


_orig_human = proto.frame_human
_orig_json = proto.frame_json


def _session(data, json_mode):
    backend = FakeBackend(clock=lambda: NOW)
    echo = not data or bool(data[0] & 0x40)
    session = server.ConsoleSession(backend, json_mode=json_mode, echo=echo)
    frames = _Frames()
    proto.frame_human, proto.frame_json = frames.human, frames.json
    try:
        out = [session.greeting()]
        for i, chunk in enumerate(_chunks(data)):
            if session.done:
                break
            out.append(session.feed(chunk))
            if i % 5 == 4:
                session.tick()
    finally:
        proto.frame_human, proto.frame_json = _orig_human, _orig_json
    blob = b"".join(out)
    _ascii(blob, "the session's output")
    assert b"failed inside the router" not in blob, blob[-600:]
    assert len(backend.calls) <= len(data) + 1


def check_session_human(data):
    _session(data, json_mode=False)


def check_session_json(data):
    _session(data, json_mode=True)


COMMAND_SEEDS = [
    b"help\r", b"help config\r\n", b"status\rdiag\rservers\r", b"connect nl-ams\rdisconnect\r",
    b"logs -n 5\r", b"debug open 5\rdebug show\rdebug close\r",
    b"config get\rconfig set dns_mode custom\rconfig set dns_servers 9.9.9.9 1.1.1.1\rconfig diff\r"
    b"config commit\r", b"config set kill_switch 0\rconfig revert\r", b"factory-reset\ryes\r",
    b"factory-reset\rno\r", b"@a1 status\r@a1 status\r", b"json on\r@x servers\rjson off\r",
    b"bundle\r", b"exit\rstatus\r", b"stat\x08\x08tus\r", b"\x1b[A\x1b[Bstatus\r", b"\x03\x15",
    b"config set 'dns_servers' \"1.1.1.1 8.8.8.8\"\r", b"a" * 600 + b"\r", b"\xff\xfe\x00status\r\r\n",
    b"vpnspot> status\r", b"help " + b"x" * 200 + b"\r", b"config set mtu 99999999999999999999\r",
]
SEEDS = [bytes([k]) + s for s in COMMAND_SEEDS for k in (0, 0x41, 0x03)]

register("console.line_editor", check_line_editor, expected=(), seeds=SEEDS, max_len=2048,
         doc="bytes from the serial line into the line editor and the command grammar")
register("console.session.human", check_session_human, expected=(), seeds=SEEDS, max_len=2048,
         doc="bytes from the serial line into a ConsoleSession (fake backend), human framing first")
register("console.session.json", check_session_json, expected=(), seeds=SEEDS, max_len=2048,
         doc="bytes from the serial line into a ConsoleSession (fake backend), JSON framing first")
