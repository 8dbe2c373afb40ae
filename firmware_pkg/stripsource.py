"""Line-preserving removal of comments and docstrings from Python sources,
for the package (firmware_pkg/build.py; `--no-strip` turns it off).

Owns: turning one module's text into a smaller one that runs the same. The
rules it keeps:
  - every statement stays on the line it has in the repository, so a
    traceback from a router points at the right line of that version's
    source: a comment becomes nothing (its line stays, maybe empty), a
    docstring becomes an empty triple-quoted string holding as many line
    breaks as the docstring did;
  - `#!` on line 1 and a PEP 263 encoding line stay (they mean something);
  - a vendored file's notice (the comments and strings before its first
    real statement, e.g. bottle.py's copyright and licence lines) stays
    word for word, because its licence requires the notice in every copy;
  - only comment tokens (found with tokenize, so a `#` inside a string is
    never touched) and docstrings (the first statement of a module, class
    or function, found with ast) change; every other string stays.
check() proves it for each file: the stripped text compiles to the same
syntax tree as the original with its docstrings emptied, node for node on
the same lines.
"""

import ast
import io
import re
import tokenize

# PEP 263: the encoding declaration, on line 1 or 2.
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
_DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


class StripError(Exception):
    """The stripped text would not be the same program; nothing is shipped."""


def _lines(source):
    # Python ends lines at "\n" only (with an optional "\r" before it);
    # str.splitlines() would also split at form feeds and the like, which
    # would shift every row after them.
    return io.StringIO(source).readlines()


def _docstring_nodes(tree):
    found = []
    for node in ast.walk(tree):
        if isinstance(node, _DOCSTRING_OWNERS) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.append(first.value)
    return found


def _notice_end(tree):
    """Last line of the leading notice: everything before the first
    statement that is neither a string nor a `from __future__` import."""
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                and isinstance(stmt.value.value, str):
            continue
        return stmt.lineno - 1
    return len(tree.body) and tree.body[-1].end_lineno


def _column(line, byte_offset):
    # ast counts columns in UTF-8 bytes, tokenize and str slicing in characters.
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8"))


def _empty_docstring(newlines):
    return '"""' + "\n" * newlines + '"""'


def strip(source, name="<source>", keep_notice=False):
    """`source` without comments and docstrings, on the same lines (str in, str out)."""
    tree = ast.parse(source, name)
    lines = _lines(source)
    keep_until = _notice_end(tree) if keep_notice else 0
    edits = []  # ((row, col), (row, col), replacement), rows from 1, columns in characters
    for node in _docstring_nodes(tree):
        if node.lineno <= keep_until:
            continue
        start = (node.lineno, _column(lines[node.lineno - 1], node.col_offset))
        end = (node.end_lineno, _column(lines[node.end_lineno - 1], node.end_col_offset))
        edits.append((start, end, _empty_docstring(node.end_lineno - node.lineno)))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        row = tok.start[0]
        if row <= keep_until:
            continue
        if row == 1 and tok.string.startswith("#!"):
            continue
        if row <= 2 and _CODING.match(tok.string):
            continue
        edits.append((tok.start, tok.end, ""))
    # From the end backwards, so earlier positions stay valid.
    for (srow, scol), (erow, ecol), text in sorted(edits, reverse=True):
        head = lines[srow - 1][:scol]
        tail = lines[erow - 1][ecol:]
        if text == "":
            # A removed comment runs to the end of its line: drop the blanks
            # before it too, keep the line break.
            head = head.rstrip(" \t\f")
        lines[srow - 1:erow] = _lines(head + text + tail)
    return "".join(lines)


def _emptied(tree):
    for node in _docstring_nodes(tree):
        node.value = "\n" * (node.end_lineno - node.lineno)
    return tree


def check(original, stripped, name="<source>"):
    """Raise StripError unless `stripped` is `original`'s program, line for line."""
    try:
        after = ast.parse(stripped, name)
        compile(after, name, "exec", dont_inherit=True)
    except SyntaxError as e:
        raise StripError("%s: stripped text does not compile (line %s: %s); build with --no-strip "
                         "and report this file" % (name, e.lineno, e.msg)) from None
    before = ast.parse(original, name)
    if ast.dump(_emptied(before)) != ast.dump(_emptied(after)):
        raise StripError("%s: stripping changed the program; build with --no-strip and report "
                         "this file" % name)
    for a, b in zip(ast.walk(before), ast.walk(after)):
        if getattr(a, "lineno", None) != getattr(b, "lineno", None) \
                or getattr(a, "end_lineno", None) != getattr(b, "end_lineno", None):
            raise StripError("%s: line %s moved to %s when stripped; tracebacks would point at "
                             "the wrong line" % (name, getattr(a, "lineno", None),
                                                 getattr(b, "lineno", None)))


def strip_checked(data, name="<source>", keep_notice=False):
    """Stripped bytes of a UTF-8 source file, checked; the package's entry point."""
    original = data.decode("utf-8")
    stripped = strip(original, name, keep_notice)
    check(original, stripped, name)
    return stripped.encode("utf-8")
