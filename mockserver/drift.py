"""Drift profiles: the emulator misbehaving on purpose, one class of drift at a time.

They prove that the contract harness catches each kind of change the real
API could make. Rule changes (enums) edit a copy of the contract the emulator
loads; answer changes rewrite responses in an ASGI middleware; video changes
alter the render.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wan26.mockserver.contract import Contract

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class DriftConfig:
    error_field: str | None = None  # JSON errors say {"<this>": ...} instead of {"error": ...}
    status_map: dict[int, int] = field(default_factory=dict)  # e.g. {400: 422}
    add_enum: dict[str, list[Any]] = field(default_factory=dict)  # e.g. {duration: [8]}
    drop_enum: dict[str, list[Any]] = field(default_factory=dict)  # e.g. {duration: [15]}
    drop_headers: list[str] = field(default_factory=list)  # e.g. [x-cost]
    json_output: bool = False  # v1 answers {"output": "<url>"} instead of the MP4
    failed_status: int | None = None  # FAILED jobs served with this instead of 422
    video_seconds_short: int = 0  # videos this much shorter than asked
    video_size: list[int] | None = None  # [width, height] whatever was asked

    @property
    def rewrites_answers(self) -> bool:
        return bool(
            self.error_field
            or self.status_map
            or self.drop_headers
            or self.json_output
            or self.failed_status
        )


def drifted_contract(contract: Contract, drift: DriftConfig) -> Contract:
    """The contract with the profile's enum changes, for the emulator to validate against."""
    if not drift.add_enum and not drift.drop_enum:
        return contract
    document = copy.deepcopy(contract.document)
    properties = document["components"]["schemas"]["Wan26I2VRequest"]["properties"]
    for name, values in drift.add_enum.items():
        properties[name]["enum"] = [*properties[name]["enum"], *values]
    for name, values in drift.drop_enum.items():
        properties[name]["enum"] = [v for v in properties[name]["enum"] if v not in values]
    return Contract(document)


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
