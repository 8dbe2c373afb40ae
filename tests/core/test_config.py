"""The /etc/config/vpnspot schema (core/config.py): defaults, per-field
validation naming file, line and field, ISP provisioning and locks, the
household's changes and the diff."""

from vpnspot_router.core import config, uci
from vpnspot_router.core.config import LockedError
from vpnspot_router.core.wgconf import ConfigError

HOUSEHOLD = (
    "config vpnspot 'main'\n"
    "\toption enabled '1'\n"
    "\toption account_email 'household@example.net'\n"
    "\toption region 'de-fra'\n"
    "\toption kill_switch '0'\n"
    "\toption mtu '1420'\n"
    "\n"
    "config console 'console'\n"
    "\toption baud '57600'\n"
)

PROVISIONING = (
    "# shipped by the ISP in the firmware image\n"
    "config provider 'provider'\n"
    "\toption name 'Example ISP'\n"
    "\toption colour_primary '#003366'\n"
    "\tlist lock 'kill_switch'\n"
    "\tlist lock 'api_url'\n"
    "\n"
    "config vpnspot 'main'\n"
    "\toption api_url 'https://vpn.isp.example/api/v1'\n"
    "\toption partner_id 'example-isp'\n"
    "\toption region 'nl-ams'\n"
    "\toption kill_switch '1'\n"
)


def _error(cls, fn, *args):
    try:
        fn(*args)
    except cls as e:
        return e
    raise AssertionError("no %s from %r" % (cls.__name__, args))


def test_no_file_gives_the_documented_defaults():
    s = config.load(None)
    assert s.enabled is True and s.kill_switch is True
    assert s.region == "fastest" and s.server == ""
    assert s.dns_mode == "tunnel" and s.ipv6_mode == "tunnel" and s.mtu == "auto"
    assert s.checkpoint_minutes == 15 and s.report_period_minutes == 1440
    assert s.debug_ttl_default == 30
    assert s.console_enabled is False and s.console_baud == 115200
    assert s.api_url.startswith("https://")
    assert set(s.source.values()) == set(["default"])
    assert s.locked == {}


def test_every_field_has_a_default_its_own_check_accepts():
    for f in config.FIELDS:
        text = config.to_text(f, f.default)
        if f.is_list:
            assert [f.check(v) for v in text] == list(f.default)
        else:
            assert f.check(text) == f.default, f.key


def test_household_values_are_read_and_typed():
    s = config.load(HOUSEHOLD)
    assert s.account_email == "household@example.net"
    assert s.region == "de-fra" and s.kill_switch is False and s.mtu == 1420
    assert s.console_baud == 57600
    assert s.source["region"] == "household" and s.source["server"] == "default"


def test_bad_values_are_reported_with_file_line_and_field():
    cases = [
        ("\toption enabled 'maybe'\n", "enabled", "not a switch"),
        ("\toption region 'DE FRA'\n", "region", "neither 'fastest' nor a region id"),
        ("\toption mtu '9000'\n", "mtu", "1280 to 1500"),
        ("\toption mtu 'big'\n", "mtu", "'auto'"),
        ("\toption dns_mode 'google'\n", "dns_mode", "tunnel, isp, custom"),
        ("\toption ipv6_mode 'leak'\n", "ipv6_mode", "tunnel, block"),
        ("\toption api_url 'http://api.example.net'\n", "api_url", "https://"),
        ("\toption api_url 'https://api.example.net/v1?x=1'\n", "api_url", "query"),
        ("\toption ca_file 'certs/ca.pem'\n", "ca_file", "absolute path"),
        ("\toption ca_file '/etc/../root/ca.pem'\n", "ca_file", "'..'"),
        ("\toption account_email 'not-an-email'\n", "account_email", "not an email address"),
        ("\toption web_port '0'\n", "web_port", "out of range"),
        ("\toption web_port '-1'\n", "web_port", "not a whole number"),
        ("\toption report_period_minutes '5'\n", "report_period_minutes", "60 to 1440"),
        ("\toption report_period_minutes '15'\n", "report_period_minutes", "60 to 1440"),
        ("\tlist dns_servers '0.0.0.0'\n\toption dns_mode 'custom'\n", "dns_servers",
         "0.0.0.0 is the unspecified address, not a DNS server's address"),
        ("\tlist dns_servers 'ff02::fb'\n\toption dns_mode 'custom'\n", "dns_servers",
         "ff02::fb is a multicast address"),
        ("\toption checkpoint_minutes '0'\n", "checkpoint_minutes", "1 to 1440"),
        ("\toption debug_ttl_default '99999'\n", "debug_ttl_default", "1 to 1440"),
        ("\toption kill_swtich '0'\n", "kill_swtich", "unknown option"),
        ("\tlist region 'a'\n", "region", "takes one value"),
        ("\toption dns_servers '192.0.2.1'\n", "dns_servers", "list dns_servers"),
        ("\toption enabled '1'\n\toption enabled '0'\n", "enabled", "set twice (lines 3 and 4)"),
    ]
    for body, field, words in cases:
        text = "# household\nconfig vpnspot 'main'\n" + body
        e = _error(ConfigError, config.load, text, None, "/etc/config/vpnspot")
        assert e.filename == "/etc/config/vpnspot"
        assert e.field == field, (body, str(e))
        assert e.line == (4 if "twice" in words else 3), (body, e.line)
        assert words in str(e), (body, str(e))


