"""The console end to end over real serial lines: a pty (os.openpty, the
technician's side opened by path as a USB adapter would be) and pyserial
URLs (socket:// on 127.0.0.1, loop://), with the line misbehaving: kernel
messages mid-line, garbage, a pulled cable, the wrong speed, a slow line."""

import io
import json
import os
import termios
import time

import pytest
import serial

from vpnspot_router.console import client
from vpnspot_router.console.backend import decode_bundle
from vpnspot_router.console.fakebackend import FakeBackend
from vpnspot_router.core import console_proto as proto

from tests.console.helpers import KERNEL_LINE, MisbehavingPort, PtyConsole, TcpConsole

# Every console command, with what its human output must contain.
COMMANDS = [
    ("help", "Commands"), ("status", "state:        connected"), ("diag", "10 checks, 0 failed"),
    ("servers", "nl-ams-1"), ("logs -n 2", "(2 lines from fake)"), ("debug open 5", "5 minutes"),
    ("debug show", "endpoint 203.0.113.10"), ("debug close", "1 entries deleted"),
    ("config get mtu", "mtu"), ("config set mtu 1400", "staged: mtu = 1400"),
    ("config diff", "mtu: auto -> 1400"), ("config commit", "saved to"),
    ("config set region de-fra", "staged"), ("config revert", "dropped 1"),
    ("bundle", "BEGIN VPNSPOT BUNDLE"), ("json off", "json off"),
]
UNAVAILABLE = [("connect de-fra", "not available: the agent supervisor is not running"),
               ("disconnect", "not available: the agent supervisor is not running")]


