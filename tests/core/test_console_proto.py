"""The console protocol (core/console_proto.py): line editing for dumb
terminals and noisy lines, the command grammar, and the two framings."""

import json

from vpnspot_router.core import console_proto as proto
from vpnspot_router.core.console_proto import LineEditor, parse, Response


def _lines(events):
    return [e[1] for e in events if e[0] == proto.LINE]


def test_cr_lf_and_crlf_each_end_exactly_one_line():
    ed = LineEditor()
    out, events = ed.feed(b"status\rdiag\nservers\r\nhelp\r")
    assert _lines(events) == ["status", "diag", "servers", "help"]
    # A LF arriving in the next read after a CR is still the same line end.
    out, events = ed.feed(b"\n")
    assert events == []


def test_backspace_and_del_erase_and_echo_erasure():
    ed = LineEditor()
    out, events = ed.feed(b"statx\x08us\x7f\x7fus\r")
    assert _lines(events) == ["status"]
    assert b"\b \b" in out and out.endswith(b"\r\n")


def test_ctrl_u_clears_the_line_and_ctrl_c_cancels_it():
    ed = LineEditor()
    out, events = ed.feed(b"factory-reset\x15diag\r")
    assert _lines(events) == ["diag"]
    out, events = ed.feed(b"bund\x03")
    assert events == [(proto.INTERRUPT,)] and out.endswith(b"^C\r\n")
    out, events = ed.feed(b"le\r")
    assert _lines(events) == ["le"]


def test_arrow_keys_are_ignored_not_counted_as_noise():
    ed = LineEditor()
    out, events = ed.feed(b"st\x1b[Aat\x1b[1;5Dus\x1bOB\r")
    assert _lines(events) == ["status"]


def test_non_ascii_and_control_bytes_make_one_bad_line_event():
    ed = LineEditor()
    out, events = ed.feed(b"sta\xff\x00tus\r")
    assert len(events) == 1 and events[0][0] == proto.BAD_LINE
    assert "2 non-text bytes" in events[0][1]
    assert b"\xff" not in out and b"\x00" not in out


def test_a_binary_blob_with_many_line_ends_gives_one_error_not_a_flood():
    ed = LineEditor()
    blob = bytes([(i * 37 + 11) % 256 for i in range(4000)])
    out, events = ed.feed(blob + b"\rstatus\r")
    bad = [e for e in events if e[0] == proto.BAD_LINE]
    assert len(bad) <= 2
    assert _lines(events)[-1] == "status"


def test_an_overlong_line_is_refused_when_it_ends():
    ed = LineEditor()
    out, events = ed.feed(b"a" * (proto.MAX_LINE + 50) + b"\r")
    assert events[0][0] == proto.BAD_LINE and "too long" in events[0][1]
    out, events = ed.feed(b"diag\r")
    assert _lines(events) == ["diag"]


def test_echo_off_echoes_nothing():
    ed = LineEditor(echo=False)
    out, events = ed.feed(b"diag\x08g\r")
    assert out == b"" and _lines(events) == ["diag"]


def test_every_command_in_the_table_parses():
    samples = ["help", "help config", "status", "diag", "servers", "connect", "connect de-fra",
               "disconnect", "logs", "logs -n 5", "logs -n5", "debug open", "debug open 45",
               "debug open 2h", "debug close", "debug show", "config get", "config get mtu",
               "config set mtu 1400", "config set dns_servers 10.77.0.1 fd77::1", "config diff",
               "config commit", "config revert", "factory-reset", "bundle", "json on", "json off",
               "exit", "quit"]
    seen = set()
    for line in samples:
        req = parse(line)
        assert req.error is None, (line, req.error)
        seen.add(req.command)
    assert seen == set([c.name for c in proto.COMMANDS])


def test_request_ids_are_taken_from_an_at_prefix():
    req = parse("@c7 logs -n 3")
    assert req.rid == "c7" and req.command == "logs" and req.options == {"n": 3}
    assert parse("@bad!id status").error.startswith("a request id")


def test_arguments_are_checked_with_a_reason():
    assert "out of range" in parse("logs -n 0").error
    assert "24 hours" in parse("debug open 25h").error
    assert "no setting" in parse("config set colour blue").error
    assert "takes one value" in parse("config set mtu 1400 1420").error
    assert "unknown command" in parse("reboot").error
    assert "usage" in parse("json maybe").error
    assert "debug what" in parse("debug").error
    assert "not closed" in parse("config set region 'de-fra").error


def test_quotes_keep_blanks_inside_one_value():
    req = parse("config set account_email 'a b@example.net'")
    assert req.options == {"key": "account_email", "value": "a b@example.net"}


def test_list_settings_take_several_values():
    req = parse("config set dns_servers 10.77.0.1 10.77.0.2")
    assert req.options["value"] == ["10.77.0.1", "10.77.0.2"]


def test_human_framing_fits_80_columns_and_ends_with_the_prompt():
    resp = Response("1", proto.OK, None, ["x" * 200, "word " * 40, "caf\u00e9 \u2603"])
    text = proto.frame_human(resp).decode("ascii")
    assert text.endswith(proto.PROMPT)
    for line in text.split("\r\n")[:-1]:
        assert len(line) <= 79
    assert "caf? ?" in text


def test_errors_are_one_line_in_human_framing():
    resp = Response("1", proto.ERROR, {"error": "x"}, ["mtu: 9000 is out of range"])
    assert proto.frame_human(resp) == b"error: mtu: 9000 is out of range\r\n" + proto.PROMPT.encode()


def test_json_framing_is_one_ascii_line_with_id_status_data_then_the_prompt():
    resp = Response("c1", proto.OK, {"name": "Fibra \u00d1 \U0001f600"}, ["ok"])
    raw = proto.frame_json(resp)
    assert raw.endswith(b"\r\n" + proto.PROMPT.encode())
    line = raw[:-len(proto.PROMPT) - 2]
    assert b"\r" not in line and b"\n" not in line
    for b in raw:
        assert b < 128
    obj = json.loads(line.decode())
    assert obj["id"] == "c1" and obj["status"] == "ok" and obj["text"] == ["ok"]
    # Checked as text: MicroPython's json.loads leaves surrogate pairs apart.
    assert obj["data"]["name"].startswith("Fibra \u00d1 ")
    assert b"\\ud83d\\ude00" in line


def test_help_lines_fit_80_columns():
    for line in proto.help_lines() + proto.help_lines("config"):
        assert len(line) <= 79, line


def test_help_for_config_says_plainly_what_each_dns_mode_does():
    text = " ".join(" ".join(proto.help_lines("config set")).split())
    assert "dns_mode tunnel: names are resolved by VPN Spot's resolver, through the tunnel" in text
    assert "dns_mode custom: names are resolved by your own dns_servers, through the tunnel" in text
    assert ("dns_mode isp: names are resolved by your internet provider, outside the tunnel: "
            "it sees every name") in text
