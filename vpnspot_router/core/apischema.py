"""A validator for the subset of JSON Schema used by provider/openapi.yaml.

Owns: checking a decoded JSON value against one schema of the API document,
and checking that the document itself uses only what this validator knows.
The reference provider service (lab/provider_service.py) validates every
request and its own responses with it; the router's client
(provider/client.py) validates every answer it gets. Keep the keyword list
below in sync with what openapi.yaml uses: check_schema() rejects any other
keyword, so a schema can never look stricter than it is enforced.

Keywords: type (one name or a list; "integer" excludes booleans), required,
properties, additionalProperties (false or a schema), enum, pattern,
minLength, maxLength, minimum, maximum, items, minItems, maxItems, format
("email", "date-time" as YYYY-MM-DDTHH:MM:SSZ), and $ref to
"#/components/schemas/NAME". Annotations (description, title, example,
default) are ignored.

Patterns must start with ^ and end with $ and avoid counted repetition
({n}, {m,n}): MicroPython's re has neither fullmatch nor braces; lengths
are constrained with minLength/maxLength instead.

Sans-IO and MicroPython-compatible: plain functions, errors returned as a
list of "where: what" strings, never raised for bad input.
"""

import re

KEYWORDS = ("type", "required", "properties", "additionalProperties", "enum", "pattern",
            "minLength", "maxLength", "minimum", "maximum", "items", "minItems", "maxItems",
            "format", "$ref")
ANNOTATIONS = ("description", "title", "example", "default")
TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
FORMATS = ("email", "date-time")
REF_PREFIX = "#/components/schemas/"

_patterns = {}


class SchemaError(Exception):
    """The schema itself is wrong or uses a keyword this validator lacks."""


def _type_ok(name, value):
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return value is True or value is False
    if name == "null":
        return value is None
    if value is True or value is False:
        return False
    if name == "integer":
        return isinstance(value, int)
    if name == "number":
        return isinstance(value, (int, float))
    return False


def _type_name(value):
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "unknown"


def is_email(text):
    # Deliberately simple: one @, a non-empty local part, a dotted domain,
    # no spaces or control characters. The service decides if it exists.
    if len(text) > 254 or text.count("@") != 1:
        return False
    local, domain = text.split("@")
    if not local or len(local) > 64 or "." not in domain:
        return False
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return False
    for ch in text:
        if ord(ch) <= 32 or ord(ch) == 127 or ch in "<>()[],;:\\\"":
            return False
    return True


def is_date_time(text):
    # UTC only, second precision: 2027-01-31T23:59:59Z
    if len(text) != 20:
        return False
    for i in range(20):
        ch = text[i]
        want = "-" if i in (4, 7) else "T" if i == 10 else ":" if i in (13, 16) else \
            "Z" if i == 19 else "digit"
        if want == "digit":
            if ch < "0" or ch > "9":
                return False
        elif ch != want:
            return False
    month, day = int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60


def _compiled(pattern):
    rx = _patterns.get(pattern)
    if rx is None:
        rx = re.compile(pattern)
        _patterns[pattern] = rx
    return rx


def resolve(schema, root):
    """Follow $ref links (into root's components.schemas) to a concrete schema."""
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
            raise SchemaError("unsupported $ref %r (only %sNAME)" % (ref, REF_PREFIX))
        name = ref[len(REF_PREFIX):]
        try:
            schema = root["components"]["schemas"][name]
        except (KeyError, TypeError):
            raise SchemaError("$ref %r points nowhere" % ref)
        seen += 1
        if seen > 32:
            raise SchemaError("$ref loop at %r" % ref)
    return schema


def validate(schema, value, root=None, where="body"):
    """Errors of `value` against `schema` as "where: what" strings; [] if valid."""
    errors = []
    _validate(schema, value, root, where, errors)
    return errors