def test_console_section_values_are_checked_too():
    e = _error(ConfigError, config.load, "config console 'console'\n\toption baud '12345'\n")
    assert e.field == "baud" and e.line == 2 and "serial speed" in str(e)
    e = _error(ConfigError, config.load, "config console 'console'\n\toption tty '/etc/passwd'\n")
    assert e.field == "tty" and "/dev/" in str(e)


def test_unknown_or_misnamed_sections_are_refused():
    e = _error(ConfigError, config.load, "\nconfig wifi 'x'\n")
    assert e.line == 2 and e.field == "wifi" and "unknown section type" in str(e)
    e = _error(ConfigError, config.load, "config vpnspot\n\toption enabled 1\n")
    assert "config vpnspot 'main'" in str(e)
    e = _error(ConfigError, config.load, "config vpnspot 'main'\nconfig vpnspot 'main'\n")
    assert e.line == 2 and "second" in str(e)


def test_dns_servers_go_with_custom_dns_mode_only():
    s = config.load("config vpnspot 'main'\n\toption dns_mode 'custom'\n"
                    "\tlist dns_servers '192.0.2.53'\n\tlist dns_servers '2001:db8::53'\n")
    assert s.dns_servers == ("192.0.2.53", "2001:db8::53")
    e = _error(ConfigError, config.load, "config vpnspot 'main'\n\tlist dns_servers '192.0.2.53'\n")
    assert e.field == "dns_servers" and e.line == 2
    e = _error(ConfigError, config.load, "config vpnspot 'main'\n\toption dns_mode 'custom'\n")
    assert e.field == "dns_mode" and "at least one" in str(e)
    e = _error(ConfigError, config.load, "config vpnspot 'main'\n\toption dns_mode 'custom'\n"
               "\tlist dns_servers 'dns.example'\n")
    assert e.field == "dns_servers" and e.line == 3


def test_uci_syntax_errors_come_through_with_their_line():
    e = _error(ConfigError, config.load, "config vpnspot 'main'\n\toption region 'de-fra\n",
               None, "/etc/config/vpnspot")
    assert isinstance(e, uci.UciError) and e.line == 2


def test_provisioning_seeds_values_the_household_may_override_unless_locked():
    prov = config.parse_provisioning(PROVISIONING)
    assert prov.name == "Example ISP" and prov.branding == {"colour_primary": "#003366"}
    s = config.load(None, prov)
    assert s.api_url == "https://vpn.isp.example/api/v1" and s.partner_id == "example-isp"
    assert s.region == "nl-ams" and s.source["region"] == "provisioning"
    assert s.locked == {"kill_switch": "Example ISP", "api_url": "Example ISP"}
    s = config.load(HOUSEHOLD, prov)
    assert s.region == "de-fra" and s.source["region"] == "household"
    # The household file says kill_switch 0, but the provider locked it on.
    assert s.kill_switch is True and s.source["kill_switch"] == "provisioning"
    assert len(s.notices) == 1
    assert "kill_switch" in s.notices[0] and "locked by your provider Example ISP" in s.notices[0]
    assert s.notices[0].startswith("/etc/config/vpnspot:5:")


def test_a_lock_without_a_value_locks_the_default():
    prov = config.parse_provisioning("config provider 'provider'\n\tlist lock 'ipv6_mode'\n")
    s = config.load("config vpnspot 'main'\n\toption ipv6_mode 'block'\n", prov)
    assert s.ipv6_mode == "tunnel" and "ipv6_mode" in s.locked
    assert s.provider_name == config.DEFAULT_PROVIDER_NAME


def test_provisioning_errors_name_the_provisioning_file():
    name = "/etc/vpnspot/provisioning"
    cases = [
        ("config provider 'provider'\n\tlist lock 'kill_switchh'\n", 2, "lock", "not a setting"),
        ("config provider 'provider'\n\toption lock 'kill_switch'\n", 2, "lock", "list lock"),
        ("config provider 'provider'\n\toption colour_primary 'blue'\n", 2, "colour_primary", "#rrggbb"),
        ("config provider 'provider'\n\toption logo '/x.png'\n", 2, "logo", "unknown provider option"),
        ("config provider 'provider'\n\toption name '<b>ISP</b>'\n", 2, "name", "may not contain"),
        ("config vpnspot 'main'\n\toption api_url 'ftp://x'\n", 2, "api_url", "https://"),
    ]
    for text, line, field, words in cases:
        e = _error(ConfigError, config.parse_provisioning, text, name)
        assert e.filename == name and e.line == line and e.field == field, (text, str(e))
        assert words in str(e), (text, str(e))


