"""Deadlines uvicorn lacks: on a request's headers, and on its body's progress and total time.

uvicorn (h11 and httptools alike) waits forever for a request that stalls, so a
slowloris client, a body that stops half-way or a never-ending chunked upload
would each hold a connection for good. The deadlines live in the protocol, so
they hold for every route, including bodies the app never reads (an early 401).
They are asyncio timers (`loop.call_later`): uvicorn's protocol layer is asyncio-only.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from wan26.mockserver.config import Config


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
    """httptools' protocol that answers a 408 (or just closes) when a request stalls."""

    def __init__(self, *args: Any, deadlines: Deadlines | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = deadlines or Deadlines()
        self._headers_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._total_timer: asyncio.TimerHandle | None = None
        self._body_progress_at = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._headers_timer is None:  # a fresh connection's first request is already timed
            self._arm_headers()

    def on_headers_complete(self) -> None:
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
        idle = not self.pipeline and (self.cycle is None or self.cycle.response_complete)
        message = f"Request headers not received within {self.deadlines.headers_s:g} s"
        self._drop(message, answer=idle)

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
            self.transport.write(self._response_408(message))
        self.transport.close()

    def _response_408(self, message: str) -> bytes:
        body = json.dumps({"error": message}, separators=(",", ":")).encode()
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        return STATUS_LINE[408] + head + b"\r\n" + body

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
