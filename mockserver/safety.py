"""The last line of defence: an exception a handler lets out becomes the catalogue's JSON 500.

Starlette's own handler answers and then re-raises, so uvicorn drops the
keep-alive connection; here the exception is logged and swallowed, so the
client's next request on the same connection is answered.
"""

from __future__ import annotations

import logging

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wan26.mockserver.errors import CATALOGUE, error_response
from wan26.mockserver.outcomes import Forced

logger = logging.getLogger("wan26.mockserver")


class CatchAllMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except httpx.TransportError:  # a network fault played in-process (faults.py): on purpose
            raise
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:  # half an answer is out: only closing the connection is honest
                raise
            response = error_response(500, CATALOGUE[Forced.SERVER_ERROR].message)
            await response(scope, receive, send)
