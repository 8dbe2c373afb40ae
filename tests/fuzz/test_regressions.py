"""Inputs the fuzzers found that once escaped a parser as an undocumented
exception, minimized, and the rule each one broke. Each input is replayed
through its fuzz target (which also drives what the parser returned), and
the consequence on a router is checked where it matters: the file store
must treat such a file as damage and fall back, not stop the agent.
"""

import json
import os
import sys

import pytest

CPYTHON_ONLY = "imports the CPython-only fuzz harness and provider client"

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

from tests.fuzz import registry  # noqa: E402
from vpnspot_router.core import accounting, telemetry  # noqa: E402
from vpnspot_router.provider import client as c  # noqa: E402
from vpnspot_router.provider import commands  # noqa: E402
from vpnspot_router.provider import transport as t  # noqa: E402
from vpnspot_router.store import FileStore, SOURCE_LAST_GOOD  # noqa: E402

TARGETS = registry.load_all()

# (target, minimized input, what escaped before the fix)
FOUND = [
    ("provider.client", b"0\x03\x000\x020",
     "RecursionError from json.loads: an answer of 49,152 '[' (client.py)"),
    ("state.report_queue", b'""',
     "AttributeError: a queue file that is JSON but not an object (telemetry.py)"),
    ("state.report_queue", b'{"v":1,"items":[[1,2,3,4,5]],"next_seq":3,"dropped":0}',
     "AttributeError: a queued body that is not text (telemetry.py)"),
    ("state.report_queue", b"[" * 5000, "RecursionError (telemetry.py)"),
    ("state.checkpoint", b'{"v":1,"saved_at":"x","total":[1,2],"last":[null,null],"source":null,'
                         b'"period":[null,0,0],"hours":[],"days":[]}',
     "TypeError in observe() after restore() accepted a save time that is text (accounting.py)"),
    ("state.checkpoint", b'{"v":1,"saved_at":1,"total":[1,2],"last":[null,null],"source":null,'
                         b'"period":[null,0,0],"hours":[[Infinity,1,1]],"days":[]}',
     "OverflowError: int(Infinity) of an hourly bucket key (accounting.py)"),
    ("state.checkpoint", b"[" * 5000, "RecursionError (accounting.py)"),
    ("state.device_record", b'{"api_url":5,"ca_file":null,"resolve":{},"device_id":"dev_1",'
                            b'"device_token":"tttttttt"}',
     "AttributeError: an API address that is a number (commands.py)"),
    ("state.device_record", b'{"api_url":"https://x","ca_file":null,"resolve":{},'
                            b'"device_id":"dev_1","device_token":5}',
     "TypeError: a device token that is a number (commands.py)"),
    ("state.device_record", b"[" * 5000, "RecursionError (commands.py)"),
    ("web.json", b"0\x01\n000\x010000\xff00000000000\x83000<\x8e00",
     "UnicodeDecodeError, a 500: an X-CSRF-Token header that is not UTF-8 (Bottle's get_header, "
     "web/app.py check_csrf)"),
    ("web.form", b"0\xa9+0\xc4\x1a\xb30v\xb60000000000000000000000\xc700060000\x9f0\xf2\xad:#"
                 b"\x030000\xdd00",
     "UnicodeDecodeError, a 500: a multipart form part that is not UTF-8 (Bottle's form reader, "
     "web/app.py)"),
    ("web.form", b"0;0\xe200\xb0000\x0e\xf6000000000\x04\xf6000000\xa80\xd46\x9a0000\x9c00",
     "UnicodeDecodeError, a 500: the same multipart part in a HEAD to the JSON API, whose CSRF check "
     "reads the form (web/app.py)"),
    ("web.form", b"0co00\\Z000Z000.00000=000000===000000000000000",
     "CookieError, a 500: a Cookie header Python's cookie parser refuses (web/app.py session)"),
]


@pytest.mark.parametrize("name,data,why", FOUND, ids=["%s-%d" % (f[0], i) for i, f in enumerate(FOUND)])
def test_a_minimized_fuzz_finding_is_now_a_documented_answer(name, data, why):
    target = TARGETS[name]
    try:
        target.check(data)
    except target.expected:
        pass


def test_a_provider_answer_nested_deeper_than_the_stack_is_a_protocol_error():
    body = b"[" * 200000
    client = c.ProviderClient("https://api.vpnspot.test", device_token="t" * 43,
                              transport=t.FakeTransport([t.Response(200, {}, body)]),
                              sleep=lambda s: None, random=lambda: 0.5)
    with pytest.raises(c.ProtocolError):
        client.account()


def _restore_queue(data):
    telemetry.ReportQueue(lambda n: b"\x01" * n).restore(data)


def _restore_checkpoint(data):
    accounting.Accounting().restore(data)


GOOD_QUEUE = telemetry.ReportQueue(lambda n: b"\x01" * n).to_bytes()
GOOD_CHECKPOINT = accounting.Accounting().to_bytes(1700000000)
GOOD_DEVICE = json.dumps({"api_url": "https://api.vpnspot.test", "ca_file": None, "resolve": {},
                          "device_id": "dev_0123456789", "device_token": "t" * 43}).encode()


@pytest.mark.parametrize("validate,good,damaged", [
    (_restore_queue, GOOD_QUEUE, b"[]"),
    (_restore_queue, GOOD_QUEUE, b"[" * 5000),
    (_restore_checkpoint, GOOD_CHECKPOINT, FOUND[5][1]),
    (_restore_checkpoint, GOOD_CHECKPOINT, FOUND[4][1]),
    (commands._validate_device, GOOD_DEVICE, FOUND[7][1]),
    (commands._validate_device, GOOD_DEVICE, b"[" * 5000),
], ids=["queue-list", "queue-deep", "checkpoint-infinity", "checkpoint-text-time",
        "device-number-url", "device-deep"])
