"""Network faults, as WireMock offers them, applied to a response the emulator already made.

Over a real socket (uvicorn with `FaultableProtocol`) the app reaches the
connection's transport and misbehaves for real. In-process (httpx's
ASGITransport) there is no socket: the fault is raised as the httpx error a
client would have seen.
"""

from __future__ import annotations

import socket
import struct
from http import HTTPStatus

import anyio
import httpx
from starlette.responses import Response

from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.http.asgi import Receive, Scope, Send
from wan26.mockserver.server.deadlines import DeadlineProtocol

TRANSPORT_KEY = "wan26.transport"


class FaultableProtocol(DeadlineProtocol):
    """uvicorn's protocol with deadlines (see deadlines.py), handing the transport to the app."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # ASGI types an extension's value as a dict; this one is the transport itself,
        # which only this app reads back (see pyproject's [tool.mypy] notes).
        self.scope.setdefault("extensions", {})[TRANSPORT_KEY] = self.transport  # type: ignore[assignment]


class FaultyResponse(Response):
    def __init__(self, fault: str, inner: Response, seconds: float = 5.0) -> None:
        self.fault = fault
        self.inner = inner
        self.seconds = seconds
        self.status_code = inner.status_code
        self.raw_headers = inner.raw_headers
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
        body = bytes(getattr(self.inner, "body", b""))
        if self.fault == Forced.SLOW_BODY:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            pieces = 20
            step = max(1, -(-len(body) // pieces))
            for start in range(0, len(body), step):
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[start : start + step],
                        "more_body": True,
                    }
                )
                await anyio.sleep(self.seconds / pieces)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if transport is None:
            raise _client_error(self.fault)
        if self.fault == Forced.CONNECTION_RESET:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        elif self.fault == Forced.EMPTY_RESPONSE:
            transport.close()
        elif self.fault == Forced.TRUNCATED_BODY:
            head = [f"HTTP/1.1 {self.status_code} {_reason(self.status_code)}".encode()]
            head += [name + b": " + value for name, value in self.raw_headers]
            transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body[: len(body) // 2])
            transport.close()
        await anyio.sleep(0)  # let uvicorn see the connection is gone; it then ignores sends


def _client_error(fault: str) -> httpx.TransportError:
    if fault == Forced.CONNECTION_RESET:
        return httpx.ReadError("[Errno 104] Connection reset by peer")
    if fault == Forced.EMPTY_RESPONSE:
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    return httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body (incomplete chunked read)"
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
