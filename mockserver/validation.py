"""Request-body validation against the contract's schema, with messages that name field and rule.

jsonschema-rs does the validating (the 400 path is a hot path: a tenth of the
pure-Python validator's cost); the messages are ours, built from the failing
keyword and the contract's value for it.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs

from wan26.mockserver.contract import ModelOperation

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


class RequestInvalid(Exception):
    """The body breaks the contract; `str()` is the message the client sees."""


class RequestValidator:
    def __init__(self, operation: ModelOperation) -> None:
        self.operation = operation
        jsonschema_rs.meta.validate(operation.request_schema)
        self._validator = jsonschema_rs.Draft202012Validator(operation.request_schema)
        self._defaults = operation.defaults()
        self._enum_text = {
            name: ", ".join(json.dumps(v) for v in spec["enum"])
            for name, spec in operation.properties.items()
            if "enum" in spec
        }
        self._integers = [
            name for name, spec in operation.properties.items() if "integer" in _types(spec)
        ]

    def parse(self, raw: bytes) -> dict[str, Any]:
        """Decode, validate and fill defaults; raise `RequestInvalid` on any breach."""
        try:
            body = _DECODER.decode(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RequestInvalid) as exc:
            raise RequestInvalid(f"Invalid JSON body: {exc}") from None
        return self.validate(body)

    def validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RequestInvalid(f"Request body must be a JSON object (got {_json_type(body)})")
        try:
            valid = self._validator.is_valid(body)
        except (ValueError, OverflowError):
            valid = False
        if not valid:
            raise RequestInvalid(self._describe_all(body))
        params = {**self._defaults, **body}
        for name in self._integers:
            if isinstance(params.get(name), float):
                params[name] = int(params[name])
        return params

    def _describe_all(self, body: dict[str, Any]) -> str:
        """One message per field, the type breach first: other keywords only echo it."""
        breaches: dict[str, tuple[str, Any]] = {}
        try:
            errors = list(self._validator.iter_errors(body))
        except (ValueError, OverflowError) as exc:  # e.g. an integer beyond 64 bits
            return f"Invalid JSON body: {exc}"
        for error in errors:
            keyword = error.schema_path[-1]
            field = str(error.instance_path[0]) if error.instance_path else "body"
            if keyword == "required":
                field = error.kind.property
            if field not in breaches or keyword == "type":
                breaches[field] = (keyword, error.instance)
        return "; ".join(
            self.describe(field, keyword, instance)
            for field, (keyword, instance) in sorted(breaches.items())
        )

    def describe(self, field: str, keyword: str, got: Any) -> str:
        """One sentence a developer can act on: which field, which rule, what was sent."""
        if keyword == "required":
            return f"Missing required parameter '{field}'"
        spec = self.operation.properties.get(field, self.operation.request_schema)
        rule = spec.get(keyword)
        prefix = f"Invalid parameter '{field}': "
        if keyword == "type":
            expected = " or ".join(_types(spec))
            return prefix + f"must be of type {expected} (got {_json_type(got)})"
        if keyword == "enum":
            return prefix + f"must be one of {self._enum_text[field]} (got {_short(got)})"
        if keyword == "maxLength":
            return prefix + f"must be at most {rule} characters (got {len(got)})"
        if keyword == "minLength":
            return prefix + f"must be at least {rule} characters (got {len(got)})"
        if keyword == "maximum":
            return prefix + f"must be at most {rule} (got {_short(got)})"
        if keyword == "minimum":
            return prefix + f"must be at least {rule} (got {_short(got)})"
        if keyword == "pattern" and spec.get("format") == "uri":
            return prefix + "must be an http(s) URL or a base64 data URI"
        return prefix + f"breaks the contract's '{keyword}' rule (got {_short(got)})"


def _refuse_constant(name: str) -> Any:
    raise RequestInvalid(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _types(spec: dict[str, Any]) -> list[str]:
    declared = spec.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
