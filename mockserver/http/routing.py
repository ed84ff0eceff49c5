"""Routes that take every HTTP method, so a wrong one is judged after the same checks as a
right one (key or token first) and answered with one 405 carrying `Allow`; and the one
reader of a request's body, with its cap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.routing import Route

from wan26.mockserver.core.emulator import BodyTooLarge
from wan26.mockserver.core.in_flight import InFlight
from wan26.mockserver.http.asgi import Message, Receive, Scope, Send
from wan26.mockserver.http.lifecycle import unless_shutting_down


class AnyMethodRoute(Route):
    """Starlette answers a wrong method itself, before the handler and without `Allow`;
    this route matches every method (made-up ones too) and leaves the 405 to the handler."""

    def __init__(self, path: str, endpoint: Any, *, name: str | None = None) -> None:
        super().__init__(path, endpoint, name=name)
        self.methods = None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Straight to the (async) endpoint. Starlette's wrapper would look for an exception
        handler here, on every request; an exception goes on to the app's handlers (the
        control plane's) or the API's catch-all all the same."""
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


# A request's headers as a plain dict: the API's checks look up several, most of them absent,
# and Starlette's `Headers` scans the list (and raises and catches a KeyError) each time.
Headers = Mapping[str, str]


def header_map(scope: Scope) -> dict[str, str]:
    """Names as sent (ASGI servers lower-case them), the first of a repeated name kept,
    as Starlette's `Headers.get` does."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in reversed(scope["headers"])
    }


async def capped_body(
    request: Request, headers: Headers, limit: int, in_flight: InFlight | None = None
) -> bytes:
    """The body, read only up to `limit` bytes, so an endless upload cannot exhaust memory.

    Read straight from `receive` (the API's handlers read it once and never through
    `Request`); a client that leaves first raises `ClientDisconnect`. A body still
    arriving after its first part may be slow to come: with `in_flight`, a shutdown ends
    that wait (`ShuttingDown`)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    message = await request.receive()
    chunks = [_chunk(message, limit)]
    if message.get("more_body", False):
        room = limit - len(chunks[0])
        if in_flight is None:
            chunks += await _rest(request.receive, room)
        else:
            chunks += await unless_shutting_down(in_flight, lambda: _rest(request.receive, room))
    return b"".join(chunks)


def _chunk(message: Message, room: int) -> bytes:
    if message["type"] != "http.request":
        raise ClientDisconnect
    chunk: bytes = message.get("body", b"")
    if len(chunk) > room:
        raise BodyTooLarge
    return chunk


async def _rest(receive: Receive, room: int) -> list[bytes]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(_chunk(message, room))
        room -= len(chunks[-1])
        if not message.get("more_body", False):
            return chunks
