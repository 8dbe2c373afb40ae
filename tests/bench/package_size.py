"""Size of the OpenWrt package three ways: Python sources (what ships),
byte code, and byte code without docstrings; each as the repository has the
sources (`build.py --no-strip`) and with comments and docstrings stripped
(the default build).

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
WAYS = (("sources (.py)", {}),
        ("byte code (.pyc)", {"compile_": True}),
        ("byte code -OO (.pyc, no docstrings)", {"compile_": True, "optimize": 2}))


def measure(tmp, strip, kwargs):
    out = os.path.join(tmp, "%s-%d-%d" % (strip, kwargs.get("compile_", 0), kwargs.get("optimize", 0)))
    return os.path.getsize(build.build(out, strip=strip, **kwargs))


def verdict(size):
    return "within budget" if size <= BUDGET else "OVER BUDGET"


def main():
    print("%-38s %22s   %22s" % ("", "as in the repository", "stripped (default)"))
    with tempfile.TemporaryDirectory() as tmp:
        for label, kwargs in WAYS:
            sizes = [measure(tmp, strip, kwargs) for strip in (False, True)]
            print("%-38s %8d B %6.1f KB   %8d B %6.1f KB  %s%s"
                  % (label, sizes[0], sizes[0] / 1024, sizes[1], sizes[1] / 1024, verdict(sizes[1]),
                     "  <- ships" if not kwargs else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
