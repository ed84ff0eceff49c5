"""The request journal: what each API request was, and what the emulator did with it.

A pure ASGI middleware (no BaseHTTPMiddleware: it would buffer every MP4) that
records method, path, headers with secrets redacted, the body with data-URI
payloads elided (see elide.py), status, the `error` message of a failed answer
and timing. The entry is a `JournalEntry` on the request's state
(`scope["state"]["journal_entry"]`, read with `entry_of`); handlers set what they
decide on it (the forced outcome, the charge, the cassette's answer).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wan26.mockserver.access import mask
from wan26.mockserver.elide import ElidedBody
from wan26.mockserver.records import JournalEntry as JournalEntry
from wan26.mockserver.store.base import StoreUnavailable

if TYPE_CHECKING:
    from wan26.mockserver.store.base import Store

SECRET_HEADERS = {"x-api-key", "x-mock-token", "authorization"}
CONTROL_PREFIX = "/_mock"
ERROR_BODY_LIMIT = 16 * 1024  # error answers are short; a longer one is not read for `error`


def entry_of(scope: Scope) -> JournalEntry | None:
    """This request's journal entry; None where the journal does not look (`/_mock`)."""
    entry = scope.get("state", {}).get("journal_entry")
    return entry if isinstance(entry, JournalEntry) else None


def find_entries(
    entries: list[JournalEntry],
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
    for view in map(_readable, reversed(entries)):
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


class JournalMiddleware:
    """Keeps an entry in the store when a request arrives and again when it is answered.
    A store that cannot be reached does not stop the request: the API answers it (a 503)
    and the journal misses it."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        entry = JournalEntry(
            id=0,
            at=time.time(),
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b""),
            headers=list(scope.get("headers", [])),
        )
        try:
            await self.store.journal_start(entry)
        except StoreUnavailable:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["journal_entry"] = entry
        started = time.perf_counter()
        body = ElidedBody()
        answer: bytearray | None = None  # the body of a 4xx or 5xx answer

        async def receive_and_record() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.feed(message.get("body", b""))
            return message

        async def send_and_record(message: Message) -> None:
            nonlocal answer
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                answer = bytearray() if message["status"] >= 400 else None
            elif message["type"] == "http.response.body" and answer is not None:
                answer.extend(message.get("body", b"")[: ERROR_BODY_LIMIT + 1 - len(answer)])
            await send(message)

        try:
            await self.app(scope, receive_and_record, send_and_record)
        finally:
            entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            entry.body = body.text()
            entry.error = _error_message(answer)
            with contextlib.suppress(StoreUnavailable):
                leaving = sys.exc_info()[1]
                if leaving is not None and not isinstance(leaving, Exception):
                    # Cancelled (its client left): still journaled, shielded so the store's
                    # write completes (only then: a cancel scope would cost every request).
                    with anyio.CancelScope(shield=True):
                        await self.store.journal_finish(entry)
                else:
                    await self.store.journal_finish(entry)


def _readable(entry: JournalEntry) -> dict[str, Any]:
    headers = {}
    for raw_name, raw_value in entry.headers:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        headers[name] = mask(value) if name in SECRET_HEADERS else value
    return {
        **{f.name: getattr(entry, f.name) for f in fields(entry)},
        "at": datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="milliseconds"),
        "query": entry.query.decode("latin-1"),
        "headers": headers,
        "key": headers.get("x-api-key"),
    }


def _error_message(answer: bytearray | None) -> str | None:
    """The `{"error": ...}` message of a failed answer, else the start of its text (the
    gateway's 405 is HTML)."""
    if not answer or len(answer) > ERROR_BODY_LIMIT:
        return None
    text = answer.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    message = parsed.get("error") if isinstance(parsed, dict) else None
    return message if isinstance(message, str) else None