def test_a_file_the_fuzzer_broke_a_reader_with_is_moved_aside_and_its_last_good_copy_used(
        tmp_path, validate, good, damaged):
    path = tmp_path / "state"
    store = FileStore(str(path))
    store.write(good)
    path.write_bytes(damaged)                       # the flash returned something else
    result = store.read(validate)
    assert result.source == SOURCE_LAST_GOOD and result.data == good
    assert any("moved aside" in p for p in result.problems)
    assert [n for n in os.listdir(tmp_path) if ".corrupt-" in n]


def test_a_device_token_with_characters_no_token_has_is_refused():
    record = json.loads(GOOD_DEVICE)
    record["device_token"] = "abc\r\nX-Injected: 1"
    with pytest.raises(ValueError):
        commands._validate_device(json.dumps(record).encode())


# -- the two web UI findings, as the requests a LAN device sends ----------------

def _web():
    from tests.web.wsgiclient import Client
    from vpnspot_router.web.app import WebConfig, app as make_app
    from vpnspot_router.web.backend import FakeBackend
    from tests.web.conftest import LAN, finish_setup
    backend = FakeBackend()
    web = make_app(backend, WebConfig(host=LAN, port=443, state_dir="/nonexistent", memory_only=True))
    client = finish_setup(Client(web, host=LAN))
    client.get("/settings")
    return backend, client


def test_a_csrf_header_that_is_not_utf8_is_refused_as_a_forgery_and_changes_nothing():
    backend, client = _web()
    before = backend.config_text
    # A server hands header bytes over as latin-1 text (PEP 3333).
    r = client.request("POST", "/settings", body=b"kill_switch=0",
                       content_type="application/x-www-form-urlencoded",
                       headers={"X-CSRF-Token": b"\xff\xfe".decode("latin-1")})
    assert r.status == 403 and "Nothing was changed" in r.text
    assert backend.config_text == before


@pytest.mark.parametrize("ctype,part", [
    ("multipart/form-data; boundary=b", b"\xed\xa0"),
    # Bottle 0.13.5 reads an unknown charset as UTF-8 instead of raising.
    ("multipart/form-data; boundary=b; charset=no-such-charset", b"1"),
    ("multipart/form-data; boundary=b; charset=rot13", b"1"),
    ("multipart/form-data; boundary=b; charset=utf-8\x00", b"1"),
    ("multipart/form-data; charset=utf-8; boundary=b; charset=nope", b"1"),
], ids=["a part that is not UTF-8", "an unknown charset", "a codec that is not a charset",
        "a NUL in the charset", "a second charset"])
def test_a_multipart_form_bottle_cannot_decode_is_a_400_and_changes_nothing(ctype, part):
    backend, client = _web()
    before = backend.config_text
    body = (b'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n' + client.csrf().encode()
            + b'\r\n--b\r\nContent-Disposition: form-data; name="kill_switch"\r\n\r\n' + part
            + b"\r\n--b--\r\n")
    r = client.request("POST", "/settings", body=body, content_type=ctype)
    assert r.status == 400 and "could not be read" in r.text
    assert backend.config_text == before


def test_a_url_encoded_form_naming_an_unknown_charset_is_a_400_and_changes_nothing():
    backend, client = _web()
    before = backend.config_text
    body = ("csrf=%s&kill_switch=0" % client.csrf()).encode()
    r = client.request("POST", "/settings", body=body,
                       content_type="application/x-www-form-urlencoded; charset=no-such-charset")
    assert r.status == 400 and "could not be read" in r.text
    assert backend.config_text == before


@pytest.mark.parametrize("ctype,ok", [
    ("multipart/form-data; boundary=b", True),
    ("multipart/form-data; boundary=b; charset=UTF-8", True),
    ("application/x-www-form-urlencoded; charset=\"utf8\"", True),
    ("application/x-www-form-urlencoded; charset=latin-1", True),
    ("application/json; charset=us-ascii", True),
    ("multipart/form-data; boundary=b; charset=no-such-charset", False),
    ("multipart/form-data; boundary=b; charset=", False),
    ("multipart/form-data; boundary=b; charset=utf-16", False),
    ("multipart/form-data; boundary=b; charset=hex", False),
])
def test_which_charsets_a_request_body_may_name(ctype, ok):
    from vpnspot_router.web.app import form_charset_ok
    assert form_charset_ok(ctype) is ok


def test_a_head_request_to_the_api_with_an_undecodable_multipart_body_is_a_400():
    _, client = _web()
    body = b'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n\x9c\r\n--b--\r\n'
    r = client.request("HEAD", "/api/status", body=body, content_type="multipart/form-data; boundary=b")
    assert r.status == 400


@pytest.mark.parametrize("header", ["==", ";;==", "a b=1", "=x; \\=\"\\"], ids=repr)
def test_a_cookie_header_pythons_parser_refuses_gets_a_page_not_a_500(header):
    _, client = _web()
    client.cookie = None
    r = client.request("GET", "/login", headers={"Cookie": header})
    assert r.status in (200, 303), r.status


def test_the_admin_keeps_the_session_beside_a_malformed_cookie_of_another_program():
    backend, client = _web()
    sid = client.cookie
    client.cookie = None
    r = client.request("GET", "/api/status", headers={"Cookie": "==; vpnspot_session=%s; x y=1" % sid})
    assert r.status == 200 and json.loads(r.body)["enrolled"] is True
