"""Request-body validation against a spec's schema, with messages that name field and rule.

One validator for both specs: the API's bodies (`openapi.yaml`) and the control
plane's (`control-plane.yaml`). jsonschema-rs does the validating (the 400 path
is a hot path: a tenth of the pure-Python validator's cost); the messages are
ours, built from the failing keyword and the schema's value for it.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from typing import Any

import jsonschema_rs

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}
# No body of either spec nests deeper than a few levels; the cap keeps every later
# recursive step (schema checks, messages, the journal) far from Python's recursion limit.
MAX_DEPTH = 32
# Far beyond any field's range (seeds are 31 bits); longer digit strings are refused
# before Python's int-from-string limit (4300 digits) can raise.
MAX_INTEGER_DIGITS = 40
_TOO_DEEP = f"Invalid JSON body: nested more than {MAX_DEPTH} levels deep"
# Short bodies refused lately, by their bytes: a client stuck sending one bad request (a
# retry loop, a load test) is refused from memory. Long bodies (data URIs) and long
# messages (a body with many breaches) are not kept: at most 256 x 8 KB a validator.
REFUSALS_KEPT = 256
REFUSAL_BODY_BYTES = 4096


class RequestInvalid(Exception):
    """The body breaks the contract; `str()` is the message the client sees."""


def parse_json(raw: bytes) -> Any:
    """JSON as the API accepts it: UTF-8, finite numbers only, at most `MAX_DEPTH` deep.

    Raises `RequestInvalid` for anything else, never another exception.
    """
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except RecursionError:
        raise RequestInvalid(_TOO_DEEP) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RequestInvalid) as exc:
        raise RequestInvalid(f"Invalid JSON body: {exc}") from None
    # Deeper nesting needs more brackets than the limit: most bodies are not walked at all.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth_over(value, MAX_DEPTH):
        raise RequestInvalid(_TOO_DEEP)
    return value


class RequestValidator:
    def __init__(self, schema: dict[str, Any]) -> None:
        jsonschema_rs.meta.validate(schema)
        self.schema = schema
        self._validator = jsonschema_rs.Draft202012Validator(schema)
        self._properties: dict[str, Any] = schema.get("properties", {})
        self._defaults = {
            name: spec["default"] for name, spec in self._properties.items() if "default" in spec
        }
        # Only a list or an object as a default must be copied for each body.
        self._shared_defaults = not any(
            isinstance(value, (dict, list)) for value in self._defaults.values()
        )
        self._integers = [
            name for name, spec in self._properties.items() if "integer" in _types(spec)
        ]
        # The 400 path is hot: what a message takes from the schema alone is worked out
        # once. Keyed by schema path, and by the id of a node of `schema` (held as long
        # as this validator, so the id stays its own).
        self._nodes: dict[tuple[str | int, ...], dict[str, Any]] = {}
        self._enum_texts: dict[int, str] = {}
        self._refusals: dict[bytes, str] = {}
        self._refusals_lock = threading.Lock()

    def parse(self, raw: bytes) -> dict[str, Any]:
        """Decode, validate and fill defaults; raise `RequestInvalid` on any breach."""
        short = len(raw) <= REFUSAL_BODY_BYTES and type(raw) is bytes  # hashable
        refusal = self._refusals.get(raw) if short else None
        if refusal is not None:
            raise RequestInvalid(refusal)
        try:
            return self.validate(parse_json(raw))
        except RequestInvalid as exc:
            if short and len(message := str(exc)) <= REFUSAL_BODY_BYTES:
                self._keep_refusal(raw, message)
            raise

    def _keep_refusal(self, raw: bytes, message: str) -> None:
        with self._refusals_lock:  # validators are shared by apps on other threads
            if len(self._refusals) >= REFUSALS_KEPT:
                del self._refusals[next(iter(self._refusals))]
            self._refusals[raw] = message

    def validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RequestInvalid(f"Request body must be a JSON object (got {_json_type(body)})")
        try:
            valid = self._validator.is_valid(body)
        except (ValueError, OverflowError):
            valid = False
        if not valid:
            raise RequestInvalid(self._describe_all(body))
        defaults = self._defaults if self._shared_defaults else copy.deepcopy(self._defaults)
        params = {**defaults, **body}
        for name in self._integers:
            if isinstance(params.get(name), float):
                params[name] = int(params[name])
        return params

    def _describe_all(self, body: dict[str, Any]) -> str:
        """One message per field, the type breach first: other keywords only echo it."""
        breaches: dict[str, tuple[str, dict[str, Any], Any]] = {}
        try:
            errors = list(self._validator.iter_errors(body))
        except (ValueError, OverflowError) as exc:  # e.g. an integer beyond 64 bits
            return f"Invalid JSON body: {exc}"
        for error in errors:
            keyword = str(error.schema_path[-1])
            field = ".".join(str(part) for part in error.instance_path) or "body"
            if keyword == "required":
                assert isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required)
                field = error.kind.property
            elif keyword == "additionalProperties" and isinstance(error.instance, dict):
                allowed = set(self._node(error.schema_path[:-1]).get("properties", {}))
                unknown = sorted(set(error.instance) - allowed)
                field = ".".join(filter(None, [field if field != "body" else "", unknown[0]]))
            if field not in breaches or keyword == "type":
                breaches[field] = (keyword, self._node(error.schema_path[:-1]), error.instance)
        return "; ".join(
            self.describe(field, keyword, got, spec)
            for field, (keyword, spec, got) in sorted(breaches.items())
        )

    def describe(
        self, field: str, keyword: str, got: Any, spec: dict[str, Any] | None = None
    ) -> str:
        """One sentence a developer can act on: which field, which rule, what was sent."""
        if keyword == "required":
            return f"Missing required parameter '{field}'"
        if keyword == "additionalProperties":
            return f"Unknown parameter '{field}'"
        spec = self._properties.get(field, self.schema) if spec is None else spec
        rule = spec.get(keyword)
        prefix = f"Invalid parameter '{field}': "
        if keyword == "type":
            expected = " or ".join(_types(spec))
            return prefix + f"must be of type {expected} (got {_json_type(got)})"
        if keyword == "enum":
            return prefix + f"must be one of {self._enum_text(spec)} (got {_short(got)})"
        if keyword in ("oneOf", "anyOf"):
            return prefix + f"must be {_expected(spec)} (got {_short(got)})"
        if keyword == "maxLength":
            return prefix + f"must be at most {rule} characters (got {len(got)})"
        if keyword == "minLength":
            return prefix + f"must be at least {rule} characters (got {len(got)})"
        if keyword == "maximum":
            return prefix + f"must be at most {rule} (got {_short(got)})"
        if keyword == "minimum":
            return prefix + f"must be at least {rule} (got {_short(got)})"
        if keyword == "pattern" and spec.get("format") == "uri":
            return prefix + "must be an http(s) URL or a base64 data URI" + _uri_hint(got)
        return prefix + f"breaks the contract's '{keyword}' rule (got {_short(got)})"

    def _node(self, path: list[str | int]) -> dict[str, Any]:
        key = tuple(path)
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = _node(self.schema, path)
        return node

    def _enum_text(self, spec: dict[str, Any]) -> str:
        text = self._enum_texts.get(id(spec))
        if text is None:
            text = self._enum_texts[id(spec)] = _enum_text(spec)
        return text


def _uri_hint(got: Any) -> str:
    """What the contract's media pattern asks of the form that was sent."""
    if not isinstance(got, str):
        return ""
    if got.startswith("data:"):
        return " (data:<type>/<subtype>;base64, then padded base64 with no whitespace)"
    if got.startswith(("http://", "https://")):
        return (
            " (a host name of letters, digits and inner hyphens, or an IP address, an optional"
            " port, then a path with no spaces, control characters or malformed %-escapes)"
        )
    return ""


