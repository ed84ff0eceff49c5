"""What a replaying emulator learns from its cassette for the calls it has to emulate.

The real service's words for the failures whose message does not depend on
the call (no key, a refused key, a body that is not JSON) replace the
catalogue's guesses; the config's `messages` still win.
"""

from __future__ import annotations

from typing import Any

from wan26.mockserver.outcomes import Forced


def learned_messages(exchanges: list[dict[str, Any]]) -> dict[str, str]:
    """Catalogue overrides, by failure name, from the recorded error answers."""
    learned: dict[str, str] = {}
    for exchange in exchanges:
        request, response = exchange["request"], exchange["response"]
        body = response.get("json")
        name = _failure(request, response["status"])
        if name and isinstance(body, dict) and isinstance(body.get("error"), str):
            learned[name] = body["error"].replace("{", "{{").replace("}", "}}")
    return learned


def _failure(request: dict[str, Any], status: int) -> str | None:
    if status == 401:
        return Forced.MISSING_KEY if request["auth"] == "absent" else Forced.INVALID_KEY
    if status == 406 and request["content_type"] != "application/json":
        return Forced.INVALID_CONTENT_TYPE
    return None
