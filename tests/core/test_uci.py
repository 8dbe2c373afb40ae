"""UCI grammar (core/uci.py): libuci's reading of quotes, escapes and
comments; byte-for-byte round trips; edits that touch only their lines."""

from vpnspot_router.core import uci
from vpnspot_router.core.uci import UciError
from vpnspot_router.core.wgconf import ConfigError

SAMPLE = (
    "# /etc/config/vpnspot, written by hand\n"
    "package vpnspot\n"
    "\n"
    "config vpnspot 'main'\n"
    "\toption enabled '1'   # on by default\n"
    "\toption region fastest\n"
    "\tlist dns_servers '192.0.2.53'\n"
    "\tlist dns_servers \"198.51.100.53\"\n"
    "\n"
    "# the serial console\n"
    "config console 'console'\n"
    "    option baud 115200\n"
    "\n"
    "config server\n"
    "\toption id 'a'\n"
    "config server\n"
    "\toption id 'b'\n"
)


def _error(fn, *args):
    try:
        fn(*args)
    except UciError as e:
        return e
    raise AssertionError("no UciError from %r" % (args,))


def test_a_file_that_parses_serializes_back_byte_for_byte():
    for text in (SAMPLE, "", "\n\n", "# only a comment", "config a\n\toption b 'c'",
                 "config a 'x'\r\n\toption b \"c\"\r\n", "config a; option b c # x\n",
                 "config a\n\toption v 'multi\nline'\n", "config a\n\toption v one\\\ntwo\n"):
        assert uci.parse(text).serialize() == text, repr(text)


def test_sections_options_and_lists_are_read_as_libuci_reads_them():
    doc = uci.parse(SAMPLE, "vpnspot")
    assert doc.package == "vpnspot"
    assert [s.ref for s in doc.sections()] == ["main", "console", "@server[0]", "@server[1]"]
    assert doc.get("main", "enabled") == "1"
    assert doc.get("main", "region") == "fastest"
    assert doc.get("main", "dns_servers") == ["192.0.2.53", "198.51.100.53"]
    assert doc.get("console", "baud") == "115200"
    assert doc.get("@server[1]", "id") == "b"
    assert doc.get("@server[-1]", "id") == "b"
    assert doc.get("@server[2]", "id") is None
    assert doc.get("main", "missing", "dflt") == "dflt"
    assert doc.section("main").options["dns_servers"].is_list
    assert doc.section("main").lineno == 4
    assert doc.section("main").options["region"].lineno == 6


def test_quotes_escapes_and_joined_words_follow_libuci():
    doc = uci.parse(
        "config t 'x'\n"
        "\toption a 'it'\\''s'\n"          # the form uci export writes
        "\toption b \"say \\\"hi\\\"\"\n"  # backslash escapes inside double quotes
        "\toption c 'single \\n stays'\n"  # no escapes inside single quotes
        "\toption d un\\ quoted\n"         # backslash escapes a space in a bare word
        "\toption e 'a'\"b\"c\n"           # adjacent pieces form one word
        "\toption f ''\n"                  # an empty value is a value
        "\toption g \"x\\\ny\"\n"          # backslash-newline joins lines
        "\toption h abc#not-part\n"        # '#' ends a bare word, as in libuci
        "\toption i '#kept'\n"
    )
    get = lambda name: doc.get("x", name)
    assert get("a") == "it's"
    assert get("b") == 'say "hi"'
    assert get("c") == "single \\n stays"
    assert get("d") == "un quoted"
    assert get("e") == "abc"
    assert get("f") == ""
    assert get("g") == "xy"
    assert get("h") == "abc"
    assert get("i") == "#kept"


def test_a_later_option_wins_and_a_list_after_an_option_extends_it():
    doc = uci.parse("config t 'x'\n\toption a 1\n\toption a 2\n\toption l 1\n\tlist l 2\n")
    assert doc.get("x", "a") == "2"
    assert doc.get("x", "l") == ["1", "2"]
    assert [st.lineno for st in doc.section("x").options["a"].statements] == [2, 3]


def test_statements_after_a_semicolon_are_separate_statements():
    doc = uci.parse("config t 'x'; option a 1; list b 2;list b 3\n")
    assert doc.get("x", "a") == "1" and doc.get("x", "b") == ["2", "3"]


