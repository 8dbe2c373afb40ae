"""Reading provider/openapi.yaml and finding an operation's schemas in it.

Owns: loading the API document (JSON subset of YAML with full-line `#`
comments, read with json so the router needs no YAML parser), looking up an
operation by method and path, and validating a request or response body
against it with core/apischema.py. Shared by the router's client
(client.py) and the lab's reference service (lab/provider_service.py), so
both sides enforce the same document. Keep openapi.yaml in the JSON subset:
a test loads it with both this reader and a line check.
"""

import json
import os

from vpnspot_router.core import apischema

SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.yaml")
JSON_TYPE = "application/json"


class SpecError(Exception):
    """openapi.yaml is unreadable or uses something the validator lacks."""


def parse(text):
    """The API document from its text: full-line comments dropped, rest is JSON.

    A JSON string cannot span lines, so a line whose first non-blank
    character is # can only be a comment.
    """
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    try:
        return json.loads("\n".join(lines))
    except ValueError as e:
        raise SpecError("openapi.yaml is not in the JSON subset of YAML: %s" % e)


class Spec:
    def __init__(self, doc):
        self.doc = doc
        self.paths = doc.get("paths", {})

    def operation(self, method, path):
        """The operation object for METHOD PATH, or None if the API has none."""
        item = self.paths.get(path)
        if item is None:
            return None
        return item.get(method.lower())

    def allowed_methods(self, path):
        item = self.paths.get(path) or {}
        return sorted(m.upper() for m in item if m in ("get", "put", "post", "delete", "patch"))

    def request_schema(self, op):
        body = op.get("requestBody")
        if body is None:
            return None
        return body["content"][JSON_TYPE]["schema"]

    def response_schema(self, op, status):
        responses = op.get("responses", {})
        resp = responses.get(str(status)) or responses.get("default")
        if resp is None:
            return None
        content = resp.get("content") or {}
        media = content.get(JSON_TYPE)
        return media["schema"] if media else None

    def documented_statuses(self, op):
        return sorted(int(s) for s in op.get("responses", {}) if s.isdigit())

    def validate(self, schema, value, where="body"):
        return apischema.validate(schema, value, self.doc, where)

    def problems(self):
        """Everything in the document the validator would not enforce."""
        out = []
        schemas = self.doc.get("components", {}).get("schemas", {})
        for name in sorted(schemas):
            out += apischema.check_schema(schemas[name], self.doc, "components.schemas." + name)
        for path in sorted(self.paths):
            for method in self.allowed_methods(path):
                op = self.operation(method, path)
                where = "%s %s" % (method, path)
                req = self.request_schema(op)
                if req is not None:
                    out += apischema.check_schema(req, self.doc, where + " request")
                for status in op.get("responses", {}):
                    schema = self.response_schema(op, status)
                    if schema is not None:
                        out += apischema.check_schema(schema, self.doc, "%s %s" % (where, status))
                for param in op.get("parameters", ()):
                    out += apischema.check_schema(param["schema"], self.doc,
                                                  "%s header %s" % (where, param["name"]))
        return out


_loaded = None


def load(path=None):
    """The packaged API document (cached), or the one at `path`."""
    global _loaded
    if path is None and _loaded is not None:
        return _loaded
    try:
        with open(path or SPEC_PATH, encoding="utf-8") as f:
            spec = Spec(parse(f.read()))
    except OSError as e:
        raise SpecError("cannot read the API document %s: %s" % (path or SPEC_PATH, e.strerror))
    if path is None:
        _loaded = spec
    return spec
