"""Forced outcomes chosen by the caller, so a test can reach every error deterministically.

`X-Mock-Scenario: <name>` picks a failure from the catalogue by name;
`Prefer: code=<status>` (as in Stoplight Prism) picks the usual failure for a
status. `success` and `code=200` ask for the normal path.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from mockserver.errors import BY_STATUS, CATALOGUE

SCENARIO_HEADER = "x-mock-scenario"
SUCCESS = "success"


class UnknownScenario(ValueError):
    """The header names no known scenario; the message lists the ones there are."""


def forced_failure(headers: Headers) -> str | None:
    """The catalogue name the caller forces, or None for the normal path."""
    name = headers.get(SCENARIO_HEADER)
    if name is not None:
        name = name.strip().lower()
        if name == SUCCESS:
            return None
        if name not in CATALOGUE:
            known = ", ".join([SUCCESS, *CATALOGUE])
            raise UnknownScenario(f"Unknown X-Mock-Scenario {name!r}; known scenarios: {known}")
        return name
    code = _preferred_code(headers.get("prefer", ""))
    if code is None or 200 <= code < 300:
        return None
    if code not in BY_STATUS:
        codes = ", ".join(str(c) for c in sorted({200, *BY_STATUS}))
        raise UnknownScenario(f"Prefer: code={code} is not an outcome this API has; use {codes}")
    return BY_STATUS[code]


def _preferred_code(prefer: str) -> int | None:
    for part in prefer.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "code":
            value = value.strip().strip('"')
            if not value.isdigit():
                raise UnknownScenario(f"Prefer: code={value!r} is not a status code")
            return int(value)
    return None
