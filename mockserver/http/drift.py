"""Answers rewritten by a drift profile (`core.drift`): the emulator misbehaving on purpose,
so the contract harness can prove it catches each kind of change."""

from __future__ import annotations

import json
from typing import Any

from wan26.mockserver.core.drift import DriftConfig
from wan26.mockserver.http.asgi import ASGIApp, Message, Receive, Scope, Send


class DriftMiddleware:
    def __init__(self, app: ASGIApp, drift: DriftConfig, store_output: Any) -> None:
        self.app = app
        self.drift = drift
        self.store_output = store_output  # async: bytes -> name under /outputs/

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/outputs"):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            else:
                body.extend(message.get("body", b""))

        await self.app(scope, receive, capture)
        status, headers, data = await self._rewrite(
            scope, start["status"], list(start["headers"]), bytes(body)
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _rewrite(
        self, scope: Scope, status: int, headers: list[tuple[bytes, bytes]], data: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        drift = self.drift
        content_type = dict(headers).get(b"content-type", b"").decode()
        if drift.json_output and status == 200 and content_type == "video/mp4":
            host = dict(scope["headers"]).get(b"host", b"localhost").decode()
            url = f"http://{host}/outputs/{await self.store_output(data)}"
            data = json.dumps({"status": "COMPLETED", "output": url}).encode()
            headers = [(k, v) for k, v in headers if k != b"content-type"]
            headers.append((b"content-type", b"application/json"))
        if drift.error_field and content_type == "application/json" and status >= 400:
            body = json.loads(data)
            if isinstance(body, dict) and "error" in body and status != 422:
                body[drift.error_field] = body.pop("error")
                data = json.dumps(body).encode()
        if drift.failed_status and status == 422:
            status = drift.failed_status
        status = drift.status_map.get(status, status)
        dropped = {name.lower().encode() for name in drift.drop_headers}
        headers = [(k, v) for k, v in headers if k not in dropped and k != b"content-length"]
        headers.append((b"content-length", str(len(data)).encode()))
        return status, headers, data
