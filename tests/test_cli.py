"""cli.py: every command is there, and each imports only its own module.

The always-on `vpnspot agent` keeps every module its parser imported for
its whole life; the web server's and the console's (bottle, http.server,
wsgiref, ssl, pyserial) cost it about 13 MB before commands were declared
per module.
"""

import argparse
import subprocess
import sys

import pytest

from vpnspot_router import cli


def commands(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_the_full_parser_declares_exactly_the_commands_of_the_table():
    # A command added without a COMMAND_MODULES entry would still run (an
    # unknown word registers every module), but would cost every other
    # command the imports of all of them.
    assert commands(cli.build_parser()) == set(cli.COMMAND_MODULES)


@pytest.mark.parametrize("command", sorted(cli.COMMAND_MODULES))
def test_each_command_is_declared_when_it_alone_is_asked_for(command):
    assert command in commands(cli.build_parser(command))


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "vpnspot_router", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in cli.COMMAND_MODULES:
        assert "\n    %s" % command in out, command


def test_a_misspelt_command_is_refused_with_the_list_of_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["agnet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'agnet'" in err and "'agent'" in err and "'web'" in err


HEAVY = ("bottle", "serial", "wsgiref", "http.server", "ssl", "vpnspot_router.web",
         "vpnspot_router.console", "vpnspot_router.hw.cli", "vpnspot_router.provider.commands")


def imported_after_parsing(argv):
    code = ("import sys; from vpnspot_router import cli; cli.build_parser(cli._command_word(%r)); "
            "print(' '.join(sorted(sys.modules)))" % (argv,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_parsing_the_agent_command_imports_none_of_the_other_commands_modules():
    loaded = imported_after_parsing(["agent", "--run-dir", "/tmp/x"])
    assert "vpnspot_router.agent" in loaded
    assert sorted(m for m in loaded if m.startswith(HEAVY)) == []


def test_tunnel_up_imports_neither_the_agent_nor_the_other_commands():
    loaded = imported_after_parsing(["tunnel", "up", "wg0.conf"])
    assert sorted(m for m in loaded if m.startswith(HEAVY + ("vpnspot_router.agent",))) == []


def test_the_command_word_is_the_first_word_that_is_not_an_option():
    assert cli._command_word(["-h"]) is None
    assert cli._command_word(["status", "--json"]) == "status"
    assert cli._command_word(["--", "agent"]) is None
