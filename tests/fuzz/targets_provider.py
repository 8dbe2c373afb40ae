"""Fuzz targets for answers from the VPN Spot service, through the router's
client (provider/client.py) with FakeTransport, so every answer crosses the
same validation it meets on a router: HTTP status, Retry-After, JSON
decoding and the openapi.yaml schema of that call.

The documented answer to a bad response is a ProviderError (ProtocolError
for one that does not match the API). The input is a recipe: which call,
then one answer per attempt (the client retries 5xx/429/no network), each
answer being a status, a Retry-After header and a body built one of four
ways: raw bytes; a valid answer of that call with one node replaced by a
fuzzed JSON value (wrong type, huge number, long string, deep nesting) or
a key removed or added; a fuzzed JSON document; or a transport failure.
"""

import json

from tests.fuzz.registry import Bytes, register
from vpnspot_router.core import apischema
from vpnspot_router.provider import client as c
from vpnspot_router.provider import spec as spec_mod
from vpnspot_router.provider import transport as t

TOKEN = "t" * 43
KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
SERVER = {"id": "nl-ams-1", "region": "nl-ams", "country": "NL", "city": "Amsterdam",
          "hostname": "nl-ams-1.vpnspot.net", "endpoint": "203.0.113.10:51820",
          "public_key": KEY, "load": 10, "ipv6": True, "dns": ["10.77.0.1", "fd77::1"]}
VALID = {
    "enroll": {"device_id": "dev_0123456789", "device_token": TOKEN},
    "servers": {"servers": [SERVER, dict(SERVER, id="de-fra-1", ipv6=False, dns=["10.77.0.1"])]},
    "register_key": {"public_key": KEY, "ipv4": "10.77.0.2/32", "ipv6": None},
    "report": {"report_id": "0" * 32, "duplicate": False},
    "account": {"active": True, "status": "active", "plan": "family", "expires_at": None},
    "error": {"error": {"code": "rate_limited", "message": "slow down", "retry_after": 3}},
}
CALLS = ("enroll", "servers", "register_key", "report", "account")
STATUSES = (200, 201, 200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 204, 302, 418, 999, 0)
RETRY_AFTER = (None, "0", "3", "31", "-1", "1e3", " 7 ", "99999999999999999999", "\u0663", "abc", "")

_REPORT = None


def _report_bytes():
    global _REPORT
    if _REPORT is None:
        from vpnspot_router.core import telemetry
        _REPORT = telemetry.build_report({
            "schema": 1, "report_id": "0" * 32, "seq": 0, "hardware_model": "GL.iNet GL-MT3000",
            "os_name": "OpenWrt", "os_version": "23.05.3", "agent_version": "0.1.0",
            "period_start": 1700000000, "period_end": 1700003600, "rx_bytes": 1, "tx_bytes": 2})
    return _REPORT


def fuzz_value(r, depth=0):
    """A JSON value chosen by the input: every type, edge numbers, odd text."""
    k = r.byte() % 12
    if k == 0:
        return None
    if k == 1:
        return bool(r.byte() & 1)
    if k == 2:
        return r.int(1) - 128
    if k == 3:
        return r.choice((0, -1, 2 ** 31, 2 ** 63, 2 ** 64 + 1, -2 ** 63, 10 ** 400, 9007199254740993))
    if k == 4:
        return r.choice((0.5, -0.0, 1e308, 1e-320, float("inf"), float("nan")))
    if k == 5:
        return r.take(r.byte() % 64).decode("utf-8", "replace")
    if k == 6:
        return r.choice(("", "x" * 300, "\u0000", "dev_", "\ud800", "10.77.0.2/32", KEY, "a" * 70000))
    if k == 7 and depth < 6:
        return [fuzz_value(r, depth + 1) for _ in range(r.byte() % 5)]
    if k == 8 and depth < 6:
        return {r.choice(("id", "servers", "error", "code", "public_key", "x", "")):
                fuzz_value(r, depth + 1) for _ in range(r.byte() % 5)}
    if k == 9:
        n = 1 + r.byte() // 2       # deeper nesting comes as raw bytes (_body mode 2)
        return json.loads("[" * n + "]" * n)
    if k == 10:
        # A copy: the caller may insert into it, and VALID must stay valid.
        return json.loads(json.dumps(r.choice(list(VALID.values()))))
    return r.choice(("active", "suspended", "rate_limited", "unauthorized", "family"))


