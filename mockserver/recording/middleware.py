"""The ASGI middleware in front of the API routes in record, replay and passthrough modes.

It reads the body once (up to the body cap), lets the cassette front decide,
and hands the call to the emulator when the front has no answer, replaying
the body it read. Every answer outside `/_mock` carries `x-mock-cassette`,
and the journal entry says the same.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request

from wan26.mockserver.http.asgi import ASGIApp, Message, Receive, Scope, Send
from wan26.mockserver.http.journal import JournalEntry, entry_of
from wan26.mockserver.recording.front import CassetteFront
from wan26.mockserver.recording.learning import CASSETTE_TAG, kind_of

TAG_HEADER = "x-mock-cassette"
OUTPUTS_PREFIX = "/outputs/"


class CassetteMiddleware:
    def __init__(self, app: ASGIApp, front: CassetteFront, max_body_bytes: int) -> None:
        self.app = app
        self.front = front
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        entry = entry_of(scope)
        if path.startswith(OUTPUTS_PREFIX):
            tag = self.front.output_tag(path[len(OUTPUTS_PREFIX) :])
            await self.app(scope, receive, _tagged(send, tag, entry))
            return
        raw, complete = await _read_body(scope, receive, self.max_body_bytes)
        if not complete:  # over the cap: the emulator answers 413 and reads no further
            await self.app(scope, _replaying(raw, receive, more=True), _tagged(send, "miss", entry))
            return
        outcome = await self.front.handle(Request(scope), raw, entry)
        if entry is not None:
            entry.cassette_fingerprint = outcome.fingerprint
            entry.cassette_miss = outcome.miss
        tagged = _tagged(send, outcome.tag, entry)
        if outcome.response is None:
            await self.app(scope, _replaying(raw, receive, more=False), tagged)
        else:
            await outcome.response(scope, receive, tagged)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, and whether it was read whole (False: it is over `limit`)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return b"", False
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(raw: bytes, receive: Receive, more: bool) -> Receive:
    """A receive that gives the body already read, then whatever the client still sends."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": more}
        return await receive()

    return replay


def _tagged(send: Send, tag: str, entry: JournalEntry | None) -> Send:
    if entry is not None:
        entry.cassette = tag

    async def send_tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (TAG_HEADER.encode(), tag.encode())]
            message = {**message, "headers": headers}
        await send(message)

    return send_tagged


class LearnedHeadersMiddleware:
    """Adds the learned extra headers to emulated answers (never to a cassette's hits);
    API requests only (see `http.app.ApiOnly`)."""

    def __init__(self, app: ASGIApp, emulator: Any) -> None:
        self.app = app
        self.emulator = emulator  # its `learned` is read per call: a replay front sets it later

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        learned: dict[str, dict[str, str]] = self.emulator.learned.headers
        if not learned:
            await self.app(scope, receive, send)
            return

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get(CASSETTE_TAG) != "hit":
                    kind = kind_of(scope["method"], path, message["status"])
                    for name, value in learned.get(kind, {}).items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, add)