@pytest.fixture
def pty_console():
    made = []

    def make(**kw):
        c = PtyConsole(**kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def read_until(fd, marker, timeout=5.0):
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out:
        assert time.monotonic() < deadline, "no %r in %r" % (marker, out[-300:])
        import select
        if select.select([fd], [], [], 0.1)[0]:
            out += os.read(fd, 4096)
    return out


def run(port, *words, open_port=client.default_open_port):
    out = io.StringIO()
    code = client.main([port, "--timeout", "10"] + list(words), open_port=open_port, out=out)
    return code, out.getvalue()


def test_a_technician_types_every_command_on_a_dumb_terminal(pty_console):
    con = pty_console()
    tty = os.open(con.path, os.O_RDWR | os.O_NOCTTY)
    import tty as ttymod
    # TCSANOW: the default TCSAFLUSH would discard a prompt already waiting.
    ttymod.setraw(tty, termios.TCSANOW)
    try:
        read_until(tty, proto.PROMPT.encode())
        for command, expected in COMMANDS[:-1] + UNAVAILABLE:
            os.write(tty, command.encode() + b"\r")
            out = read_until(tty, b"\r\n" + proto.PROMPT.encode())
            text = out.decode("ascii")
            assert expected in text, (command, text)
            for line in text.split("\r\n"):
                assert len(line) <= 80, line
        os.write(tty, b"exit\r")
        assert b"bye" in read_until(tty, b"bye")
    finally:
        os.close(tty)
    con.thread.join(3)
    assert con.result == "exit"


def test_every_command_through_the_client_in_json_mode_over_a_pty(pty_console):
    con = pty_console()
    for command, expected in COMMANDS + UNAVAILABLE:
        code, out = run(con.path, "--json", *command.split())
        obj = json.loads(out)
        assert obj["status"] in ("ok", "unavailable"), obj
        assert expected in "\n".join(obj["text"]), (command, obj)
        assert code == (0 if obj["status"] == "ok" else 1)
    obj = json.loads(run(con.path, "--json", "bundle")[1])
    bundle = decode_bundle(obj["data"]["base64"])
    assert bundle["status"]["state"] == "connected"
    # The log line with a LAN client's address reaches the bundle filtered.
    assert "192.168.77.10" not in json.dumps(bundle) and "<ipv4>" in json.dumps(bundle)
    assert "203.0.113.10" in json.dumps(bundle)


def test_every_command_through_the_client_in_human_mode_over_socket_url():
    con = TcpConsole()
    try:
        for command, expected in COMMANDS:
            code, out = run(con.url, *command.split())
            assert code == 0 and expected in out, (command, out)
        code, out = run(con.url, "connect")
        assert code == 1 and "not available: the agent supervisor is not running" in out
    finally:
        con.close()


def test_locked_settings_are_refused_with_the_providers_name(pty_console):
    con = pty_console()
    code, out = run(con.path, "config", "set", "kill_switch", "0")
    assert code == 1 and "kill_switch: locked by your provider Example ISP" in out
    code, out = run(con.path, "config", "set", "mtu", "9000")
    assert code == 1 and "mtu: '9000': use 'auto' or a number from 1280 to 1500" in out


def test_factory_reset_asks_and_does_nothing_without_yes(pty_console):
    backend = FakeBackend()
    con = pty_console(backend=backend)
    code, out = run(con.path, "factory-reset")
    assert "Type yes to erase" in out and "cancelled" in out and not backend.reset_done
    code, out = run(con.path, "--yes", "factory-reset")
    assert code == 0 and "erased:" in out and backend.reset_done


def test_garbage_and_binary_input_get_one_line_errors_and_the_console_carries_on(pty_console):
    con = pty_console()
    tty = os.open(con.path, os.O_RDWR | os.O_NOCTTY)
    import tty as ttymod
    # TCSANOW: the default TCSAFLUSH would discard a prompt already waiting.
    ttymod.setraw(tty, termios.TCSANOW)
    try:
        read_until(tty, proto.PROMPT.encode())
        os.write(tty, b"st\xc3\xa4tus\r")
        out = read_until(tty, proto.PROMPT.encode())
        assert out.count(b"error: ignored 1 line with line noise") == 1
        blob = bytes((i * 131 + 7) % 256 for i in range(3000))
        os.write(tty, blob + b"\r\x15status\r")
        out = read_until(tty, b"state:        connected", timeout=10)
        assert out.count(b"error:") <= 3
        os.write(tty, b"diag\r")
        assert b"10 checks" in read_until(tty, b"10 checks")
    finally:
        os.close(tty)
    assert con.thread.is_alive()


def test_kernel_messages_in_mid_line_do_not_break_responses(pty_console):
    # Real interleaving on the pty: the server writes 5 bytes at a time and a
    # "kernel" writes whole lines between them.
    con = pty_console(chunk=16, delay=0.0005, kernel_every=0.1)
    # One key, not the whole listing: the chunked, throttled line makes a long
    # answer slow enough on a busy machine to hit the client's timeout.
    for command, expected in (("diag", "10 checks"), ("config get console_baud", "console_baud")):
        code, out = run(con.path, *command.split())
        assert code == 0 and expected in out and "usb 1-1" not in out


def test_a_kernel_message_splitting_the_json_line_is_recovered_by_resending(pty_console):
    backend = FakeBackend()
    con = pty_console(backend=backend)
    wrapped = []

    def open_port(name, baud):
        port = MisbehavingPort(client.default_open_port(name, baud), kernel=2)
        wrapped.append(port)
        return port
    code, out = run(con.path, "--json", "diag", open_port=open_port)
    assert code == 0 and json.loads(out)["data"]["checks"]
    assert wrapped[0].count == 2
    assert backend.calls.count("diag") == 1      # resent by id, never run twice


def test_a_cable_pulled_mid_response_reconnects_and_gets_the_answer():
    backend = FakeBackend()
    con = TcpConsole(backend=backend, cut_after=300)
    try:
        # The first command's response is cut; the cable comes back at once
        # (a new TCP connection), the client resyncs and resends by id.
        code, out = run(con.url, "--json", "--reconnect", "10", "diag")
        obj = json.loads(out)
        assert code == 0 and len(obj["data"]["checks"]) == 10
        assert con.connections >= 2
        assert backend.calls.count("diag") == 1
    finally:
        con.close()


def test_a_cable_that_stays_out_ends_with_a_clear_error_not_a_hang():
    con = TcpConsole(cut_after=10)
    url = con.url

    def open_port(name, baud):
        if con.connections >= 1:
            con.close()     # the cable is gone for good
        return client.default_open_port(name, baud)
    start = time.monotonic()
    code, out = run(url, "--reconnect", "2", "status", open_port=open_port)
    assert code == client.EXIT_NO_CONSOLE
    assert time.monotonic() - start < 12


def test_wrong_speed_is_reported_and_auto_finds_the_right_one(pty_console, capsys):
    con = pty_console()

    def open_port(name, baud):
        return MisbehavingPort(client.default_open_port(name, baud), true_baud=57600)
    out = io.StringIO()
    code = client.main([con.path, "--timeout", "3", "--baud", "115200", "status"],
                       open_port=open_port, out=out)
    err = capsys.readouterr().err
    assert code == client.EXIT_NO_CONSOLE and "garbled" in err and "--baud auto" in err
    code, out = run(con.path, "--baud", "auto", "status", open_port=open_port)
    err = capsys.readouterr().err
    assert code == 0 and "state:" in out and "found the console at 57600 baud" in err


def test_a_slow_line_still_delivers_whole_responses(pty_console):
    # About 9600 baud: 16 bytes every 16 ms.
    con = pty_console(chunk=16, delay=0.016)
    code, out = run(con.path, "diag")
    assert code == 0 and "10 checks, 0 failed" in out


def test_loop_url_hears_only_its_own_echo_and_says_so_in_time(capsys):
    start = time.monotonic()
    code = client.main(["loop://", "--timeout", "2", "status"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == client.EXIT_NO_CONSOLE and "not the VPN Spot console" in err
    assert time.monotonic() - start < 5


def test_a_missing_port_and_a_busy_port_get_clear_errors(pty_console, tmp_path, capsys):
    code = client.main([str(tmp_path / "ttyUSB9"), "status"], out=io.StringIO())
    assert code == client.EXIT_NO_CONSOLE
    assert "no such port: is the USB-serial adapter plugged in?" in capsys.readouterr().err
    con = pty_console()
    holder = serial.Serial(con.path, exclusive=True)
    try:
        code = client.main([con.path, "status"], out=io.StringIO())
        assert code == client.EXIT_NO_CONSOLE
        assert "port is busy" in capsys.readouterr().err
    finally:
        holder.close()


def test_command_words_keep_their_own_dash_options():
    opts = client.parse_argv(["/dev/ttyUSB0", "logs", "-n", "5", "--json", "--baud", "auto"])
    assert opts["command"] == ["logs", "-n", "5"] and opts["json"] and opts["baud"] == "auto"
    with pytest.raises(ValueError):
        client.parse_argv(["/dev/ttyUSB0", "--baud", "12345"])
