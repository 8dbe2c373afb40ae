"""UCI files (OpenWrt's /etc/config/*): text in, an editable document out, text back.

Owns the UCI grammar as libuci's file parser reads it, and edits that touch
as little of the file as possible. The schema of our own file lives in
config.py; this module knows nothing about what options mean.

Grammar (one statement per line, or several separated by ';'):

  package NAME
  config TYPE ['NAME']        a section; without NAME it is anonymous (@TYPE[i])
  option NAME 'value'         one value; a later `option` of the same name wins
  list NAME 'value'           appends to a list; repeated lines build the list

Words, as libuci reads them (file.c: parse_str and friends):
  - 'single quotes' take everything literally, newlines included;
  - "double quotes" and unquoted words take the character after a backslash
    literally, and a backslash at the end of a line joins the next line;
  - quoted and unquoted pieces written next to each other form one word
    ('a'"b"c is abc);
  - '#' outside quotes starts a comment up to the end of the line, even in
    the middle of an unquoted word, as in libuci;
  - NAME is letters, digits and '_'; TYPE and package names may also hold '-'.

Round trip: `parse(text).serialize() == text` for any text that parses.
Every physical line keeps its original bytes until an edit touches a
statement on it; only then is that line written again, in the form
`uci export` uses (tab indent, single quotes, ' written as '\\''), keeping
the line's own indentation and trailing comment. Comments, blank lines and
the order of everything else stay as they were; a comment on the line of a
deleted statement stays behind as a comment line (comments are never lost).

Exception tree:  ValueError -> ConfigError (wgconf.py) -> UciError.
Keep README "Configuration (/etc/config/vpnspot)" in sync with what the
grammar accepts.
"""

from .wgconf import ConfigError

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_TYPE_CHARS = _NAME_CHARS + "-"
_SPACE = " \t\r\f\v"


class UciError(ConfigError):
    """A UCI syntax problem, or an edit that would produce invalid UCI."""


class Statement:
    """One statement. kind is 'package', 'config', 'option' or 'list';
    args are the decoded words after the keyword."""

    def __init__(self, kind, args, lineno):
        self.kind = kind
        self.args = args
        self.lineno = lineno
        self.offset = 0             # lines between its Line's start and itself

    def __repr__(self):
        return "Statement(%s %r @%d)" % (self.kind, self.args, self.lineno)


class Line:
    """One physical line (or several joined by a quote or backslash), with
    the statements it holds. raw is None once an edit made it dirty; render()
    then writes it again from statements, indent and comment."""

    def __init__(self, raw, statements, indent, comment):
        self.raw = raw
        self.statements = statements
        self.indent = indent
        self.comment = comment      # '# ...' text after the statements, or ''
        self.lineno = 0

    def render(self):
        if self.raw is not None:
            return self.raw
        parts = []
        for st in self.statements:
            parts.append(_render_statement(st))
        text = self.indent + "; ".join(parts)
        if self.comment:
            text = (text + " " + self.comment) if parts else self.indent + self.comment
        return text + "\n"


class Option:
    """An option's effective value: `value` is a str for `option`, a list
    of str for `list`. `statements` are where it was written."""

    def __init__(self, name, is_list, value, statements):
        self.name = name
        self.is_list = is_list
        self.value = value
        self.statements = statements

    @property
    def lineno(self):
        return self.statements[-1].lineno


class Section:
    """A `config` statement and the option/list statements that follow it."""

    def __init__(self, stype, name, index, statement, line):
        self.type = stype
        self.name = name            # None when anonymous
        self.index = index          # position among sections of this type
        self.statement = statement
        self.line = line            # the Line holding the config statement
        self.members = []           # (Line, Statement) of its option/list statements
        self.options = {}           # option name -> Option
        self.order = []             # option names, first appearance order

    @property
    def lineno(self):
        return self.statement.lineno

    @property
    def ref(self):
        """How `uci` addresses it: its name, or @type[index]."""
        return self.name if self.name is not None else "@%s[%d]" % (self.type, self.index)

    def get(self, name, default=None):
        opt = self.options.get(name)
        return default if opt is None else opt.value


def quote(value):
    """A value in the form uci export writes: 'it'\\''s'."""
    return "'" + value.replace("'", "'\\''") + "'"


def _render_statement(st):
    if st.kind == "config":
        if len(st.args) > 1 and st.args[1]:
            return "config %s %s" % (st.args[0], quote(st.args[1]))
        return "config " + st.args[0]
    if st.kind == "package":
        return "package " + st.args[0]
    return "%s %s %s" % (st.kind, st.args[0], quote(st.args[1]))


