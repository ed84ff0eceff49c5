"""Request-body validation against the contract's schema, with messages that name field and rule."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from mockserver.contract import ModelOperation

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
        Draft202012Validator.check_schema(operation.request_schema)
        self._validator = Draft202012Validator(operation.request_schema)
        self._defaults = operation.defaults()

    def parse(self, raw: bytes) -> dict[str, Any]:
        """Decode, validate and fill defaults; raise `RequestInvalid` on any breach."""
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestInvalid(f"Invalid JSON body: {exc}") from None
        return self.validate(body)

    def validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RequestInvalid(f"Request body must be a JSON object (got {_json_type(body)})")
        errors = sorted(self._validator.iter_errors(body), key=_error_order)
        if errors:
            seen: set[str] = set()
            messages = []
            for error in errors:
                field = _field_of(error)
                if field not in seen:
                    seen.add(field)
                    messages.append(describe(error))
            raise RequestInvalid("; ".join(messages))
        params = {**self._defaults, **body}
        for name, spec in self.operation.properties.items():
            if spec.get("type") == "integer" and isinstance(params.get(name), float):
                params[name] = int(params[name])
        return params


def describe(error: ValidationError) -> str:
    """One sentence a developer can act on: which field, which rule, what was sent."""
    field = _field_of(error)
    rule = error.validator
    value = error.validator_value
    got = error.instance
    if rule == "required":
        missing = ", ".join(f"'{name}'" for name in value if name not in got)
        return f"Missing required parameter {missing}"
    prefix = f"Invalid parameter '{field}': "
    if rule == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        return prefix + f"must be of type {expected} (got {_json_type(got)})"
    if rule == "enum":
        allowed = ", ".join(json.dumps(v) for v in value)
        return prefix + f"must be one of {allowed} (got {_short(got)})"
    if rule == "maxLength":
        return prefix + f"must be at most {value} characters (got {len(got)})"
    if rule == "minLength":
        return prefix + f"must be at least {value} characters (got {len(got)})"
    if rule == "maximum":
        return prefix + f"must be at most {value} (got {_short(got)})"
    if rule == "minimum":
        return prefix + f"must be at least {value} (got {_short(got)})"
    if rule == "pattern" and error.schema.get("format") == "uri":
        return prefix + "must be an http(s) URL or a base64 data URI"
    return prefix + error.message


def _field_of(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "body"


def _error_order(error: ValidationError) -> tuple[str, int]:
    # "type" first: for a wrong type the other keywords only echo it.
    return _field_of(error), 0 if error.validator == "type" else 1


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