def test_syntax_errors_name_file_line_and_what_was_expected():
    cases = [
        ("config t 'x'\n\toption a 'open\n", 2, "never closed"),
        ("config t 'x'\n\n\toption a \"open\n", 3, "never closed"),
        ("config t 'x'\n\toption a\n", 2, "option NAME 'value'"),
        ("config t 'x'\n\toption a b c\n", 2, "too many words"),
        ("config t 'x'\n\toptoin a b\n", 2, "unknown statement"),
        ("option a b\n", 1, "before any section"),
        ("config t 'x'\n\toption bad-name v\n", 2, "not a valid option name"),
        ("config 't y'\n", 1, "not a valid section type"),
        ("config t 'x.y'\n", 1, "not a valid section name"),
        ("config\n", 1, "config TYPE 'NAME'"),
        ("config t 'x'\n\tpackage a b\n", 2, "too many words"),
    ]
    for text, line, words in cases:
        e = _error(uci.parse, text, "/etc/config/test")
        assert e.filename == "/etc/config/test", text
        assert e.line == line, (text, e.line, str(e))
        assert words in str(e), (text, str(e))
        assert str(e).startswith("/etc/config/test:%d:" % line)
        assert isinstance(e, ConfigError) and isinstance(e, ValueError)


def test_non_text_input_is_an_error_not_a_crash():
    e = _error(uci.parse, b"config a", "f")
    assert "text" in str(e)


def test_setting_an_option_rewrites_only_its_line_and_keeps_its_comment():
    doc = uci.parse(SAMPLE)
    assert doc.set("main", "enabled", "0") is True
    after = doc.serialize()
    before_lines = SAMPLE.split("\n")
    after_lines = after.split("\n")
    assert len(after_lines) == len(before_lines)
    changed = [i for i in range(len(before_lines)) if before_lines[i] != after_lines[i]]
    assert changed == [4]
    assert after_lines[4] == "\toption enabled '0' # on by default"
    assert uci.parse(after).get("main", "enabled") == "0"


def test_setting_an_unchanged_value_changes_nothing():
    doc = uci.parse(SAMPLE)
    assert doc.set("main", "region", "fastest") is False
    assert doc.set("main", "dns_servers", ["192.0.2.53", "198.51.100.53"]) is False
    assert doc.serialize() == SAMPLE


def test_a_new_option_joins_the_end_of_its_section_with_the_section_indent():
    doc = uci.parse(SAMPLE)
    doc.set("console", "tty", "/dev/ttyS1")
    out = doc.serialize()
    assert "    option baud 115200\n    option tty '/dev/ttyS1'\n\nconfig server\n" in out
    assert out.replace("    option tty '/dev/ttyS1'\n", "") == SAMPLE


def test_values_that_need_quoting_survive_a_write_and_a_read():
    doc = uci.parse("config t 'x'\n")
    values = ["it's", 'a "b"', "back\\slash", "two  spaces", "#hash", "; semi", "", "new\nline",
              "'''", "tab\there"]
    for i in range(len(values)):
        doc.set("x", "v%d" % i, values[i])
    again = uci.parse(doc.serialize())
    for i in range(len(values)):
        assert again.get("x", "v%d" % i) == values[i], values[i]


def test_replacing_a_list_puts_the_new_values_where_the_old_ones_were():
    doc = uci.parse(SAMPLE)
    doc.set("main", "dns_servers", ["203.0.113.1"])
    out = doc.serialize()
    assert "\toption region fastest\n\tlist dns_servers '203.0.113.1'\n\n# the serial console" in out
    assert uci.parse(out).get("main", "dns_servers") == ["203.0.113.1"]


def test_add_list_appends_after_the_last_value_of_that_list():
    doc = uci.parse(SAMPLE)
    doc.add_list("main", "dns_servers", "203.0.113.9")
    out = doc.serialize()
    assert "\tlist dns_servers \"198.51.100.53\"\n\tlist dns_servers '203.0.113.9'\n" in out
    assert uci.parse(out).get("main", "dns_servers") == ["192.0.2.53", "198.51.100.53", "203.0.113.9"]


