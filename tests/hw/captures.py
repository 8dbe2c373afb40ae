"""Reading hardware/captures/ for tests: each file's sections as text.

A capture starts with "#" lines naming its source; files holding several
examples mark them "### A", "### B" (optionally followed by a label).
"""

import pathlib

CAPTURES = pathlib.Path(__file__).resolve().parents[2] / "hardware" / "captures"
SHARED = pathlib.Path("/work/shared/hardware/captures")


def read(name):
    return (CAPTURES / name).read_text(encoding="utf-8")


def sections(name):
    """{"A": text, ...} for a file with ### markers, {"": body} otherwise."""
    out = {}
    label = ""
    for line in read(name).splitlines(keepends=True):
        if line.startswith("### "):
            label = line[4:].split()[0]
            out[label] = ""
            continue
        out[label] = out.get(label, "") + line
    if len(out) > 1:
        out.pop("", None)
    return out
