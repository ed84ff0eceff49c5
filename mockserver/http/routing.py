"""Routes that take every HTTP method, so a wrong one is judged after the same checks as a
right one (key or token first) and answered with one 405 carrying `Allow`; and the one
reader of a request's body, with its cap."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from wan26.mockserver.core.emulator import BodyTooLarge


class AnyMethodRoute(Route):
    """Starlette answers a wrong method itself, before the handler and without `Allow`;
    this route matches every method (made-up ones too) and leaves the 405 to the handler."""

    def __init__(self, path: str, endpoint: Any, *, name: str | None = None) -> None:
        super().__init__(path, endpoint, name=name)
        self.methods = None


async def capped_body(request: Request, limit: int) -> bytes:
    """The body, read only up to `limit` bytes, so an endless upload cannot exhaust memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