def _nodes(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for key in list(value):
            for item in _nodes(value[key], path + (key,)):
                yield item
    elif isinstance(value, list):
        for i, v in enumerate(value):
            for item in _nodes(v, path + (i,)):
                yield item


def _mutated(call, r):
    doc = json.loads(json.dumps(VALID["error"] if r.byte() % 5 == 0 else VALID[call]))
    for _ in range(1 + r.byte() % 3):
        nodes = list(_nodes(doc))
        path, node = nodes[r.byte() % len(nodes)]
        how = r.byte() % 4
        if not path:
            if how == 0:
                doc = fuzz_value(r)
            continue
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if how == 0 or how == 1:
            parent[path[-1]] = fuzz_value(r)
        elif how == 2:
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[r.choice(("extra", "device_token", "servers", "load"))] = fuzz_value(r)
        else:
            parent.append(fuzz_value(r))
    return json.dumps(doc, allow_nan=True).encode()


def _body(call, r):
    mode = r.byte() % 6
    if mode == 0:
        return r.take(r.int(2) % 2048)
    if mode == 1:
        return json.dumps(fuzz_value(r), allow_nan=True).encode()
    if mode == 2:
        return b"[" * (r.int(2) * 4) + b"{\"a\":" * (r.byte() * 8)
    return _mutated(call, r)


def _answers(call, r):
    def handler(request):
        kind = r.byte() % 16
        if kind == 0:
            raise t.ConnectFailed("fuzzed: connection refused")
        if kind == 1:
            raise t.TimedOut("fuzzed: no answer")
        if kind == 2:
            raise t.CertificateRejected("fuzzed: unknown CA")
        status = r.choice(STATUSES)
        headers = {}
        retry_after = r.choice(RETRY_AFTER)
        if retry_after is not None:
            headers["retry-after"] = retry_after
        return t.Response(status, headers, _body(call, r))
    return handler


def check_client(data):
    r = Bytes(data)
    call = r.choice(CALLS)
    client = c.ProviderClient("https://api.vpnspot.test", device_token=TOKEN,
                              transport=t.FakeTransport(_answers(call, r)),
                              sleep=lambda s: None, random=lambda: 0.5)
    if call == "enroll":
        result = client.enroll("household@example.net", "VPNS-7Q4K-M2XD")
    elif call == "servers":
        result = client.servers()
    elif call == "register_key":
        result = client.register_key(KEY)
    elif call == "report":
        result = client.report(_report_bytes())
    else:
        result = client.account()
    assert result is not None


def _seeds():
    out = []
    for i, call in enumerate(CALLS):
        out.append(bytes([i, 5, 0, 0, 3, 0, 0, 0]))       # a valid answer of that call
        out.append(bytes([i, 9, 9, 2, 3, 0, 0, 0, 5, 0, 0, 5, 0, 3, 0, 0, 0]))
    return out


register("provider.client", check_client, expected=(c.ProviderError,), seeds=_seeds(),
         max_len=2048, doc="answers of the VPN Spot service through the client's validation")


_SPEC = None


def check_schemas(data):
    """Every schema of openapi.yaml against arbitrary decoded JSON: the
    validator returns problems, it never raises."""
    global _SPEC
    if _SPEC is None:
        _SPEC = spec_mod.load()
    r = Bytes(data)
    schemas = _SPEC.doc["components"]["schemas"]
    name = sorted(schemas)[r.byte() % len(schemas)]
    value = fuzz_value(r) if r.byte() & 1 else json.loads(_mutated(r.choice(CALLS), r))
    errors = apischema.validate(schemas[name], value, _SPEC.doc)
    assert isinstance(errors, list)


register("provider.schema", check_schemas, seeds=_seeds(), max_len=1024,
         doc="the API schema validator on any JSON value")
