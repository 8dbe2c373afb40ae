"""Stripping comments and docstrings for the package (firmware_pkg/stripsource.py):
what goes, what stays, and that every statement keeps its line."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "firmware_pkg"))
import stripsource  # noqa: E402

SOURCE = '''#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Module docstring,
on two lines."""

import os  # why os

URL = "http://example.net/#fragment"  # a '#' in a string stays


class Box:
    """A box."""

    # A comment on its own line.
    def open(self, x):
        \'\'\'Open it.

        Really.
        \'\'\'
        text = """not a docstring
        # not a comment"""
        return x, text

    def shut(self): "shut it"; return 1
'''


def test_comments_go_and_every_line_stays():
    out = stripsource.strip(SOURCE)
    assert out.count("\n") == SOURCE.count("\n")
    assert "why os" not in out and "own line" not in out and "a string stays" not in out
    lines = out.split("\n")
    assert lines[5] == "import os"
    assert lines[13] == ""


def test_shebang_and_encoding_lines_stay():
    lines = stripsource.strip(SOURCE).split("\n")
    assert lines[:2] == ["#!/usr/bin/python3", "# -*- coding: utf-8 -*-"]


def test_docstrings_become_empty_strings_with_the_same_line_breaks():
    out = stripsource.strip(SOURCE)
    lines = out.split("\n")
    assert lines[2:4] == ['"""', '"""']
    assert lines[11] == '    """"""'
    assert "Open it" not in out and "Really" not in out and "shut it" not in out
    assert '    def shut(self): """"""; return 1' in out


def test_strings_that_are_not_docstrings_stay_word_for_word():
    out = stripsource.strip(SOURCE)
    assert 'URL = "http://example.net/#fragment"' in out
    assert '"""not a docstring\n        # not a comment"""' in out


def test_the_stripped_text_runs_the_same_with_statements_on_their_lines():
    out = stripsource.strip(SOURCE)
    stripsource.check(SOURCE, out)
    ns, before = {}, {}
    exec(compile(out, "box.py", "exec"), ns)
    exec(compile(SOURCE, "box.py", "exec"), before)
    assert ns["Box"]().open(3) == before["Box"]().open(3)
    assert ns["Box"].open.__code__.co_firstlineno == 15
    assert [line for _, _, line in ns["Box"].open.__code__.co_lines()] == \
        [line for _, _, line in before["Box"].open.__code__.co_lines()]


def test_a_vendored_notice_stays_word_for_word():
    vendored = ('#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nfrom __future__ import print_function\n'
                '"""\nCopyright (c) 2009-2024, Someone.\nLicense: MIT (see LICENSE for details)\n"""\n'
                '# The notice ends above.\n\nimport sys  # gone\n\ndef f():\n    """gone too"""\n')
    out = stripsource.strip(vendored, keep_notice=True)
    head = vendored.split("import sys")[0]
    assert out.startswith(head)
    assert "# gone" not in out and "gone too" not in out
    # Without keep_notice the same string is still not a docstring (it is
    # not the first statement), so it stays; the comment after it goes.
    assert "Copyright (c) 2009-2024" in stripsource.strip(vendored)
    assert "# The notice ends above." not in stripsource.strip(vendored)


def test_check_refuses_a_text_whose_statements_moved_or_changed():
    out = stripsource.strip(SOURCE)
    with pytest.raises(stripsource.StripError, match="line"):
        stripsource.check(SOURCE, out.replace("import os\n", "import os\n\n", 1))
    with pytest.raises(stripsource.StripError, match="changed the program"):
        stripsource.check(SOURCE, out.replace("return x, text", "return text, x"))
    with pytest.raises(stripsource.StripError, match="does not compile"):
        stripsource.check(SOURCE, out.replace("return x, text", "return x,, text"))


def test_non_ascii_text_before_a_docstring_or_comment_keeps_its_columns():
    source = 'X = "größe"; """not first"""\ndef f():\n    s = "ü"  # kommentar\n    return s\n'
    out = stripsource.strip(source)
    assert out == 'X = "größe"; """not first"""\ndef f():\n    s = "ü"\n    return s\n'
    source = 'def f():\n    "ä docstring"; return "ö"  # kommentar\n'
    assert stripsource.strip(source) == 'def f():\n    """"""; return "ö"\n'


def test_every_repository_module_strips_to_the_same_program_on_the_same_lines():
    for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, "vpnspot_router")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    data = f.read()
                out = stripsource.strip_checked(data, path)
                assert out.count(b"\n") == data.count(b"\n"), path
