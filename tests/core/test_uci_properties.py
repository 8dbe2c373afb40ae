"""Properties of core/uci.py over generated files and edits: text that
parses serializes back unchanged, written values read back the same, and an
edit changes nothing outside the lines of the option it edits."""

from hypothesis import given, settings, strategies as st

from vpnspot_router.core import uci

CPYTHON_ONLY = "hypothesis"

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)
values = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=20)
spaces = st.sampled_from(["", " ", "\t", "  ", "\t\t"])
comments = st.sampled_from(["", " # why", "\t#x", " # it's \"quoted\""])


def _word(value, style):
    if style == 0 or (style == 2 and ("\n" in value or "\r" in value)):
        # Outside single quotes a backslash before a line end joins lines,
        # so a line end cannot be escaped in a bare word (as in libuci).
        return uci.quote(value)
    if style == 1:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    out = []
    for ch in value:
        out.append(("\\" + ch) if ch in " \t\r\n\\'\";#\f\v" else ch)
    return "".join(out) or "''"


@st.composite
def documents(draw):
    """(text, expected) where expected maps section name -> {option: value or list}."""
    lines = []
    expected = {}
    for i in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            lines.append(draw(spaces) + draw(comments).strip())
        name = "s%d" % i
        lines.append("config t%d '%s'%s" % (i % 2, name, draw(comments)))
        opts = {}
        for _ in range(draw(st.integers(0, 4))):
            opt = draw(names)
            value = draw(values)
            style = draw(st.integers(0, 2))
            if draw(st.booleans()):
                lines.append("%slist %s %s%s" % (draw(spaces), opt, _word(value, style), draw(comments)))
                old = opts.get(opt)
                opts[opt] = [value] if old is None else (old + [value] if isinstance(old, list) else [old, value])
            else:
                lines.append("%soption %s %s%s" % (draw(spaces), opt, _word(value, style), draw(comments)))
                opts[opt] = value
        expected[name] = opts
        if draw(st.booleans()):
            lines.append("")
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    return text, expected


@settings(max_examples=300, deadline=None)
@given(documents())
def test_generated_files_read_as_written_and_round_trip_unchanged(doc):
    text, expected = doc
    parsed = uci.parse(text)
    assert parsed.serialize() == text
    for name, opts in expected.items():
        s = parsed.section(name)
        assert s is not None
        for opt, value in opts.items():
            assert s.get(opt) == value, (opt, text)


def _single_line_values(doc):
    # The line comparison below finds an option's lines by its name; a value
    # spanning lines would leave its continuation behind. Multi-line values
    # are covered by the round-trip tests above.
    for opts in doc[1].values():
        for v in opts.values():
            for item in (v if isinstance(v, list) else [v]):
                if "\n" in item or "\r" in item:
                    return False
    return True


@settings(max_examples=300, deadline=None)
@given(documents().filter(_single_line_values), names,
       values.filter(lambda v: "\n" not in v and "\r" not in v))
def test_setting_an_option_leaves_every_other_option_and_line_alone(doc, opt, value):
    text, expected = doc
    parsed = uci.parse(text)
    if not expected:
        return
    target = sorted(expected)[0]
    parsed.set(target, opt, value)
    again = uci.parse(parsed.serialize())
    assert again.get(target, opt) == value
    for name, opts in expected.items():
        for o, v in opts.items():
            if (name, o) != (target, opt):
                assert again.get(name, o) == v
    # Only lines that held the option (or the new line) differ, except that a
    # comment trailing a replaced line is kept, on a line of its own.
    old_target = [l for l in text.split("\n") if (" %s " % opt) in l]
    old_lines = [l for l in text.split("\n") if (" %s " % opt) not in l]
    new_lines = [l for l in parsed.serialize().split("\n") if (" %s " % opt) not in l]
    kept_comments = [l for l in new_lines if l.strip().startswith("#") and l not in old_lines
                     and any(t.rstrip().endswith(l.strip()) for t in old_target)]
    assert [l for l in old_lines if l] == [l for l in new_lines if l and l not in kept_comments]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_either_parses_and_round_trips_or_raises_uci_error(text):
    try:
        parsed = uci.parse(text, "fuzz")
    except uci.UciError as e:
        assert e.filename == "fuzz"
        return
    assert parsed.serialize() == text
