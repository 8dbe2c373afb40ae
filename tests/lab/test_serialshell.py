"""SerialShell's framing over the in-memory FakeSerialPort (no VM needed)."""

import pytest

from vpnspot_router.lab import serialshell


def _shell(**kwargs):
    port = serialshell.FakeSerialPort(**kwargs)
    shell = serialshell.SerialShell(port)
    shell.sync(timeout=2)
    return port, shell


def test_a_command_returns_its_output_and_exit_status():
    port, shell = _shell()
    port.commands["uname -r"] = (0, "6.1.0-56-amd64\n")
    port.commands["false"] = (1, "")
    r = shell.run("uname -r", timeout=2)
    assert (r.status, r.output, r.ok) == (0, "6.1.0-56-amd64\n", True)
    r = shell.run("false", timeout=2)
    assert (r.status, r.output, r.ok) == (1, "", False)


def test_terminal_echo_of_the_command_line_is_not_mistaken_for_output():
    port, shell = _shell(echo=True)
    port.commands["echo hi"] = (0, "hi\n")
    r = shell.run("echo hi", timeout=2)
    assert r.output == "hi\n"
    assert r.status == 0


def test_carriage_returns_from_the_tty_are_removed():
    port, shell = _shell(crlf=True)
    port.commands["printf"] = (0, "a\nb\n")
    assert shell.run("printf", timeout=2).output == "a\nb\n"


def test_check_raises_with_the_output_when_a_command_fails():
    port, shell = _shell()
    port.commands["modprobe nothing"] = (1, "modprobe: FATAL: Module nothing not found\n")
    with pytest.raises(serialshell.SerialShellError, match="Module nothing not found"):
        shell.run("modprobe nothing", timeout=2, check=True)


def test_a_shell_that_never_answers_times_out_with_the_last_output():
    port = serialshell.FakeSerialPort(respond=lambda line: "booting...\n")
    shell = serialshell.SerialShell(port)
    with pytest.raises(serialshell.SerialShellError, match="booting"):
        shell.sync(timeout=0.3)


def test_each_command_carries_a_fresh_marker():
    port, shell = _shell()
    port.commands["true"] = (0, "")
    shell.run("true", timeout=2)
    shell.run("true", timeout=2)
    sent = [w.decode() for w in port.written if b"''B" in w]
    assert len(sent) == 2 and sent[0].split("''")[0] != sent[1].split("''")[0]
