"""The technician console's protocol: line editing, command grammar, framing.

Owns what travels over the router's serial line, as bytes in and bytes out,
with no IO of its own (console/server.py reads the tty and calls the
backend; console/client.py is the technician's side). Keep the README
section "The serial console (for technicians)" and console/client.py in
sync with the grammar and the framing here.

Line editing (LineEditor.feed(bytes) -> (echo bytes, events)), for dumb
terminals and noisy lines:
  printable ASCII      appended and echoed (unless echo is off)
  CR, LF, CR LF        end the line (a LF right after a CR is the same end)
  BS (0x08), DEL       erase one character ("\b \b")
  Ctrl-U               erase the whole line
  Ctrl-C               drop the line, echo "^C", event INTERRUPT
  ESC [ ... / ESC O x  terminal key sequences (arrows): ignored
  TAB                  a space
  anything else        line noise: non-ASCII bytes, other control bytes.
                       A line holding any is not run; it ends in one
                       BAD_LINE event. Bad lines that arrive together (a
                       binary blob with many CRs) become one event.
  over MAX_LINE chars  not run; one BAD_LINE event when the line ends.

Grammar (parse(line) -> Request; bad input is a Request with .error set,
never an exception):
  [@ID] COMMAND [ARG ...]      ID: 1-16 of A-Z a-z 0-9 _ - ; chosen by the
                               client, echoed in the response; a repeated ID
                               gets the remembered response, not a second run
  ARGs are split on blanks; '...' or "..." keep blanks inside one ARG.
  COMMANDS below is the table of commands, their arguments and help.

Framing (frame_human / frame_json), every response ends with the prompt:
  human:  text lines, at most WIDTH columns, ASCII only, CR LF endings,
          errors as one line "error: ..."; then PROMPT ("vpnspot> ").
  json:   one line {"id": ID, "status": S, "data": D, "text": [lines]}
          (ASCII only; non-ASCII escaped as \\uXXXX), CR LF, then PROMPT.
          S is one of STATUSES. The prompt at the start of a line is the
          sentinel: the response before it is complete.
"""

import json

from .config import DNS_MODE_TEXT, FIELD_BY_KEY, FIELDS

PROMPT = "vpnspot> "
WIDTH = 79                  # 80-column terminals wrap at 80; stay inside
MAX_LINE = 512
MAX_ID = 16

OK = "ok"
ERROR = "error"
UNAVAILABLE = "unavailable"     # needs a part of the router that is not running
CONFIRM = "confirm"             # the next line must be "yes"
BYE = "bye"
STATUSES = (OK, ERROR, UNAVAILABLE, CONFIRM, BYE)

# Editor events
LINE = "line"
INTERRUPT = "interrupt"
BAD_LINE = "bad-line"

_CR = 13
_LF = 10
_BS = 8
_DEL = 127
_CTRL_C = 3
_CTRL_U = 21
_ESC = 27
_TAB = 9

# Escape-sequence states
_E_NONE = 0
_E_ESC = 1          # after ESC
_E_CSI = 2          # after ESC [ : parameters until a final byte 0x40..0x7e
_E_SS3 = 3          # after ESC O : one more byte


