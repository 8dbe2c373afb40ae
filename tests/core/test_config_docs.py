"""The README's option table and report table say what the code does:
every setting in core/config.py and every reported field in
core/telemetry.py appears there, and nothing more is claimed as reported."""

import pathlib
import re

from vpnspot_router.core import config, telemetry

CPYTHON_ONLY = "reads the README from disk"

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _section(title):
    text = README.read_text(encoding="utf-8")
    start = text.index("## " + title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def test_every_setting_is_in_the_readme_table_with_its_default():
    table = _section("Configuration (/etc/config/vpnspot)")
    for f in config.FIELDS:
        rows = [l for l in table.split("\n") if l.startswith("| `%s.%s`" % (f.section, f.option))]
        assert len(rows) == 1, "README has no row for %s.%s" % (f.section, f.option)
        default = config.to_text(f, f.default)
        shown = rows[0].split("|")[2].strip()
        if f.is_list or default == "":
            assert shown in ("none", "empty"), (f.key, shown)
        else:
            assert shown == "`%s`" % default, (f.key, shown, default)


def test_the_readme_report_table_lists_exactly_the_whitelist():
    table = _section("What the agent reports")
    named = set()
    for line in table.split("\n"):
        if line.startswith("| `"):
            named.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    assert named == set(telemetry.WHITELIST)


def test_the_readme_says_reports_are_daily_by_default_why_and_the_shortest_period():
    section = " ".join(_section("What the agent reports").split())
    (field,) = [f for f in config.FIELDS if f.key == "report_period_minutes"]
    assert field.default == 1440
    assert "One report a day, by default (`report_period_minutes` `1440`)" in section
    assert "Billing needs the month's total, not a timeline" in section
    assert "shortest period the router accepts is one hour (`60`)" in section
    # ... and the schema keeps that promise.
    assert config.load("config vpnspot 'main'\n\toption report_period_minutes '60'\n"
                       ).report_period_minutes == 60
    try:
        config.load("config vpnspot 'main'\n\toption report_period_minutes '59'\n")
    except config.ConfigError as e:
        assert "report_period_minutes" in str(e) and "60 to 1440" in str(e)
    else:
        raise AssertionError("a period under an hour was accepted")
