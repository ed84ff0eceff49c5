"""Deadlines uvicorn lacks: on a request's headers, and on its body's progress and total time;
and a limit on the size of its headers.

uvicorn (h11 and httptools alike) waits forever for a request that stalls, so a
slowloris client, a body that stops half-way or a never-ending chunked upload
would each hold a connection for good. The deadlines live in the protocol, so
they hold for every route, including bodies the app never reads (an early 401).
They are asyncio timers (`loop.call_later`): uvicorn's protocol layer is asyncio-only.

httptools has no limit on a request's head either, and holds it whole (a 400 MB
header took its memory and, growing its buffers, the event loop for seconds). The
protocol counts the head's bytes as they arrive and answers 431 past the limit.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from wan26.mockserver.config import Config

HEADER_LIMIT_MESSAGE = "Request header fields too large"
# After a 431 the head still arriving is read and dropped this long before the close:
# closing with unread data would reset the connection, and the client lose the answer.
LINGER_S = 2.0


@dataclass(frozen=True)
class Deadlines:
    headers_s: float = 20.0
    body_idle_s: float = 30.0
    body_total_s: float = 180.0

    @classmethod
    def of(cls, config: Config) -> Deadlines:
        return cls(
            headers_s=config.request_header_timeout_s,
            body_idle_s=config.request_body_timeout_s,
            body_total_s=config.request_body_total_timeout_s,
        )


class DeadlineProtocol(HttpToolsProtocol):
    """httptools' protocol that answers a 408 (or just closes) when a request stalls, and a
    431 when its request line and headers pass `max_header_bytes`."""

    def __init__(
        self,
        *args: Any,
        deadlines: Deadlines | None = None,
        max_header_bytes: int = Config.max_header_bytes,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = deadlines or Deadlines()
        self.max_header_bytes = max_header_bytes
        self._headers_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._total_timer: asyncio.TimerHandle | None = None
        self._body_progress_at = 0.0
        self._head_bytes: int | None = 0  # of the request head so far; None once it is whole
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers()

    def data_received(self, data: bytes) -> None:
        """The parser is given no more of a head than the limit: past it, a 431."""
        if self._refused:
            return  # lingering before the close: read and dropped
        if self._head_bytes is None:
            super().data_received(data)
            return
        room = self.max_header_bytes - self._head_bytes
        head, rest = data[:room], data[room:]
        self._head_bytes += len(head)
        if head:
            super().data_received(head)
        if not rest or self.transport.is_closing():
            return
        if self._head_bytes is None or self._head_bytes < self.max_header_bytes:
            self.data_received(rest)  # the head ended (or a next request began) within `head`
        else:
            self._refuse_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._headers_timer is None:  # a fresh connection's first request is already timed
            self._arm_headers()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._cancel_headers()
        super().on_headers_complete()
        self._body_progress_at = self.loop.time()
        self._idle_timer = self.loop.call_later(self.deadlines.body_idle_s, self._check_idle)
        self._total_timer = self.loop.call_later(
            self.deadlines.body_total_s,
            self._body_expired,
            f"Request body not received within {self.deadlines.body_total_s:g} s",
        )

    def on_body(self, body: bytes) -> None:
        self._body_progress_at = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_body()
        self._head_bytes = 0  # what follows is the next request's head
        super().on_message_complete()

    def _arm_headers(self) -> None:
        self._headers_timer = self.loop.call_later(self.deadlines.headers_s, self._headers_expired)

    def _check_idle(self) -> None:
        """Time the client out only for its own silence, not while uvicorn paused reading."""
        now = self.loop.time()
        if self.flow.read_paused:
            self._body_progress_at = now
        left = self._body_progress_at + self.deadlines.body_idle_s - now
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._check_idle)
            return
        self._body_expired(f"Request body stalled: no data for {self.deadlines.body_idle_s:g} s")

    def _headers_expired(self) -> None:
        self._headers_timer = None
        message = f"Request headers not received within {self.deadlines.headers_s:g} s"
        self._drop(message, answer=self._idle())

    def _idle(self) -> bool:
        """No response is owed on the connection: one may be written now."""
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _refuse_head(self) -> None:
        """431, then the write side is closed and, after `LINGER_S`, the connection."""
        if not self._idle():  # an earlier request's answer is still going out
            self._drop(f"{HEADER_LIMIT_MESSAGE} (over {self.max_header_bytes} bytes)", False)
            return
        self._refused = True
        self._disarm()
        client = self.client or ("-", 0)
        self.logger.info(
            "%s:%d - %s (over %d bytes): closing the connection",
            *client,
            HEADER_LIMIT_MESSAGE,
            self.max_header_bytes,
        )
        self.transport.write(self._response(431, HEADER_LIMIT_MESSAGE))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _body_expired(self, message: str) -> None:
        unanswered = self.cycle is not None and not self.cycle.response_started
        self._drop(message, answer=unanswered and not self.pipeline)

    def _drop(self, message: str, answer: bool) -> None:
        """Answer 408 if no response has begun on the connection, then close it.

        The request's cycle is marked disconnected first, so the app sees
        `http.disconnect` and anything it still sends is dropped.
        """
        self._disarm()
        if self.transport.is_closing():
            return
        self.logger.info("%s:%d - %s: closing the connection", *(self.client or ("-", 0)), message)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if answer:
            self.transport.write(self._response(408, message))
        self.transport.close()

    def _response(self, status: int, message: str) -> bytes:
        body = json.dumps({"error": message}, separators=(",", ":")).encode()
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        return STATUS_LINE[status] + head + b"\r\n" + body

    def _cancel_headers(self) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None

    def _cancel_body(self) -> None:
        for timer in (self._idle_timer, self._total_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._total_timer = None

    def _disarm(self) -> None:
        self._cancel_headers()
        self._cancel_body()