class LineEditor:
    """Bytes from the serial line -> echo bytes and complete lines.

    Events are tuples: (LINE, text), (INTERRUPT,), (BAD_LINE, message)."""

    def __init__(self, echo=True, max_line=MAX_LINE):
        self.echo = echo
        self.max_line = max_line
        self.buf = []
        self.noise = 0          # noise bytes in the current line
        self.overflow = False
        self.after_cr = False
        self.esc = _E_NONE

    def _clear(self):
        self.buf = []
        self.noise = 0
        self.overflow = False

    def feed(self, data):
        out = []
        events = []
        bad_lines = 0
        bad_noise = 0
        bad_long = 0
        for b in data:
            after_cr = self.after_cr
            self.after_cr = False
            if self.esc == _E_ESC:
                if b == 91:         # '['
                    self.esc = _E_CSI
                elif b == 79:       # 'O'
                    self.esc = _E_SS3
                else:
                    self.esc = _E_NONE
                continue
            if self.esc == _E_CSI:
                if 0x40 <= b <= 0x7E:
                    self.esc = _E_NONE
                elif not (0x20 <= b < 0x40):
                    # Not a key sequence after all: line noise.
                    self.esc = _E_NONE
                    self.noise += 1
                continue
            if self.esc == _E_SS3:
                self.esc = _E_NONE
                continue
            if b == _CR or b == _LF:
                if b == _LF and after_cr:
                    continue
                self.after_cr = b == _CR
                if self.echo:
                    out.append(b"\r\n")
                if self.noise or self.overflow:
                    bad_lines += 1
                    bad_noise += self.noise
                    if self.overflow:
                        bad_long += 1
                else:
                    if bad_lines:
                        events.append((BAD_LINE, _bad_message(bad_lines, bad_noise, bad_long)))
                        bad_lines = bad_noise = bad_long = 0
                    events.append((LINE, "".join(self.buf)))
                self._clear()
            elif b == _BS or b == _DEL:
                if self.buf:
                    self.buf.pop()
                    if self.echo:
                        out.append(b"\b \b")
            elif b == _CTRL_U:
                if self.echo and self.buf:
                    out.append(b"\b \b" * len(self.buf))
                self._clear()
            elif b == _CTRL_C:
                if self.noise or bad_lines:
                    # Inside line noise a 0x03 is more noise, not a person.
                    self.noise += 1
                    continue
                if self.echo:
                    out.append(b"^C\r\n")
                self._clear()
                events.append((INTERRUPT,))
            elif b == _ESC:
                self.esc = _E_ESC
            elif b == _TAB or 32 <= b < 127:
                if len(self.buf) >= self.max_line:
                    self.overflow = True
                    continue
                ch = " " if b == _TAB else chr(b)
                self.buf.append(ch)
                if self.echo:
                    out.append(ch.encode())
            else:
                self.noise += 1
        if bad_lines:
            events.append((BAD_LINE, _bad_message(bad_lines, bad_noise, bad_long)))
        return b"".join(out), events


def _bad_message(lines, noise, long_lines):
    if long_lines and not noise:
        return ("line too long (over %d characters); nothing was run" % MAX_LINE)
    what = "1 line" if lines == 1 else "%d lines" % lines
    return ("ignored %s with line noise (%d non-text bytes); nothing was run, "
            "type the command again" % (what, noise))


# -- grammar ------------------------------------------------------------------

class Command:
    """One command: its name, the argument pattern shown in help, one line
    of help, and the number of arguments it takes (max_args None: any)."""

    def __init__(self, name, usage, summary, min_args=0, max_args=0):
        self.name = name
        self.usage = usage
        self.summary = summary
        self.min_args = min_args
        self.max_args = max_args


COMMANDS = (
    Command("help", "help [COMMAND]", "list commands, or explain one", 0, 2),
    Command("status", "status", "tunnel state, server, handshake, kill switch"),
    Command("diag", "diag", "run every check; each PASS/FAIL with a hint"),
    Command("servers", "servers", "the VPN Spot servers this router may use"),
    Command("connect", "connect [SERVER|REGION]", "connect now (to a server or region)", 0, 1),
    Command("disconnect", "disconnect", "stop the tunnel (the kill switch stays on)"),
    Command("logs", "logs [-n N]", "last N lines of the agent log (default 20)", 0, 2),
    Command("debug open", "debug open [MINUTES]", "start a debug session (RAM only)", 0, 1),
    Command("debug close", "debug close", "end the debug session (anyone's); its data goes"),
    Command("debug show", "debug show", "what the open debug session holds"),
    Command("config get", "config get [KEY]", "show settings (and staged changes)", 0, 1),
    Command("config set", "config set KEY VALUE...", "stage a change (checked now)", 1, None),
    Command("config diff", "config diff", "staged changes against the saved settings"),
    Command("config commit", "config commit", "save staged changes in one atomic write"),
    Command("config revert", "config revert", "drop staged changes"),
    Command("factory-reset", "factory-reset", "erase all the household's data on it (asks)"),
    Command("bundle", "bundle", "privacy-filtered support bundle, base64"),
    Command("json", "json on|off", "switch machine-readable responses on or off", 1, 1),
    Command("exit", "exit", "leave the console"),
)
COMMAND_BY_NAME = {}
for _c in COMMANDS:
    COMMAND_BY_NAME[_c.name] = _c
