"""The request journal: what each API request was, and what the emulator did with it.

A pure ASGI middleware (no BaseHTTPMiddleware: it would buffer every MP4) that
records method, path, headers with secrets masked, the body with data-URI
payloads elided (see elide.py), status, the response's headers (`x-cost`,
`x-remaining-credits`, `x-request-id`, ...), the `error` message of a failed answer
and timing. The entry is a `JournalEntry` on the request's state
(`scope["state"]["journal_entry"]`, read with `entry_of`); handlers set what they
decide on it (the forced outcome, the failure answered, the charge, an admitted
call's fingerprint and price, the cassette's answer).

An entry keeps at most `entry_bytes` of text (`control.journal_entry_bytes`): each
part past its share is cut, and `truncated` says how many bytes of which part were
left out, so the journal's size is bounded by its length times that. What later
readers need of the whole body (the report's duplicate check) is the fingerprint,
taken when the call is admitted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from wan26.contracts.core.access import SECRET_HEADERS, mask
from wan26.mockserver.core.records import JournalEntry as JournalEntry
from wan26.mockserver.http.asgi import ASGIApp, Message, Receive, Scope, Send
from wan26.mockserver.http.elide import ElidedBody
from wan26.mockserver.store.base import StoreUnavailable

if TYPE_CHECKING:
    from wan26.mockserver.store.base import Store

ERROR_BODY_LIMIT = 16 * 1024  # error answers are short; a longer one is not read for `error`
ENTRY_BYTES = 16 * 1024  # the default of `control.journal_entry_bytes`


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
    entry_id: int | None = None,
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
            and (entry_id is None or view["id"] == entry_id)
        ):
            found.append(view)
            if limit and len(found) == limit:
                break
    found.reverse()
    return found


class JournalMiddleware:
    """Keeps an entry in the store when a request arrives and again when it is answered
    (API requests only: `ApiOnly` keeps the control plane's away). A store that cannot be
    reached does not stop the request: the API answers it (a 503) and the journal misses it."""

    def __init__(self, app: ASGIApp, store: Store, entry_bytes: int = ENTRY_BYTES) -> None:
        self.app = app
        self.store = store
        shares = Shares(entry_bytes)
        # Read by every request: worked out once.
        self.part, self.header_bytes, self.body_bytes = shares.part, shares.headers, shares.body(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        part = self.part
        path, query, headers = scope["path"], scope.get("query_string", b""), scope["headers"]
        entry = JournalEntry(
            id=0, at=time.time(), method=scope["method"][:16], path=path, query=query, headers=[]
        )
        if len(path) > part:
            entry.path = _cut(entry, "path", path, part)
        if len(query) > part:
            entry.query = _cut(entry, "query", query, part)
        if type(headers) is not list:  # ASGI allows any iterable; servers send lists
            headers = list(headers)
        header_bytes = _size(headers)
        if header_bytes > self.header_bytes:
            headers, header_bytes = _kept_headers(entry, "headers", headers, self.header_bytes)
        entry.headers = headers
        try:
            await self.store.journal.start(entry)
        except StoreUnavailable:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["journal_entry"] = entry
        started = time.perf_counter()
        body = ElidedBody(
            max(0, self.body_bytes - len(entry.path) - len(entry.query) - header_bytes)
        )
        answer: bytearray | None = None  # the body of a 4xx or 5xx answer not yet described

        async def receive_and_record() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.feed(message.get("body", b""))
            return message

        async def send_and_record(message: Message) -> None:
            nonlocal answer
            if message["type"] == "http.response.start":
                entry.status = status = message["status"]
                answered = message.get("headers", [])
                if _size(answered) > part:
                    answered = _kept_headers(entry, "response_headers", answered, part)[0]
                entry.response_headers = answered
                # An answer made by `error_response` has noted its message already.
                answer = bytearray() if status >= 400 and entry.error is None else None
            elif answer is not None and message["type"] == "http.response.body":
                answer.extend(message.get("body", b"")[: ERROR_BODY_LIMIT + 1 - len(answer)])
            await send(message)

        try:
            await self.app(scope, receive_and_record, send_and_record)
        except BaseException as leaving:
            self._close(entry, started, body, answer)
            if isinstance(leaving, Exception):
                await self._finish(entry)
            else:
                # Cancelled (its client left): still journaled, shielded so the store's
                # write completes (only then: a cancel scope would cost every request).
                with anyio.CancelScope(shield=True):
                    await self._finish(entry)
            raise
        self._close(entry, started, body, answer)
        await self._finish(entry)

    def _close(
        self, entry: JournalEntry, started: float, body: ElidedBody, answer: bytearray | None
    ) -> None:
        entry.duration_ms = (time.perf_counter() - started) * 1000  # rounded when shown
        entry.body = body.text()
        if body.dropped:
            entry.truncated["body"] = body.dropped
        if answer is not None:
            entry.error = _error_message(answer)
        if entry.error is not None and len(entry.error) > self.part:
            entry.error = _cut(entry, "error", entry.error, self.part)
        if entry.cassette_miss:
            _bound_miss(entry, self.part)

    async def _finish(self, entry: JournalEntry) -> None:
        """(Not `contextlib.suppress`: three more calls on every request's path.)"""
        try:
            await self.store.journal.finish(entry)
        except StoreUnavailable:
            return  # the API answered; the journal misses this one


@dataclass(frozen=True)
class Shares:
    """How an entry's `entry_bytes` are shared: headers a quarter, path, query, error, a
    cassette miss and the response's headers a sixteenth each, 1 KB for the other fields,
    the body what is left."""

    entry_bytes: int

    @property
    def headers(self) -> int:
        return self.entry_bytes // 4

    @property
    def part(self) -> int:
        return self.entry_bytes // 16

    def body(self, taken: int) -> int:
        """What is left for the body once the request line and headers took `taken`."""
        return max(0, self.entry_bytes - 3 * self.part - 1024 - taken)


def _cut(entry: JournalEntry, part: str, value: Any, limit: int) -> Any:
    """`value` (text or bytes) cut to `limit`, the cut noted in `entry.truncated`."""
    if value is None or len(value) <= limit:
        return value
    entry.truncated[part] = len(value) - limit
    return value[:limit]


def _size(headers: list[tuple[bytes, bytes]]) -> int:
    """The bytes of headers' names and values."""
    return sum([len(name) + len(value) for name, value in headers])


def _kept_headers(
    entry: JournalEntry, part: str, headers: list[tuple[bytes, bytes]], budget: int
) -> tuple[list[tuple[bytes, bytes]], int]:
    """Headers over `budget` bytes (nearly every request's are within it, and are kept as
    they came: secrets are masked wherever an entry is shown or stored), cut to it in
    order, secrets masked, the cut noted under `part`, and their size; the first of each
    secret header is always kept (masked, it is short), so the key is never lost."""
    kept: list[tuple[bytes, bytes]] = []
    used = dropped = 0
    secrets_seen: set[bytes] = set()
    for name, value in headers:
        secret = name.decode("latin-1") in SECRET_HEADERS
        if secret:
            value = mask(value.decode("latin-1")).encode("latin-1")
        room = budget - used
        if len(name) + len(value) <= room or (secret and name not in secrets_seen):
            kept.append((name, value))
            used += len(name) + len(value)
        elif room > len(name) and not secret:
            kept.append((name, value[: room - len(name)]))
            dropped += len(value) - (room - len(name))
            used = budget
        else:
            dropped += len(name) + len(value)
        if secret:
            secrets_seen.add(name)
    if dropped:
        entry.truncated[part] = dropped
    return kept, _size(kept)


def _bound_miss(entry: JournalEntry, limit: int) -> None:
    """A replay miss names each field that differs: as many as fit in `limit`."""
    miss = entry.cassette_miss
    if not miss or not isinstance(miss.get("differs"), list):
        return
    kept, used = [], 0
    for line in miss["differs"]:
        used += len(line)
        if used > limit:
            break
        kept.append(line)
    left_out = sum(len(line) for line in miss["differs"][len(kept) :])
    if left_out:
        entry.cassette_miss = {**miss, "differs": kept}
        entry.truncated["cassette_miss"] = left_out


def entry_key(entry: JournalEntry) -> str | None:
    """The caller's key, masked (as every entry keeps it)."""
    for name, value in entry.headers:
        if name == b"x-api-key":
            return mask(value.decode("latin-1"))
    return None


def _readable_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        headers[name] = mask(value) if name in SECRET_HEADERS else value
    return headers


def _readable(entry: JournalEntry) -> dict[str, Any]:
    headers = _readable_headers(entry.headers)
    return {
        **{f.name: getattr(entry, f.name) for f in fields(entry)},
        "at": datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="milliseconds"),
        "duration_ms": None if entry.duration_ms is None else round(entry.duration_ms, 3),
        "query": entry.query.decode("latin-1"),
        "headers": headers,
        "response_headers": _readable_headers(entry.response_headers),
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
