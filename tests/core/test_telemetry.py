"""Provider-bound reports (core/telemetry.py): the whitelist holds, nothing
that identifies a household gets through, and the queue retries with
jitter, keeps order and survives a restart."""

import json

from vpnspot_router.core import telemetry
from vpnspot_router.core.telemetry import TelemetryError, ReportQueue, Identity

LAN_ADDRESS = "192.168.77.10"
MAC = "02:1a:2b:3c:4d:5e"
HOSTNAME = "kids-laptop.lan"


def _fields(**changes):
    f = {
        "schema": 1,
        "report_id": "0123456789abcdef0123456789abcdef",
        "seq": 7,
        "hardware_model": "GL.iNet GL-MT3000",
        "os_name": "OpenWrt",
        "os_version": "23.05.3",
        "agent_version": "0.1.0",
        "period_start": 1700000000,
        "period_end": 1700003600,
        "rx_bytes": 123456789,
        "tx_bytes": 2345678,
    }
    for k, v in changes.items():
        f[k] = v
    return f


def _refused(fields):
    try:
        telemetry.build_report(fields)
    except TelemetryError as e:
        return str(e)
    raise AssertionError("the builder accepted %r" % (fields,))


class CountingRandom:
    """Deterministic bytes, so jitter and ids are predictable in tests."""

    def __init__(self, value=0):
        self.value = value
        self.calls = 0

    def __call__(self, n):
        self.calls += 1
        out = []
        for i in range(n):
            out.append((self.value + self.calls + i) & 0xFF)
        return bytes(out)


class FixedRandom:
    """Every draw starts with `byte` and continues with zeros, so a 4-byte
    fraction is exactly byte / 256."""

    def __init__(self, byte):
        self.byte = byte

    def __call__(self, n):
        return bytes([self.byte] + [0] * (n - 1))


IDENTITY = Identity("GL.iNet GL-MT3000", "OpenWrt", "23.05.3", "0.1.0")


def test_a_report_is_canonical_json_of_exactly_the_whitelisted_fields():
    body = telemetry.build_report(_fields())
    assert type(body) is bytes
    decoded = json.loads(body)
    assert sorted(decoded) == sorted(telemetry.WHITELIST)
    assert decoded["rx_bytes"] == 123456789 and decoded["hardware_model"] == "GL.iNet GL-MT3000"
    assert body.startswith(b'{"agent_version":"0.1.0","hardware_model":')
    assert b" " not in body.replace(b"GL.iNet GL-MT3000", b"")
    assert telemetry.check_report(body) == decoded


def test_real_board_and_release_names_are_accepted():
    # Models and versions as routers print them (hardware/captures/
    # board_ubus_system_board_examples.txt and openwrt_release_examples.txt).
    for model in ("GL.iNet GL-AR750", "Raspberry Pi 3 Model B Rev 1.2", "Raspberry Pi 4 Model B Rev 1.4",
                  "TP-Link Archer C7 v5", "Linksys E8450 (UBI)", "Netgear R7800",
                  "x86_64 QEMU Standard PC (Q35 + ICH9, 2009)"):
        telemetry.build_report(_fields(hardware_model=model))
    for version in ("23.05.3", "SNAPSHOT", "19.07.8", "21.02.0-rc1", "17.06", "snapshot", "12"):
        telemetry.build_report(_fields(os_version=version))
    for name in ("OpenWrt", "LiMe", "Debian GNU Linux"):
        telemetry.build_report(_fields(os_name=name))


def test_extra_or_missing_keys_are_refused():
    for extra in ("client_ip", "dns", "mac", "hostname", "destinations", "device_token", "token",
                  "Hardware_Model", "rx_bytes "):
        f = _fields()
        f[extra] = "x"
        assert "not a reportable field" in _refused(f)
    for key in telemetry.WHITELIST:
        f = _fields()
        del f[key]
        assert "missing" in _refused(f), key
    f = _fields()
    f[1] = "x"
    _refused(f)