_GROUPS = ("debug", "config")
_ALIASES = {"quit": "exit", "?": "help", "logout": "exit"}
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_."


class Request:
    """A parsed line. `error` is None, or what was wrong, for the person."""

    def __init__(self, rid, command, args, options=None, error=None):
        self.rid = rid
        self.command = command
        self.args = args
        self.options = options or {}
        self.error = error

    def __repr__(self):
        return "Request(%r, %r, %r, %r, error=%r)" % (self.rid, self.command, self.args,
                                                     self.options, self.error)


def split_words(line):
    """Blank-separated words; quotes keep blanks. (words, error)."""
    words = []
    cur = []
    quote = None
    in_word = False
    for ch in line:
        if quote is not None:
            if ch == quote:
                quote = None
            else:
                cur.append(ch)
        elif ch == "'" or ch == '"':
            quote = ch
            in_word = True
        elif ch == " ":
            if in_word:
                words.append("".join(cur))
                cur = []
                in_word = False
        else:
            cur.append(ch)
            in_word = True
    if quote is not None:
        return words, "a quote (%s) is not closed" % quote
    if in_word:
        words.append("".join(cur))
    return words, None


def _valid_id(text):
    if not text or len(text) > MAX_ID:
        return False
    for ch in text:
        if ch not in _ID_CHARS:
            return False
    return True


def _number(text, low, high, what):
    if not text or len(text) > 6:
        return None, "%s must be a whole number from %d to %d" % (what, low, high)
    for ch in text:
        if ch not in "0123456789":
            return None, "%r: %s must be a whole number from %d to %d" % (text[:20], what, low, high)
    value = int(text)
    if value < low or value > high:
        return None, "%s %d is out of range; use %d to %d" % (what, value, low, high)
    return value, None


def _minutes(text):
    """debug open's time limit: 45, 45m or 2h -> minutes."""
    scale = 1
    if text[-1:] in ("m", "h"):
        scale = 60 if text[-1] == "h" else 1
        text = text[:-1]
    value, error = _number(text, 1, 1440, "the time limit (minutes)")
    if error is None:
        value *= scale
        if value > 1440:
            return None, "a debug session lasts at most 24 hours (1440 minutes)"
    return value, error


def _check_args(cmd, args):
    """Command-specific checks -> (options, error)."""
    name = cmd.name
    if name == "help":
        topic = " ".join(args)
        if topic and _ALIASES.get(topic, topic) not in COMMAND_BY_NAME and topic not in _GROUPS:
            return None, "no command %r; type help for the list" % topic[:40]
        return {"topic": _ALIASES.get(topic, topic)}, None
    if name == "logs":
        if not args:
            return {"n": 20}, None
        if args[0] == "-n" and len(args) == 2:
            text = args[1]
        elif len(args) == 1 and args[0].startswith("-n"):
            text = args[0][2:]
        else:
            return None, "usage: logs [-n N]"
        n, error = _number(text, 1, 1000, "N")
        return {"n": n}, error
    if name == "debug open":
        if not args:
            return {"minutes": None}, None
        minutes, error = _minutes(args[0])
        return {"minutes": minutes}, error
    if name == "connect":
        target = args[0] if args else ""
        if len(target) > 64:
            return None, "a server or region id has at most 64 characters"
        for ch in target:
            if ch not in _NAME_CHARS:
                return None, "%r is not a server or region id (a-z, 0-9, - _ .)" % target[:40]
        return {"target": target}, None
    if name == "json":
        if args[0] not in ("on", "off"):
            return None, "usage: json on|off"
        return {"on": args[0] == "on"}, None
    if name in ("config get", "config set"):
        if args and args[0] not in FIELD_BY_KEY:
            return None, "no setting %r; type config get for the list" % args[0][:40]
        if name == "config set":
            field = FIELD_BY_KEY[args[0]]
            values = args[1:]
            if not field.is_list and len(values) != 1:
                return None, "%s takes one value: config set %s VALUE" % (args[0], args[0])
            return {"key": args[0], "value": values if field.is_list else values[0]}, None
        return {"key": args[0] if args else None}, None
    return {}, None


