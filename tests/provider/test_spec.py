"""provider/openapi.yaml: readable without YAML, enforced to the last keyword."""

import json
import pathlib

from vpnspot_router.core import apischema, telemetry
from vpnspot_router.provider import client, spec

SPEC = pathlib.Path(spec.SPEC_PATH)


def test_the_api_document_uses_only_keywords_the_validator_enforces():
    assert spec.load().problems() == []


def test_the_api_document_is_json_apart_from_full_line_comments():
    lines = SPEC.read_text().splitlines()
    body = [line for line in lines if not line.startswith("#")]
    assert body[0] == "{"
    json.loads("\n".join(body))
    # No tab indentation: YAML forbids tabs where JSON allows them.
    assert not any("\t" in line for line in lines)


def test_every_operation_is_one_client_method():
    doc = spec.load().doc
    ops = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert ops == {"enroll", "listServers", "registerKey", "report", "accountStatus",
                   "connectionCheck"}
    for name in ("enroll", "servers", "register_key", "report", "account", "connection_check"):
        assert callable(getattr(client.ProviderClient, name))


def test_every_object_in_the_api_rejects_unknown_fields():
    schemas = spec.load().doc["components"]["schemas"]

    def walk(schema, where):
        if schema.get("type") == "object":
            assert schema.get("additionalProperties") is False, where
            for name, sub in schema.get("properties", {}).items():
                walk(sub, where + "." + name)
        if "items" in schema:
            walk(schema["items"], where + "[]")

    for name, schema in schemas.items():
        walk(schema, name)


def test_the_report_schema_is_exactly_the_telemetry_whitelist():
    report = spec.load().doc["components"]["schemas"]["TelemetryReport"]
    assert set(report["properties"]) == set(telemetry.WHITELIST)
    assert set(report["required"]) == set(telemetry.WHITELIST)


def test_the_router_never_sends_a_private_key_field():
    doc = spec.load()
    sent = set()

    def names(schema):
        schema = apischema.resolve(schema, doc.doc)
        for name, sub in schema.get("properties", {}).items():
            sent.add(name)
            names(sub)

    for path, item in doc.paths.items():
        for method in item:
            schema = doc.request_schema(doc.operation(method, path))
            if schema is not None:
                names(schema)
    assert "public_key" in sent and "email" in sent
    assert not [n for n in sent if "private" in n or "secret" in n or "mac" in n.split("_")]


def test_the_connection_check_takes_no_token_and_no_body_and_answers_two_fields():
    doc = spec.load()
    op = doc.operation("GET", "/v1/connection")
    assert op["security"] == [] and "requestBody" not in op and "parameters" not in op
    answer = doc.response_schema(op, 200)
    assert doc.validate(answer, {"address": "10.77.0.2", "vpnspot": True}) == []
    assert doc.validate(answer, {"address": "fd77:77::2", "vpnspot": False}) == []
    assert doc.validate(answer, {"address": "10.77.0.2", "vpnspot": True, "household": 1})
    assert doc.validate(answer, {"address": "not an address", "vpnspot": True})
    assert doc.validate(answer, {"address": "10.77.0.2"})
