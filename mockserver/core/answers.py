"""An answer the core has decided, before HTTP: the HTTP layer renders it (http/answers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    """`body` is bytes of `media_type`, or anything JSON can encode (then sent as JSON)."""

    body: bytes | dict[str, Any]
    status: int = 200
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