def parse(line):
    """One line from the technician -> Request (never raises)."""
    words, error = split_words(line)
    rid = None
    if words and words[0].startswith("@"):
        rid = words[0][1:]
        words = words[1:]
        if not _valid_id(rid):
            return Request(None, None, [], error="a request id is @ and 1-16 of A-Z a-z 0-9 _ -")
    if error:
        return Request(rid, None, words, error=error)
    if not words:
        return Request(rid, None, [])
    name = _ALIASES.get(words[0].lower(), words[0].lower())
    args = words[1:]
    if name in _GROUPS:
        if not args:
            subs = [c.name.split(" ")[1] for c in COMMANDS if c.name.startswith(name + " ")]
            return Request(rid, None, words, error="%s what? %s %s" % (name, name, "|".join(subs)))
        name = name + " " + args[0].lower()
        args = args[1:]
    cmd = COMMAND_BY_NAME.get(name)
    if cmd is None:
        return Request(rid, None, words,
                       error="unknown command %r; type help for the list" % name[:40])
    if len(args) < cmd.min_args or (cmd.max_args is not None and len(args) > cmd.max_args):
        return Request(rid, name, args, error="usage: " + cmd.usage)
    options, error = _check_args(cmd, args)
    return Request(rid, name, args, options, error)


def help_lines(topic=""):
    if topic:
        found = [c for c in COMMANDS if c.name == topic or c.name.startswith(topic + " ")]
        lines = []
        for c in found:
            lines.append("%-26s %s" % (c.usage, c.summary))
        if topic in ("config get", "config set", "config"):
            lines.extend(wrap("settings: " + " ".join([f.key for f in FIELDS])))
            for mode in ("tunnel", "custom", "isp"):
                lines.extend(wrap("dns_mode %s: %s" % (mode, DNS_MODE_TEXT[mode])))
        return lines
    lines = ["Commands (help COMMAND for one):"]
    for c in COMMANDS:
        lines.append("  %-26s %s" % (c.usage, c.summary))
    lines.append("Line editing: Backspace/DEL, Ctrl-U (clear line), Ctrl-C (cancel).")
    return lines


# -- framing ------------------------------------------------------------------

class Response:
    """What one request produced: status (STATUSES), data (JSON-able) and
    the human text lines."""

    def __init__(self, rid, status, data=None, lines=None):
        self.rid = rid
        self.status = status
        self.data = data
        self.lines = lines or []


def ascii_text(text):
    """Text a dumb terminal shows: printable ASCII, anything else as '?'."""
    out = []
    for ch in text:
        o = ord(ch)
        out.append(ch if 32 <= o < 127 else "?")
    return "".join(out)


def wrap(line, width=WIDTH, indent="  "):
    """One line -> lines of at most width columns, broken at blanks when
    possible; continuation lines are indented."""
    line = ascii_text(line)
    out = []
    while len(line) > width:
        cut = line.rfind(" ", len(indent) + 1, width + 1)
        if cut <= len(indent):
            cut = width
        out.append(line[:cut].rstrip())
        line = indent + line[cut:].lstrip()
    out.append(line)
    return out


def human_lines(resp):
    lines = []
    if resp.status == ERROR:
        text = " ".join([l.strip() for l in resp.lines]) or "failed"
        lines = wrap("error: " + text)
    else:
        for line in resp.lines:
            lines.extend(wrap(line))
    return lines


def frame_human(resp, prompt=True):
    lines = human_lines(resp)
    text = "".join([l + "\r\n" for l in lines])
    if prompt:
        text += PROMPT
    return text.encode()


def json_escape_ascii(text):
    """JSON text with every non-ASCII character as \\uXXXX (surrogate pairs
    above U+FFFF), whatever the json module does with them."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 128:
            out.append(ch)
        elif o < 0x10000:
            out.append("\\u%04x" % o)
        else:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
    return "".join(out)


def frame_json(resp, prompt=True):
    obj = {"id": resp.rid, "status": resp.status, "data": resp.data, "text": human_lines(resp)}
    text = json_escape_ascii(json.dumps(obj)) + "\r\n"
    if prompt:
        text += PROMPT
    return text.encode()