def _refuse_constant(name: str) -> Any:
    raise RequestInvalid(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RequestInvalid(f"the number {_short(text, 20)} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise RequestInvalid(f"an integer of {len(text.lstrip('-'))} digits is out of range")
    return int(text)


_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
)


def _depth_over(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative: safe at any depth)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _node(schema: dict[str, Any], path: Any) -> dict[str, Any]:
    """The sub-schema at a jsonschema-rs schema path."""
    node: Any = schema
    for part in path:
        node = node[part]
    return node if isinstance(node, dict) else {}


def _expected(spec: dict[str, Any]) -> str:
    """What a schema accepts, in words: `a string or an integer >= 0`."""
    alternatives = spec.get("oneOf") or spec.get("anyOf")
    if alternatives:
        return " or ".join(_expected(option) for option in alternatives)
    if "enum" in spec:
        return f"one of {_enum_text(spec)}"
    words = " or ".join(_types(spec)) or "any value"
    if "minimum" in spec:
        words += f" >= {spec['minimum']}"
    if "maximum" in spec:
        words += f" <= {spec['maximum']}"
    return words


def _enum_text(spec: dict[str, Any]) -> str:
    return ", ".join(json.dumps(v) for v in spec["enum"])


def _types(spec: dict[str, Any]) -> list[str]:
    declared = spec.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    if type(value) is int:  # the common case, as json.dumps writes it (a bool is not one)
        text = str(value)
    else:
        text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
