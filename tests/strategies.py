"""Hypothesis strategies built from the contract's request schema, not from a second copy.

`valid_bodies()` draws bodies inside every rule; `invalid_bodies()` takes a valid
body and breaks exactly one rule the schema states (type, enum, maxLength,
minimum, maximum, pattern, required).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from wan26.contracts.core.spec import default_contract

OPERATION = default_contract().models()["wan-2.6-i2v"]
SCHEMA = OPERATION.request_schema
PROPERTIES = OPERATION.properties
IMAGE = "https://example.com/wan26/input.png"  # offline: the 16:9 stand-in, 1280x720 at 720p
_JSON_VALUES = {
    "string": st.text(max_size=5),
    "integer": st.integers(-5, 5),
    "number": st.floats(0.1, 9.9).filter(lambda f: not f.is_integer()),
    "boolean": st.booleans(),
    "null": st.none(),
    "array": st.lists(st.integers(), max_size=2),
    "object": st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
}


def _types(spec: dict[str, Any]) -> list[str]:
    declared = spec.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def value_for(name: str, spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value that keeps every rule the schema gives the property."""
    if name == "image":
        return st.just(IMAGE)
    if name == "audio":
        return st.none()
    choices = []
    if "null" in _types(spec):
        choices.append(st.none())
    if "enum" in spec:
        choices.append(st.sampled_from(spec["enum"]))
    elif "integer" in _types(spec):
        choices.append(st.integers(spec.get("minimum", -(2**31)), spec.get("maximum", 2**31)))
    elif "boolean" in _types(spec):
        choices.append(st.booleans())
    elif "string" in _types(spec):
        limit = spec.get("maxLength", 200)
        choices.append(st.one_of(st.text(max_size=40), st.text(min_size=limit, max_size=limit)))
    return st.one_of(choices)


@st.composite
def valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = {}
    for name, spec in PROPERTIES.items():
        if name in SCHEMA["required"] or draw(st.booleans()):
            body[name] = draw(value_for(name, spec))
    return body


def breaches(name: str, spec: dict[str, Any]) -> list[st.SearchStrategy[Any]]:
    """Values that break one rule of the property each."""
    allowed = set(_types(spec))
    wrong_types = [
        t for t in _JSON_VALUES if t not in allowed and not (t == "integer" and "number" in allowed)
    ]
    found = [_JSON_VALUES[t] for t in wrong_types]
    if "enum" in spec:
        if "integer" in allowed:
            found.append(st.integers(-100, 100).filter(lambda v: v not in spec["enum"]))
        else:
            found.append(st.text(max_size=6).filter(lambda v: v not in spec["enum"]))
    if "maxLength" in spec:
        limit = spec["maxLength"]
        found.append(st.text(min_size=limit + 1, max_size=limit + 20))
    if "minimum" in spec:
        found.append(st.integers(spec["minimum"] - 1000, spec["minimum"] - 1))
    if "maximum" in spec:
        found.append(st.integers(spec["maximum"] + 1, spec["maximum"] + 1000))
    if "pattern" in spec:
        malformed = ["ftp://host/file.png", "not a url", "data:image/png,raw", "http://%zz"]
        malformed += ["http://[", "https://exa<mple>.com/x", "data:image/png;base64,AA\vAA"]
        found.append(st.sampled_from(malformed))
    return found


@st.composite
def invalid_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A body that breaks one rule, and the name of the field that breaks it."""
    body = draw(valid_bodies())
    name = draw(st.sampled_from(sorted(PROPERTIES)))
    choice = draw(st.integers(0, 9))
    if name in SCHEMA["required"] and choice == 0:
        del body[name]
        return body, name
    body[name] = draw(st.one_of(breaches(name, PROPERTIES[name])))
    return body, name