def test_smuggling_a_lan_address_mac_or_hostname_through_any_text_field_is_refused():
    payloads = [
        LAN_ADDRESS, "Archer " + LAN_ADDRESS, "pc-" + LAN_ADDRESS, "10.77.0.2", "203.0.113.10",
        "fd77::10", "2001:db8::1", "::ffff:192.168.77.10",
        MAC, MAC.upper(), MAC.replace(":", "-"), MAC.replace(":", ""), "021a.2b3c.4d5e",
        "02_1a_2b_3c_4d_5e", "model 021A2B3C4D5E",
        HOSTNAME, "kids-laptop.local", "Kids-Laptop.Home", "www.example.com", "example.com",
        "tracker.ads.example", "router.fritz.box",
        "household@example.net", "a\x00b", "line\nbreak", "tab\there", "caf\u00e9",
        "<script>", "a;b", '"quoted"', "x" * 65, "", " padded", "two  spaces",
        "{\"client\": 1}", "%31%39%32",
    ]
    for key in telemetry.IDENTITY_KEYS:
        for bad in payloads:
            message = _refused(_fields(**{key: bad}))
            assert key in message, (key, bad, message)
            # The refusal itself must not repeat what it refused.
            if len(bad) > 3:
                assert bad not in message, (key, bad, message)


def test_wrong_types_are_refused_even_when_they_would_serialize():
    class Sneaky(str):
        pass

    cases = [
        ("rx_bytes", True), ("rx_bytes", 1.0), ("rx_bytes", "1"), ("rx_bytes", -1),
        ("rx_bytes", 1 << 63), ("rx_bytes", None), ("rx_bytes", [1]), ("rx_bytes", {"a": 1}),
        ("seq", False), ("schema", 2), ("period_start", -5),
        ("hardware_model", Sneaky("GL-MT3000")), ("hardware_model", b"GL-MT3000"),
        ("hardware_model", ["GL-MT3000"]), ("hardware_model", {"lan": LAN_ADDRESS}),
        ("report_id", "0123456789ABCDEF0123456789ABCDEF"), ("report_id", LAN_ADDRESS),
        ("report_id", "0123456789abcdef0123456789abcdeg"),
    ]
    for key, value in cases:
        _refused(_fields(**{key: value}))


def test_periods_must_run_forward_and_last_at_most_31_days():
    _refused(_fields(period_end=1700000000))
    _refused(_fields(period_end=1699999999))
    _refused(_fields(period_end=1700000000 + 31 * 86400 + 1))
    telemetry.build_report(_fields(period_end=1700000000 + 31 * 86400))


def test_only_a_dict_builds_a_report():
    for thing in (None, [], "report", b"{}", [("seq", 1)]):
        _refused(thing)


def test_check_report_refuses_bytes_the_builder_would_not_write():
    body = telemetry.build_report(_fields())
    spaced = body.replace(b",", b", ")
    duplicate = body[:-1] + b',"hardware_model":"' + LAN_ADDRESS.encode() + b'"}'
    duplicate_ok = body[:-1] + b',"os_name":"OpenWrt"}'
    extra = body[:-1] + b',"lan":"' + LAN_ADDRESS.encode() + b'"}'
    escaped = body.replace(b"OpenWrt", b"Open\\u0057rt")
    for bad in (spaced, duplicate, duplicate_ok, extra, escaped, b"", b"not json", b"[]",
                body.decode(), bytearray(body), body + b"\n"):
        try:
            telemetry.check_report(bad)
        except TelemetryError:
            continue
        raise AssertionError("check_report accepted %r" % (bad,))


def test_an_identity_is_checked_when_it_is_made():
    for bad in (("Archer " + LAN_ADDRESS, "OpenWrt", "1", "1"), ("m", "OpenWrt", "1", HOSTNAME)):
        try:
            Identity(*bad)
        except TelemetryError:
            continue
        raise AssertionError("Identity accepted %r" % (bad,))


def test_queued_reports_carry_ascending_sequence_numbers_and_fresh_ids():
    q = ReportQueue(CountingRandom(), first_jitter=0)
    a = q.add(IDENTITY, 1000, 4600, 10, 20, now=4600)
    b = q.add(IDENTITY, 4600, 8200, 30, 40, now=8200)
    assert (a.seq, b.seq) == (0, 1) and a.report_id != b.report_id
    fields = telemetry.check_report(b.body)
    assert fields["seq"] == 1 and fields["report_id"] == b.report_id
    assert fields["rx_bytes"] == 30 and fields["tx_bytes"] == 40