def test_add_list_to_a_single_option_turns_it_into_a_list():
    doc = uci.parse("config t 'x'\n\toption a '1'\n")
    doc.add_list("x", "a", "2")
    assert doc.get("x", "a") == ["1", "2"]
    assert doc.serialize() == "config t 'x'\n\tlist a '1'\n\tlist a '2'\n"


def test_deleting_an_option_removes_only_its_lines():
    doc = uci.parse(SAMPLE)
    assert doc.delete("main", "dns_servers") is True
    assert doc.delete("main", "dns_servers") is False
    out = doc.serialize()
    assert "dns_servers" not in out
    assert out == SAMPLE.replace("\tlist dns_servers '192.0.2.53'\n", "").replace(
        "\tlist dns_servers \"198.51.100.53\"\n", "")


def test_deleting_one_list_value_keeps_the_others():
    doc = uci.parse(SAMPLE)
    doc.delete("main", "dns_servers", "192.0.2.53")
    assert doc.get("main", "dns_servers") == ["198.51.100.53"]


def test_deleting_a_section_keeps_the_comment_about_the_next_one():
    doc = uci.parse(SAMPLE)
    doc.delete("main")
    out = doc.serialize()
    assert out.startswith("# /etc/config/vpnspot, written by hand\npackage vpnspot\n\n# the serial console\n")
    assert doc.section("main") is None
    assert doc.get("console", "baud") == "115200"


def test_deleting_an_anonymous_section_renumbers_the_rest():
    doc = uci.parse(SAMPLE)
    doc.delete("@server[0]")
    assert doc.get("@server[0]", "id") == "b"
    assert doc.serialize().endswith("config console 'console'\n    option baud 115200\n\nconfig server\n\toption id 'b'\n")


def test_a_new_section_is_appended_after_a_blank_line():
    doc = uci.parse("config a 'x'\n\toption b 'c'")      # no final newline
    s = doc.add_section("vpnspot", "main")
    assert s.ref == "main"
    doc.set("main", "enabled", "1")
    assert doc.serialize() == "config a 'x'\n\toption b 'c'\n\nconfig vpnspot 'main'\n\toption enabled '1'\n"
    empty = uci.parse("")
    empty.add_section("vpnspot", "main")
    empty.set("main", "x", "y")
    assert empty.serialize() == "config vpnspot 'main'\n\toption x 'y'\n"


def test_edits_refuse_bad_names_and_values_and_change_nothing():
    doc = uci.parse(SAMPLE)
    for fn, args in ((doc.set, ("main", "bad name", "v")), (doc.set, ("main", "ok", 5)),
                     (doc.set, ("nosuch", "a", "b")), (doc.add_section, ("bad type", None)),
                     (doc.add_section, ("vpnspot", "main")), (doc.add_list, ("main", "x", None))):
        _error(fn, *args)
    assert doc.serialize() == SAMPLE


def test_editing_a_line_with_several_statements_rewrites_that_line_only():
    text = "config t 'x'; option a 1; option b 2 # two\nconfig u 'y'\n"
    doc = uci.parse(text)
    doc.set("x", "b", "3")
    assert doc.serialize() == "config t 'x'; option a '1'; option b '3' # two\nconfig u 'y'\n"


def test_line_numbers_follow_edits_above_them():
    doc = uci.parse(SAMPLE)
    doc.add_list("main", "dns_servers", "203.0.113.9")
    assert doc.section("console").lineno == 12
    assert doc.section("console").options["baud"].lineno == 13


def test_replacing_an_option_keeps_the_comment_on_its_line():
    doc = uci.parse("config t 'x'\n\tlist a '1' # why\n\tlist a '2'\n\toption b '3'\n")
    doc.set("x", "a", "9")
    assert doc.serialize() == "config t 'x'\n\toption a '9' # why\n\toption b '3'\n"
    doc.set("x", "a", ["7", "8"])
    assert doc.serialize() == "config t 'x'\n\tlist a '7' # why\n\tlist a '8'\n\toption b '3'\n"
    doc.set("x", "a", [])
    assert doc.serialize() == "config t 'x'\n\t# why\n\toption b '3'\n"
