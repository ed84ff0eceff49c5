"""Which recording answers a request: the fingerprint rule, and why a request missed.

A request is described by its method, path, query, auth class (no key / a valid
key / a refused key: never the key itself), content type and body. A model
call's body has the contract's defaults filled, so omitting a default and
sending it are the same call; media in data URIs count by the SHA-256 of their
bytes, URLs by the URL. The fingerprint is the SHA-256 of that description.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
from typing import Any

from wan26.contracts.core.validation import RequestInvalid, RequestValidator

AUTH_CLASSES = ("absent", "valid", "invalid")
# The API's paths as the cassette sees them: a model call (`/v1/<slug>`, `/v2/<slug>`,
# version and slug captured) and a poll of a v2 job (its id captured, and `/status`).
MODEL_CALL = re.compile(r"^/v([12])/([^/]+)$")
POLL = re.compile(r"^/v[12]/requests/([^/]+?)(/status)?$")


def describe(
    method: str,
    path: str,
    query: str,
    auth: str,
    content_type: str | None,
    raw: bytes,
    validator: RequestValidator | None,
) -> dict[str, Any]:
    """What a request is, for matching: plain JSON, no key, no media bytes."""
    media_type = content_type.split(";", 1)[0].strip().lower() if content_type else None
    return {
        "method": method,
        "path": path,
        "query": query,
        "auth": auth,
        "content_type": media_type,
        "body": normalized_body(raw, validator),
    }


def call_fingerprint(
    method: str, path: str, query: str, content_type: str | None, params: dict[str, Any]
) -> str:
    """The fingerprint of a model call the emulator admitted (so its key was valid), from
    its parameters as validated, defaults filled: what `describe` gives for its raw body."""
    description = describe(method, path, query, "valid", content_type, b"", None)
    description["body"] = _media_by_hash(params)
    return fingerprint(description)


def normalized_body(raw: bytes, validator: RequestValidator | None) -> Any:
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return {"sha256": hashlib.sha256(raw).hexdigest()}
    if validator is not None:
        # A body the contract refuses is matched as sent.
        with contextlib.suppress(RequestInvalid):
            body = validator.validate(body)
    return _media_by_hash(body)


def _media_by_hash(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _media_by_hash(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_media_by_hash(item) for item in value]
    if isinstance(value, str) and value.startswith("data:") and "," in value:
        payload = value.split(",", 1)[1]
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            data = payload.encode()
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return value


def fingerprint(description: dict[str, Any]) -> str:
    canonical = json.dumps(description, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def differences(sent: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """How a recorded request differs from a sent one, field by field."""
    found = [
        f"{name}: recorded {recorded.get(name)!r}, sent {sent.get(name)!r}"
        for name in ("method", "path", "query", "auth", "content_type")
        if sent.get(name) != recorded.get(name)
    ]
    mine, theirs = sent.get("body"), recorded.get("body")
    if isinstance(mine, dict) and isinstance(theirs, dict):
        found += [
            f"body.{name}: recorded {_short(theirs.get(name))}, sent {_short(mine.get(name))}"
            for name in sorted(set(mine) | set(theirs))
            if mine.get(name) != theirs.get(name)
        ]
    elif mine != theirs:
        found.append(f"body: recorded {_short(theirs)}, sent {_short(mine)}")
    return found


def explain_miss(sent: dict[str, Any], recorded: list[dict[str, Any]]) -> dict[str, Any]:
    """The fingerprint, the nearest recording and what differs from it."""
    miss: dict[str, Any] = {"fingerprint": fingerprint(sent), "nearest": None, "differs": []}
    if recorded:
        nearest = min(recorded, key=lambda request: len(differences(sent, request)))
        miss["nearest"] = fingerprint(nearest)
        miss["differs"] = differences(sent, nearest)
    return miss


def miss_message(miss: dict[str, Any]) -> str:
    text = f"No recording matches this call (fingerprint {miss['fingerprint']})"
    if miss["nearest"] is None:
        return text + "; the cassette is empty"
    return text + f"; nearest recording {miss['nearest']} differs in " + "; ".join(miss["differs"])


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