def test_a_household_change_to_a_locked_field_is_refused_with_the_reason():
    prov = config.parse_provisioning(PROVISIONING)
    settings = config.load(HOUSEHOLD, prov)
    doc = uci.parse(HOUSEHOLD, "/etc/config/vpnspot")
    e = _error(LockedError, config.change, doc, settings, "kill_switch", "0")
    assert str(e) == "/etc/config/vpnspot: kill_switch: locked by your provider Example ISP"
    assert doc.serialize() == HOUSEHOLD


def test_a_household_change_edits_one_line_and_reloads_to_the_new_value():
    settings = config.load(HOUSEHOLD)
    doc = uci.parse(HOUSEHOLD, "/etc/config/vpnspot")
    assert config.change(doc, settings, "region", "fastest") is True
    text = doc.serialize()
    assert text == HOUSEHOLD.replace("'de-fra'", "'fastest'")
    assert config.load(text).region == "fastest"


def test_a_household_change_with_a_bad_value_changes_nothing():
    settings = config.load(HOUSEHOLD)
    doc = uci.parse(HOUSEHOLD, "/etc/config/vpnspot")
    for key, value in (("mtu", "100"), ("region", "x y"), ("nosuch", "1"), ("enabled", 1),
                       ("dns_servers", "192.0.2.1"), ("dns_servers", ["not-an-ip"])):
        e = _error(ConfigError, config.change, doc, settings, key, value)
        assert e.field == key
    assert doc.serialize() == HOUSEHOLD


def test_a_change_to_a_missing_section_creates_it():
    doc = uci.parse("", "/etc/config/vpnspot")
    config.change(doc, config.load(None), "console_tty", "/dev/ttyUSB0")
    assert config.load(doc.serialize()).console_tty == "/dev/ttyUSB0"
    config.change(doc, config.load(None), "dns_mode", "custom")
    config.change(doc, config.load(None), "dns_servers", ["192.0.2.53"])
    s = config.load(doc.serialize())
    assert s.dns_mode == "custom" and s.dns_servers == ("192.0.2.53",)


def test_diff_lists_changed_fields_in_table_order_with_the_email_masked():
    old = config.load(HOUSEHOLD)
    new = config.load(HOUSEHOLD.replace("'de-fra'", "'fastest'").replace("'0'", "'1'")
                      .replace("household@", "other@"))
    changes = config.diff(old, new)
    assert changes == [("account_email", "h***@example.net", "o***@example.net"),
                       ("region", "de-fra", "fastest"), ("kill_switch", "0", "1")]
    assert config.format_diff(changes).split("\n")[1] == "region: de-fra -> fastest"
    assert config.diff(old, old) == [] and config.format_diff([]) == "no changes"


def test_settings_print_the_account_email_masked():
    s = config.load(HOUSEHOLD)
    assert "household@example.net" not in repr(s) and "h***@example.net" in repr(s)


def test_server_source_defaults_to_vpnspot_and_takes_own():
    assert config.load(None).server_source == "vpnspot"
    settings = config.load("config vpnspot 'main'\n\toption server_source 'own'\n")
    assert settings.server_source == "own" and settings.source["server_source"] == "household"
    e = _error(ConfigError, config.load, "config vpnspot 'main'\n\toption server_source 'mine'\n")
    assert (e.line, e.field) == (2, "server_source")
    assert "'mine' is not one of: vpnspot, own" in str(e)


def test_an_isp_can_lock_server_source_to_vpn_spot_and_the_household_cannot_switch():
    prov = config.parse_provisioning("config provider 'provider'\n\toption name 'Example ISP'\n"
                                     "\tlist lock 'server_source'\n")
    text = "config vpnspot 'main'\n\toption server_source 'own'\n"
    settings = config.load(text, prov)
    assert settings.server_source == "vpnspot" and settings.locked["server_source"] == "Example ISP"
    assert "server_source: your value 'own' is not used" in settings.notices[0]
    doc = uci.parse("config vpnspot 'main'\n", "/etc/config/vpnspot")
    e = _error(LockedError, config.change, doc, config.load(None, prov), "server_source", "own")
    assert str(e) == "/etc/config/vpnspot: server_source: locked by your provider Example ISP"
    assert doc.serialize() == "config vpnspot 'main'\n"


def test_timer_overrides_parse_as_name_equals_seconds_and_name_the_bad_item():
    assert config.parse_timing({}, "VPNSPOT_WG_TIMING") == {}
    assert config.parse_timing({"VPNSPOT_WG_TIMING": ""}, "VPNSPOT_WG_TIMING") == {}
    assert config.parse_timing({"VPNSPOT_WG_TIMING": "rekey_timeout=1, keepalive_timeout=0.5,",
                                "VPNSPOT_REPORT_TIMING": "period=x"}, "VPNSPOT_WG_TIMING") == {
        "rekey_timeout": 1.0, "keepalive_timeout": 0.5}
    for bad in ("rekey_timeout", "rekey_timeout=soon", "rekey_timeout="):
        text = str(_error(ValueError, config.parse_timing,
                          {"VPNSPOT_REPORT_TIMING": "period=3," + bad}, "VPNSPOT_REPORT_TIMING"))
        assert text == "VPNSPOT_REPORT_TIMING: %r is not name=seconds" % bad
