"""`--help` is an answer, not an error: every entry point and every
subcommand prints its help on stdout and exits 0.

The list of commands is read from the parsers themselves (cli.py's, and
each subcommand's own subparsers), so a command added later is covered.
`vpnspot lab ...` and the console client parse their own arguments and are
listed by hand.
"""

import argparse
import subprocess
import sys

import pytest

from vpnspot_router import cli


def _subcommands(parser, prefix=()):
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(prefix + (name,))
                out.extend(_subcommands(sub, prefix + (name,)))
    return out


VPNSPOT = [()] + _subcommands(cli.build_parser()) + [
    ("lab", "up"), ("lab", "down"), ("lab", "status"), ("lab", "demo"), ("lab", "provider")]


def _run(argv):
    return subprocess.run([sys.executable] + argv, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("words", VPNSPOT, ids=lambda w: " ".join(w) or "vpnspot")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_vpnspot_help_exits_0_with_usage_on_stdout(words, flag):
    proc = _run(["-m", "vpnspot_router"] + list(words) + [flag])
    assert proc.returncode == 0, proc.stderr
    assert "usage: vpnspot" in proc.stdout


def test_the_walk_found_the_nested_subcommands():
    # A walk that found nothing would make the test above pass on nothing.
    assert ("tunnel", "up") in VPNSPOT and ("hw", "probe") in VPNSPOT
    assert len(VPNSPOT) > 20


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["/dev/ttyUSB0", "--help"],
                                  ["/dev/ttyUSB0", "diag", "-h"]])
def test_vpnspot_console_help_exits_0_with_usage_on_stdout(argv):
    proc = _run(["-m", "vpnspot_router.console.client"] + argv)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: vpnspot-console PORT")
    assert proc.stderr == ""


def test_vpnspot_console_without_a_port_is_still_a_usage_error():
    proc = _run(["-m", "vpnspot_router.console.client"])
    assert proc.returncode == 2
    assert "which port?" in proc.stderr