def valid_name(text):
    if not text:
        return False
    for ch in text:
        if ch not in _NAME_CHARS:
            return False
    return True


def valid_type(text):
    if not text:
        return False
    for ch in text:
        if ch not in _TYPE_CHARS:
            return False
    return True


class _Reader:
    """Walks the text once; pos/lineno always point at the next character."""

    def __init__(self, text, filename):
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.lineno = 1
        self.filename = filename

    def fail(self, lineno, field, message):
        raise UciError(self.filename, lineno, field, message)

    def peek(self):
        return self.text[self.pos] if self.pos < self.n else ""

    def advance(self):
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "\n":
            self.lineno += 1
        return ch

    def skip_space(self):
        while self.pos < self.n and self.text[self.pos] in _SPACE:
            self.pos += 1

    def backslash(self, out):
        """After '\\': join the next line, or take the next character literally."""
        self.advance()
        ch = self.peek()
        if ch == "":
            return
        if ch == "\n":
            self.advance()
            return
        if ch == "\r" and self.text[self.pos + 1:self.pos + 2] == "\n":
            self.advance()
            self.advance()
            return
        out.append(self.advance())

    def word(self):
        """One word -> (text, found). found is False when no word starts here."""
        out = []
        found = False
        while self.pos < self.n:
            ch = self.text[self.pos]
            if ch == "'":
                found = True
                start = self.lineno
                self.advance()
                while True:
                    if self.pos >= self.n:
                        self.fail(start, None, "a single quote opened here is never closed; add the closing '")
                    c = self.advance()
                    if c == "'":
                        break
                    out.append(c)
            elif ch == '"':
                found = True
                start = self.lineno
                self.advance()
                while True:
                    if self.pos >= self.n:
                        self.fail(start, None, 'a double quote opened here is never closed; add the closing "')
                    c = self.peek()
                    if c == '"':
                        self.advance()
                        break
                    if c == "\\":
                        self.backslash(out)
                    else:
                        out.append(self.advance())
            elif ch == "\\":
                found = True
                self.backslash(out)
            elif ch in _SPACE or ch == "\n" or ch == ";" or ch == "#":
                break
            else:
                found = True
                out.append(self.advance())
        return "".join(out), found


_ARITY = {"package": (1, 1), "config": (1, 2), "option": (2, 2), "list": (2, 2)}
_USAGE = {
    "package": "package NAME",
    "config": "config TYPE 'NAME'",
    "option": "option NAME 'value'",
    "list": "list NAME 'value'",
}


def _check_statement(reader, lineno, words):
    kind = words[0]
    if kind not in _ARITY:
        reader.fail(lineno, kind[:40],
                    "unknown statement; expected package, config, option or list")
    args = words[1:]
    low, high = _ARITY[kind]
    if len(args) < low:
        reader.fail(lineno, kind, "incomplete; write it as: %s" % _USAGE[kind])
    if len(args) > high:
        reader.fail(lineno, kind, "too many words (%d); write it as: %s, and quote a value "
                    "that contains spaces" % (len(args), _USAGE[kind]))
    if kind == "package" or kind == "config":
        if not valid_type(args[0]):
            reader.fail(lineno, kind, "%r is not a valid %s; use letters, digits, '_' and '-'"
                        % (args[0][:40], "package name" if kind == "package" else "section type"))
        if kind == "config" and len(args) == 2 and args[1] and not valid_name(args[1]):
            reader.fail(lineno, args[1][:40], "not a valid section name; use letters, digits and '_'")
    elif not valid_name(args[0]):
        reader.fail(lineno, args[0][:40], "not a valid option name; use letters, digits and '_'")
    return Statement(kind, args, lineno)


def _read_line(reader):
    """One Line starting at reader.pos: statements until an unquoted newline."""
    start = reader.pos
    statements = []
    comment = ""
    indent_end = start
    while indent_end < reader.n and reader.text[indent_end] in " \t":
        indent_end += 1
    indent = reader.text[start:indent_end]
    first_lineno = reader.lineno
    while True:
        reader.skip_space()
        ch = reader.peek()
        if ch == "" or ch == "\n":
            if ch == "\n":
                reader.advance()
            break
        if ch == "#":
            cut = reader.text.find("\n", reader.pos)
            end = reader.n if cut < 0 else cut
            comment = reader.text[reader.pos:end].rstrip("\r")
            reader.pos = end
            continue
        if ch == ";":
            reader.advance()
            continue
        lineno = reader.lineno
        words = []
        while True:
            reader.skip_space()
            w, found = reader.word()
            if not found:
                break
            words.append(w)
        if not words:
            reader.fail(lineno, None, "unexpected %r; expected a statement" % reader.peek())
        st = _check_statement(reader, lineno, words)
        st.offset = lineno - first_lineno
        statements.append(st)
    return Line(reader.text[start:reader.pos], statements, indent, comment)


