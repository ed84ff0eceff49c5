"""The last line of defence: an exception a handler lets out becomes the catalogue's JSON 500,
or a 503 when the state backend cannot be reached (retrying later may work; nothing was
charged, since every charge is one step in the store); Starlette's `HTTPException` (an
unknown path's 404) its own status, in the API's shape.

Starlette's own handler answers and then re-raises, so uvicorn drops the
keep-alive connection; here the exception is logged and swallowed, so the
client's next request on the same connection is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
from starlette.exceptions import HTTPException
from starlette.responses import Response

from wan26.mockserver.core.errors import CATALOGUE
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.http.answers import error_response
from wan26.mockserver.http.asgi import ASGIApp, Message, Receive, Scope, Send
from wan26.mockserver.store.base import StoreUnavailable

UNAVAILABLE = "Service temporarily unavailable, please retry"
logger = logging.getLogger("wan26.mockserver")


class CatchAllMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        def server_error(exc: Exception) -> Response | None:
            if isinstance(exc, httpx.TransportError):  # a network fault played in-process
                return None
            if isinstance(exc, HTTPException):  # Starlette's own (an unknown path's 404)
                return error_response(exc.status_code, exc.detail, exc.headers)
            if isinstance(exc, StoreUnavailable):
                logger.warning("%s %s: %s", scope["method"], scope["path"], exc)
                return error_response(503, f"{UNAVAILABLE} ({exc})", {"retry-after": "1"})
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            return error_response(500, CATALOGUE[Forced.SERVER_ERROR].message)

        await answering_errors(self.app, scope, receive, send, server_error)


async def answering_errors(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    answer: Callable[[Exception], Response | None],
) -> None:
    """Run `app`; an exception it raises is answered with `answer(exc)`, unless that is None
    or half an answer is already out (then only closing the connection is honest)."""
    started = False

    async def send_and_note(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, send_and_note)
    except Exception as exc:
        response = answer(exc)
        if response is None or started:
            raise
        await response(scope, receive, send)
