"""The request journal: what each API request was, and what the emulator did with it.

A pure ASGI middleware (no BaseHTTPMiddleware: it would buffer every MP4) that
records method, path, headers with secrets redacted, the start of the body,
status, timing; handlers add the outcome and the charge through
`scope["state"]["journal_entry"]`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wan26.mockserver.access import mask

BODY_LIMIT = 4096
ERROR_LIMIT = 1024  # of an error answer's body, for its message
SECRET_HEADERS = {"x-api-key", "x-mock-token", "authorization"}
CONTROL_PREFIX = "/_mock"
_DATA_URI = re.compile(r"(data:[\w.+/-]+;base64,)[A-Za-z0-9+/=\s]{16,}")


class Journal:
    def __init__(self, size: int) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=max(1, size))
        self._ids = itertools.count(1)

    def start(self, scope: Scope) -> dict[str, Any]:
        """A raw entry: headers and body are put in readable form only when listed."""
        entry = {
            "id": next(self._ids),
            "at": time.time(),
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b""),
            "headers": scope.get("headers", []),
            "body": b"",
            "status": None,
            "duration_ms": None,
            "outcome": None,
            "charged_usd": 0.0,
            "answer": b"",
        }
        self.entries.append(entry)
        return entry

    def find(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        key: str | None = None,
        outcome: str | None = None,
        charged: bool | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Matching entries, oldest first, in readable form with secrets redacted.

        Walks newest first, so the last `limit` of a long journal cost only what they hold.
        """
        wanted_key = mask(key) if key else None
        found = []
        for view in map(_readable, reversed(self.entries)):
            if (
                (method is None or view["method"] == method.upper())
                and (path is None or view["path"].startswith(path))
                and (status is None or view["status"] == status)
                and (wanted_key is None or view["key"] == wanted_key)
                and (outcome is None or view["outcome"] == outcome)
                and (charged is None or (view["charged_usd"] > 0) == charged)
            ):
                found.append(view)
                if limit and len(found) == limit:
                    break
        found.reverse()
        return found

    def clear(self) -> None:
        self.entries.clear()


class JournalMiddleware:
    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        entry = self.journal.start(scope)
        scope.setdefault("state", {})["journal_entry"] = entry
        started = time.perf_counter()
        captured = bytearray()
        answer = bytearray()

        async def receive_and_record() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(captured) < BODY_LIMIT:
                captured.extend(message.get("body", b"")[: BODY_LIMIT - len(captured)])
            return message

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            elif entry["status"] >= 400 and len(answer) < ERROR_LIMIT:
                answer.extend(message.get("body", b"")[: ERROR_LIMIT - len(answer)])
            await send(message)

        try:
            await self.app(scope, receive_and_record, send_and_record)
        finally:
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            entry["body"] = bytes(captured)
            entry["answer"] = bytes(answer)


def _readable(entry: dict[str, Any]) -> dict[str, Any]:
    readable = {name: value for name, value in entry.items() if name != "answer"}
    headers = {}
    for raw_name, raw_value in entry["headers"]:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        headers[name] = mask(value) if name in SECRET_HEADERS else value
    return {
        **readable,
        "at": datetime.fromtimestamp(entry["at"], UTC).isoformat(timespec="milliseconds"),
        "query": entry["query"].decode("latin-1"),
        "headers": headers,
        "key": headers.get("x-api-key"),
        "body": _DATA_URI.sub(r"\1<elided>", entry["body"].decode("utf-8", errors="replace")),
        "error": _error_message(entry["answer"]),
    }


def _error_message(answer: bytes) -> str | None:
    """The `error` of a JSON error answer, else the start of its text (the 405 is HTML)."""
    if not answer:
        return None
    text = answer.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    return str(body.get("error")) if isinstance(body, dict) and "error" in body else text[:200]