class Document:
    """A parsed UCI file. Read with sections()/section()/get(); edit with
    set()/add_list()/delete()/add_section(); write with serialize()."""

    def __init__(self, filename, lines):
        self.filename = filename
        self.lines = lines
        self.package = None
        self._sections = []
        self._reindex()

    def _reindex(self):
        self.package = None
        self._sections = []
        counts = {}
        current = None
        lineno = 1
        for line in self.lines:
            line.lineno = lineno
            for st in line.statements:
                st.lineno = lineno + (st.offset if line.raw is not None else 0)
                if st.kind == "package":
                    self.package = st.args[0]
                elif st.kind == "config":
                    stype = st.args[0]
                    name = st.args[1] if len(st.args) > 1 and st.args[1] else None
                    index = counts.get(stype, 0)
                    counts[stype] = index + 1
                    current = Section(stype, name, index, st, line)
                    self._sections.append(current)
                else:
                    if current is None:
                        raise UciError(self.filename, st.lineno, st.args[0],
                                       "%s before any section; put a `config TYPE 'NAME'` line above it"
                                       % st.kind)
                    current.members.append((line, st))
                    _apply(current, st)
            lineno += line.render().count("\n")

    # -- reading ---------------------------------------------------------

    def sections(self, stype=None):
        """Sections in file order, all or only those of one type."""
        if stype is None:
            return list(self._sections)
        return [s for s in self._sections if s.type == stype]

    def section(self, ref):
        """By name, or by @type[index] (negative index counts from the end)."""
        if ref.startswith("@") and ref.endswith("]") and "[" in ref:
            stype = ref[1:ref.find("[")]
            try:
                index = int(ref[ref.find("[") + 1:-1])
            except ValueError:
                return None
            found = self.sections(stype)
            if -len(found) <= index < len(found):
                return found[index]
            return None
        for s in self._sections:
            if s.name == ref:
                return s
        return None

    def get(self, ref, option, default=None):
        s = self.section(ref)
        return default if s is None else s.get(option, default)

    def serialize(self):
        parts = []
        for line in self.lines:
            parts.append(line.render())
        return "".join(parts)

    # -- editing ---------------------------------------------------------

    def _need(self, ref):
        s = self.section(ref)
        if s is None:
            raise UciError(self.filename, None, ref, "no such section")
        return s

    def _check_name(self, option):
        if not valid_name(option):
            raise UciError(self.filename, None, str(option)[:40],
                           "not a valid option name; use letters, digits and '_'")

    def _check_value(self, option, value):
        if not isinstance(value, str):
            raise UciError(self.filename, None, option, "values are text, not %s" % type(value).__name__)

    def _insert_at(self, section):
        """Index in self.lines right after the section's last member line
        (or its config line), so new options join their section."""
        last = section.line
        if section.members:
            last = section.members[-1][0]
        i = self.lines.index(last)
        # Make sure the previous line ends, in case the file lacked a final newline.
        if not last.render().endswith("\n"):
            if last.raw is not None:
                last.raw += "\n"
        return i + 1

    def _member_indent(self, section):
        for line, st in section.members:
            if line.indent:
                return line.indent
        return "\t"

    def _remove_statements(self, doomed):
        """Drop statements; a line left with nothing but blank space goes too."""
        for line, st in doomed:
            line.statements.remove(st)
            line.raw = None
            if not line.statements and not line.comment:
                self.lines.remove(line)

    def set(self, ref, option, value):
        """option = value (a str) or list = values (a list of str). Changes
        only the lines that hold that option; returns True if anything changed."""
        s = self._need(ref)
        self._check_name(option)
        is_list = isinstance(value, (list, tuple))
        values = list(value) if is_list else [value]
        for v in values:
            self._check_value(option, v)
        old = s.options.get(option)
        if old is not None and old.is_list == is_list and old.value == (values if is_list else value):
            return False
        if is_list and not values:
            return self.delete(ref, option)
        kind = "list" if is_list else "option"
        members = [(l, st) for (l, st) in s.members if st.args[0] == option]
        if members:
            # The first old statement becomes the first new one, in place, so
            # its line keeps its indentation and comment; the rest go.
            line, st = members[0]
            self._remove_statements(members[1:])
            st.kind = kind
            st.args = [option, values[0]]
            line.raw = None
            at = self.lines.index(line) + 1
            indent = line.indent or self._member_indent(s)
        else:
            at = self._insert_at(s)
            indent = self._member_indent(s)
            values_left = values
        new_lines = []
        for v in (values[1:] if members else values_left):
            new_lines.append(Line(None, [Statement(kind, [option, v], 0)], indent, ""))
        self.lines[at:at] = new_lines
        self._reindex()
        return True

    def add_list(self, ref, option, value):
        """Append one value to a list (an `option` of that name becomes a list)."""
        s = self._need(ref)
        self._check_name(option)
        self._check_value(option, value)
        old = s.options.get(option)
        if old is not None and not old.is_list:
            self.set(ref, option, [old.value, value])
            return
        at = self._insert_at(s)
        indent = self._member_indent(s)
        for line, st in s.members:
            if st.args[0] == option:
                at = self.lines.index(line) + 1
                indent = line.indent or indent
        self.lines[at:at] = [Line(None, [Statement("list", [option, value], 0)], indent, "")]
        self._reindex()

    def delete(self, ref, option=None, value=None):
        """Delete an option (all its lines), one value of a list, or with
        option None the whole section up to the comments that precede the
        next section. Returns True if anything was removed."""
        s = self._need(ref)
        if option is not None:
            doomed = [(l, st) for (l, st) in s.members
                      if st.args[0] == option and (value is None or st.args[1] == value)]
            if not doomed:
                return False
            self._remove_statements(doomed)
            self._reindex()
            return True
        following = self._sections[self._sections.index(s) + 1:]
        if len(s.line.statements) > 1 or (following and following[0].line is s.line):
            raise UciError(self.filename, s.lineno, s.ref,
                           "shares its line with other statements; put each on its own line first")
        start = self.lines.index(s.line)
        stop = self.lines.index(following[0].line) if following else len(self.lines)
        end = start + 1
        for line, st in s.members:
            end = max(end, self.lines.index(line) + 1)
        # Blank lines after it go too; a comment there is about what follows.
        while end < stop and not self.lines[end].statements and not self.lines[end].comment:
            end += 1
        del self.lines[start:end]
        self._reindex()
        return True

    def add_section(self, stype, name=None):
        """Append `config stype 'name'` at the end, after a blank line."""
        if not valid_type(stype):
            raise UciError(self.filename, None, str(stype)[:40],
                           "not a valid section type; use letters, digits, '_' and '-'")
        if name is not None:
            if not valid_name(name):
                raise UciError(self.filename, None, str(name)[:40],
                               "not a valid section name; use letters, digits and '_'")
            if self.section(name) is not None:
                raise UciError(self.filename, None, name, "a section of that name exists already")
        text = self.serialize()
        if text and not text.endswith("\n"):
            self.lines[-1].raw = self.lines[-1].render() + "\n"
        if text and not text.endswith("\n\n"):
            self.lines.append(Line(None, [], "", ""))
        args = [stype, name] if name is not None else [stype]
        self.lines.append(Line(None, [Statement("config", args, 0)], "", ""))
        self._reindex()
        return self._sections[-1]


def _apply(section, st):
    """How libuci folds statements into values: option replaces, list appends
    (turning an earlier option of that name into the list's first value)."""
    name, value = st.args[0], st.args[1]
    opt = section.options.get(name)
    if opt is None:
        section.order.append(name)
    if st.kind == "option":
        prior = [] if opt is None else opt.statements
        section.options[name] = Option(name, False, value, prior + [st])
    elif opt is None:
        section.options[name] = Option(name, True, [value], [st])
    elif opt.is_list:
        opt.value.append(value)
        opt.statements.append(st)
    else:
        section.options[name] = Option(name, True, [opt.value, value], opt.statements + [st])


def parse(text, filename="uci"):
    """Parse UCI `text`; return a Document or raise UciError (file, line, what)."""
    if not isinstance(text, str):
        raise UciError(filename, None, None, "the configuration must be text")
    reader = _Reader(text, filename)
    lines = []
    while reader.pos < reader.n:
        lines.append(_read_line(reader))
    return Document(filename, lines)
