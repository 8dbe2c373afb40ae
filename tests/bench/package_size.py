"""Size of the OpenWrt package three ways: Python sources (what ships),
byte code, and byte code without docstrings.

    .venv/bin/python tests/bench/package_size.py

Budget: 250 KB compressed, the Python runtime and cryptography excluded
(they are dependencies, installed from the OpenWrt feeds).
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "firmware_pkg"))
import build  # noqa: E402

BUDGET = 250 * 1024

with tempfile.TemporaryDirectory() as tmp:
    for label, kwargs in (("sources (.py), shipped", {}),
                          ("byte code (.pyc)", {"compile_": True}),
                          ("byte code -OO (.pyc, no docstrings)", {"compile_": True, "optimize": 2})):
        out = os.path.join(tmp, label.split()[0] + str(len(kwargs)))
        path = build.build(out, **kwargs)
        size = os.path.getsize(path)
        print("%-38s %7d bytes  %6.1f KB  %s" % (label, size, size / 1024,
                                                 "within budget" if size <= BUDGET else "OVER BUDGET"))
