"""The HTTP rendering of what the core decided: errors in the real API's shape, and answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

from wan26.mockserver.core.answers import Answer
from wan26.mockserver.core.errors import CATALOGUE, MessageBook, Refusal, allow_header
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.http.asgi import Receive, Scope, Send
from wan26.mockserver.http.journal import entry_of

# The real gateway answers a wrong method with an HTML page, not JSON.
_METHOD_NOT_ALLOWED_HTML = (
    "<!DOCTYPE html>\n<html><head><title>405 Method Not Allowed</title></head>"
    "<body><h1>Method Not Allowed</h1>"
    "<p>The method is not allowed for the requested URL.</p></body></html>\n"
)


# What `JSONResponse` gives `json.dumps`, as one encoder: `json.dumps` with these options
# builds a new encoder per call, and the error paths are hot.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _ErrorJSON(JSONResponse):
    """A `JSONResponse`, byte for byte, rendered with the shared encoder; as it is sent, it
    notes its message on the request's journal entry, so the journal need not parse it back."""

    def __init__(self, message: str, status: int, headers: Mapping[str, str] | None) -> None:
        super().__init__({"error": message}, status_code=status, headers=headers)
        self.message = message

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content).encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = entry_of(scope)
        if entry is not None:
            entry.error = self.message
        await super().__call__(scope, receive, send)


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The real API's error shape: `{"error": "<message>"}`."""
    return _ErrorJSON(message, status, headers)


def refusal_response(book: MessageBook, refusal: Refusal) -> Response:
    """A refusal with `book`'s messages: JSON, but for the API's HTML 405."""
    status = CATALOGUE[refusal.name].status
    if status == 405:
        return HTMLResponse(_METHOD_NOT_ALLOWED_HTML, status_code=405, headers=refusal.headers)
    return error_response(status, book.message(refusal), refusal.headers)


def method_not_allowed_json(methods: list[str]) -> Response:
    """The control plane's 405: JSON like its other errors (the API's is HTML)."""
    return error_response(405, CATALOGUE[Forced.METHOD_NOT_ALLOWED].message, allow_header(methods))


def answer_response(answer: Answer) -> Response:
    if isinstance(answer.body, bytes):
        return Response(
            answer.body, answer.status, headers=answer.headers, media_type=answer.media_type
        )
    return JSONResponse(answer.body, answer.status, headers=answer.headers)