def test_the_first_send_waits_a_random_delay_within_the_jitter_window():
    delays = []
    for byte in (0, 0x40, 0x80, 0xFF):
        q = ReportQueue(FixedRandom(byte), first_jitter=300)
        item = q.add(IDENTITY, 0, 3600, 1, 1, now=3600)
        delays.append(item.next_attempt - 3600)
        assert q.due(3600 + delays[-1] - 1) is None or delays[-1] == 0
        assert q.due(3600 + delays[-1]) is item
    assert delays == [0, 75, 150, 298]   # 300 * byte / 256, rounded down


def test_retries_back_off_exponentially_with_jitter_and_a_cap():
    q = ReportQueue(FixedRandom(0x80), first_jitter=0, base_delay=60, max_delay=600)
    item = q.add(IDENTITY, 0, 3600, 1, 1, now=3600)
    now = 3600
    waits = []
    for _ in range(6):
        assert q.due(now) is item
        at = q.failed(item.report_id, now)
        waits.append(at - now)
        assert q.due(at - 1) is None
        now = at
    # factor 0.5 + 128/256 = 1.0: 60, 120, 240, 480, then the cap
    assert waits == [60, 120, 240, 480, 600, 600]
    low = ReportQueue(FixedRandom(0), first_jitter=0, base_delay=60)
    it = low.add(IDENTITY, 0, 3600, 1, 1, now=0)
    assert low.failed(it.report_id, 0) == 30


def test_reports_leave_in_order_and_an_accepted_one_is_gone():
    q = ReportQueue(CountingRandom(), first_jitter=0)
    a = q.add(IDENTITY, 0, 3600, 1, 1, now=3600)
    b = q.add(IDENTITY, 3600, 7200, 2, 2, now=7200)
    assert q.due(7200) is a
    q.accepted(a.report_id)
    q.accepted(a.report_id)             # a duplicate acknowledgement is harmless
    assert q.due(7200) is b
    q.accepted(b.report_id)
    assert q.due(10 ** 9) is None and q.next_wakeup() is None


def test_a_full_queue_drops_the_oldest_report_and_counts_it():
    q = ReportQueue(CountingRandom(), capacity=3, first_jitter=0)
    items = [q.add(IDENTITY, i * 3600, (i + 1) * 3600, i, i, now=(i + 1) * 3600) for i in range(5)]
    assert [it.seq for it in q.items] == [2, 3, 4]
    assert q.dropped == 2 and q.due(10 ** 9) is items[2]


def test_the_queue_survives_a_restart_with_ids_sequence_and_retry_state():
    q = ReportQueue(CountingRandom(), first_jitter=0)
    a = q.add(IDENTITY, 0, 3600, 5, 6, now=3600)
    q.add(IDENTITY, 3600, 7200, 7, 8, now=7200)
    q.failed(a.report_id, 7200)
    assert q.changed
    data = q.to_bytes()
    assert not q.changed
    r = ReportQueue(CountingRandom(99), first_jitter=0)
    r.restore(data)
    assert [(i.report_id, i.seq, i.body, i.attempts, i.next_attempt) for i in r.items] == \
        [(i.report_id, i.seq, i.body, i.attempts, i.next_attempt) for i in q.items]
    assert r.add(IDENTITY, 7200, 10800, 1, 1, now=10800).seq == 2


def test_a_tampered_queue_file_is_refused_and_changes_nothing():
    q = ReportQueue(CountingRandom(), first_jitter=0)
    q.add(IDENTITY, 0, 3600, 5, 6, now=3600)
    good = q.to_bytes()
    state = json.loads(good)
    tampered_body = json.loads(good)
    tampered_body["items"][0][2] = tampered_body["items"][0][2].replace(
        '"os_name":"OpenWrt"', '"os_name":"OpenWrt","lan":"%s"' % LAN_ADDRESS)
    wrong_seq = json.loads(good)
    wrong_seq["next_seq"] = 0
    for bad in (json.dumps(tampered_body).encode(), json.dumps(wrong_seq).encode(), good[:-5],
                b"{}", b'{"v": 1}', json.dumps({"v": 1, "next_seq": 1, "dropped": 0,
                                                "items": [[1, 2]]}).encode()):
        r = ReportQueue(CountingRandom(), first_jitter=0)
        r.add(IDENTITY, 0, 3600, 1, 1, now=0)
        before = r.to_bytes()
        try:
            r.restore(bad)
        except ValueError:
            assert r.to_bytes() == before
            continue
        raise AssertionError("restore accepted %r" % (bad,))
    assert state["items"][0][1] == 0
