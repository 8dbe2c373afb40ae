"""core/apischema.py: the JSON Schema subset that guards the provider API."""

from vpnspot_router.core.apischema import check_schema, is_date_time, is_email, validate

ROOT = {
    "components": {"schemas": {
        "Key": {"type": "string", "pattern": "^[A-Za-z0-9+/]+=$", "minLength": 44, "maxLength": 44},
        "Enroll": {
            "type": "object",
            "required": ["email", "code"],
            "additionalProperties": False,
            "properties": {
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "code": {"type": "string", "minLength": 4, "maxLength": 8},
            },
        },
        "Server": {
            "type": "object",
            "required": ["load"],
            "additionalProperties": False,
            "properties": {
                "load": {"type": "integer", "minimum": 0, "maximum": 100},
                "dns": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
                "ipv6": {"type": ["string", "null"]},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "key": {"$ref": "#/components/schemas/Key"},
            },
        },
    }},
}
ENROLL = {"$ref": "#/components/schemas/Enroll"}
SERVER = {"$ref": "#/components/schemas/Server"}
KEY = "A" * 43 + "="


def test_a_valid_request_has_no_errors():
    assert validate(ENROLL, {"email": "home@example.net", "code": "AB12"}, ROOT) == []


def test_an_unknown_field_is_rejected_by_name():
    errors = validate(ENROLL, {"email": "home@example.net", "code": "AB12", "lan_ip": "x"}, ROOT)
    assert errors == ["body: unknown field 'lan_ip' is not allowed"]


def test_a_missing_required_field_is_named():
    assert validate(ENROLL, {"email": "home@example.net"}, ROOT) == [
        "body: missing required field 'code'"]


def test_string_lengths_are_enforced_both_ways():
    assert validate(ENROLL, {"email": "home@example.net", "code": "AB"}, ROOT) == [
        "body.code: shorter than 4 characters"]
    assert validate(ENROLL, {"email": "home@example.net", "code": "ABCDEFGHI"}, ROOT) == [
        "body.code: longer than 8 characters"]


def test_a_malformed_email_is_rejected():
    errors = validate(ENROLL, {"email": "not an email", "code": "AB12"}, ROOT)
    assert errors == ["body.email: not an email address"]


def test_a_boolean_is_not_an_integer():
    assert validate(SERVER, {"load": True}, ROOT) == ["body.load: expected integer, got boolean"]


def test_minimum_and_maximum_bound_numbers():
    assert validate(SERVER, {"load": -1}, ROOT) == ["body.load: -1 is below the minimum 0"]
    assert validate(SERVER, {"load": 101}, ROOT) == ["body.load: 101 is above the maximum 100"]


def test_items_are_checked_with_their_index_in_the_path():
    errors = validate(SERVER, {"load": 1, "dns": ["10.77.0.1", 5]}, ROOT)
    assert errors == ["body.dns[1]: expected string, got integer"]


def test_item_counts_are_bounded():
    assert validate(SERVER, {"load": 1, "dns": []}, ROOT) == ["body.dns: 0 items, at least 1 needed"]
    assert validate(SERVER, {"load": 1, "dns": ["a", "b", "c"]}, ROOT) == [
        "body.dns: 3 items, at most 2 allowed"]


def test_a_type_list_allows_null():
    assert validate(SERVER, {"load": 1, "ipv6": None}, ROOT) == []
    assert validate(SERVER, {"load": 1, "ipv6": 6}, ROOT) == [
        "body.ipv6: expected string or null, got integer"]


def test_enum_rejects_other_values():
    assert validate(SERVER, {"load": 1, "kind": "c"}, ROOT) == ["body.kind: 'c' is not one of ['a', 'b']"]


def test_a_pattern_must_match_the_whole_string():
    assert validate(SERVER, {"load": 1, "key": KEY}, ROOT) == []
    assert validate(SERVER, {"load": 1, "key": KEY[:-1] + "!"}, ROOT) == [
        "body.key: does not match the pattern ^[A-Za-z0-9+/]+=$"]


def test_email_format_accepts_ordinary_addresses_only():
    assert is_email("household@example.net")
    for bad in ("", "a@b", "@example.net", "a@@example.net", "a b@example.net", "a@example..net"):
        assert not is_email(bad), bad


def test_date_time_format_is_utc_to_the_second():
    assert is_date_time("2027-01-31T23:59:59Z")
    for bad in ("2027-01-31 23:59:59Z", "2027-13-01T00:00:00Z", "2027-01-31T23:59:59+01:00",
                "2027-01-31T24:00:00Z"):
        assert not is_date_time(bad), bad


def test_the_example_schemas_use_only_supported_keywords():
    for name in ROOT["components"]["schemas"]:
        assert check_schema(ROOT["components"]["schemas"][name], ROOT, name) == []


def test_an_unsupported_keyword_in_a_schema_is_reported():
    problems = check_schema({"type": "string", "oneOf": []})
    assert problems == ["schema: keyword 'oneOf' is not supported by core/apischema.py"]


def test_an_unanchored_or_counted_pattern_is_reported():
    assert check_schema({"type": "string", "pattern": "[a-z]+"}) == [
        "schema: pattern must be anchored with ^ and $"]
    assert len(check_schema({"type": "string", "pattern": "^[a-z]{4}$"})) == 1


def test_a_dangling_ref_is_reported():
    problems = check_schema({"$ref": "#/components/schemas/Nope"}, ROOT)
    assert problems == ["schema: $ref '#/components/schemas/Nope' points nowhere"]