def _validate(schema, value, root, where, errors):
    schema = resolve(schema, root)
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        ok = False
        for name in names:
            if _type_ok(name, value):
                ok = True
                break
        if not ok:
            errors.append("%s: expected %s, got %s" % (where, " or ".join(names), _type_name(value)))
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %s is not one of %s" % (where, _short(value), _short(schema["enum"])))
        return
    if isinstance(value, str):
        _check_string(schema, value, where, errors)
    elif isinstance(value, (int, float)) and not (value is True or value is False):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %s is below the minimum %s" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %s is above the maximum %s" % (where, value, schema["maximum"]))
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append("%s: %d items, at least %d needed" % (where, len(value), schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: %d items, at most %d allowed" % (where, len(value), schema["maxItems"]))
        if "items" in schema:
            for i in range(len(value)):
                _validate(schema["items"], value[i], root, "%s[%d]" % (where, i), errors)
    elif isinstance(value, dict):
        _check_object(schema, value, root, where, errors)


def _check_string(schema, value, where, errors):
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append("%s: shorter than %d characters" % (where, schema["minLength"]))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append("%s: longer than %d characters" % (where, schema["maxLength"]))
    if "pattern" in schema:
        # The pattern is anchored with ^...$ (check_schema enforces it), so
        # match() means the whole string matched.
        if _compiled(schema["pattern"]).match(value) is None:
            errors.append("%s: does not match the pattern %s" % (where, schema["pattern"]))
    fmt = schema.get("format")
    if fmt == "email" and not is_email(value):
        errors.append("%s: not an email address" % where)
    elif fmt == "date-time" and not is_date_time(value):
        errors.append("%s: not a UTC time like 2027-01-31T23:59:59Z" % where)


def _check_object(schema, value, root, where, errors):
    props = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            errors.append("%s: missing required field %r" % (where, name))
    extra = schema.get("additionalProperties", True)
    for name in sorted(value):
        sub = "%s.%s" % (where, name)
        if name in props:
            _validate(props[name], value[name], root, sub, errors)
        elif extra is False:
            errors.append("%s: unknown field %r is not allowed" % (where, name))
        elif isinstance(extra, dict):
            _validate(extra, value[name], root, sub, errors)


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_schema(schema, root=None, where="schema"):
    """Problems with the schema itself: unknown keywords, bad types, bad refs.

    Returns a list of strings; [] means every keyword used is enforced.
    """
    problems = []
    _check(schema, root, where, problems, 0)
    return problems


def _check(schema, root, where, problems, depth):
    if depth > 64:
        problems.append("%s: nested too deeply" % where)
        return
    if not isinstance(schema, dict):
        problems.append("%s: a schema must be an object" % where)
        return
    for key in schema:
        if key not in KEYWORDS and key not in ANNOTATIONS:
            problems.append("%s: keyword %r is not supported by core/apischema.py" % (where, key))
    if "$ref" in schema:
        if len([k for k in schema if k not in ANNOTATIONS]) != 1:
            problems.append("%s: $ref must stand alone" % where)
        try:
            resolve(schema, root)
        except SchemaError as e:
            problems.append("%s: %s" % (where, e))
        return
    types = schema.get("type")
    if types is not None:
        for name in (types if isinstance(types, list) else [types]):
            if name not in TYPES:
                problems.append("%s: unknown type %r" % (where, name))
    if "format" in schema and schema["format"] not in FORMATS:
        problems.append("%s: format %r is not supported" % (where, schema["format"]))
    if "pattern" in schema:
        pat = schema["pattern"]
        if not (isinstance(pat, str) and pat.startswith("^") and pat.endswith("$")):
            problems.append("%s: pattern must be anchored with ^ and $" % where)
        elif "{" in pat:
            problems.append("%s: pattern uses counted repetition, which MicroPython lacks; "
                            "use minLength/maxLength" % where)
        else:
            try:
                re.compile(pat)
            except Exception:
                problems.append("%s: pattern does not compile" % where)
    if "additionalProperties" in schema and schema["additionalProperties"] is not False:
        extra = schema["additionalProperties"]
        if isinstance(extra, dict):
            _check(extra, root, where + ".additionalProperties", problems, depth + 1)
        else:
            problems.append("%s: additionalProperties must be false or a schema" % where)
    props = schema.get("properties", {})
    for name in props:
        _check(props[name], root, "%s.properties.%s" % (where, name), problems, depth + 1)
    for name in schema.get("required", ()):
        if name not in props:
            problems.append("%s: required field %r has no property schema" % (where, name))
    if "items" in schema:
        _check(schema["items"], root, where + ".items", problems, depth + 1)
