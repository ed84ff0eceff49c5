"""The request body: built from keyword arguments, checked against the contract before sending.

The rules are the emulator's own: the same contract file and the same
validator, so the client and the emulator cannot disagree about a body.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from wan26.client.errors import ParameterError
from wan26.client.types import MediaInput
from wan26.contracts.core.money import price_list, price_of
from wan26.contracts.core.spec import ModelOperation, default_contract
from wan26.contracts.core.validation import RequestInvalid, RequestValidator

MODEL = "wan-2.6-i2v"
_URL_PREFIXES = ("http://", "https://", "data:")


def operation() -> ModelOperation:
    return default_contract().models()[MODEL]


_VALIDATOR = RequestValidator(operation().request_schema)


def build_body(image: MediaInput, prompt: str, **optional: Any) -> dict[str, Any]:
    """The JSON body to send; `ParameterError` names the field and rule when one is broken.

    Parameters left as None are not sent, so the server applies its defaults.
    """
    unknown = set(optional) - set(operation().properties)
    if unknown:
        raise ParameterError(f"Unknown parameter(s): {', '.join(sorted(unknown))}")
    body: dict[str, Any] = {"image": media_value("image", image), "prompt": prompt}
    for name, value in optional.items():
        if value is not None:
            body[name] = media_value(name, value) if name == "audio" else value
    check(body)
    return body


def check(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a raw body; returns it with the contract's defaults filled in."""
    try:
        return _VALIDATOR.validate(body)
    except RequestInvalid as exc:
        raise ParameterError(str(exc)) from None


def price(body: dict[str, Any]) -> float:
    """The documented price of a body (the contract's `x-pricing`), as the emulator bills it."""
    params = check(body)
    return float(price_of(price_list(operation()), params["duration"], params["resolution"]))


def media_value(field: str, value: MediaInput) -> str:
    """URLs and data URIs as they are; local files and bytes as a data URI, MIME sniffed."""
    if isinstance(value, str) and value.startswith(_URL_PREFIXES):
        return value
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
    elif isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.is_file():
            raise ParameterError(
                f"Invalid parameter '{field}': {str(value)[:80]!r} is neither an http(s) URL, "
                "a data URI nor an existing file"
            )
        data = path.read_bytes()
    else:
        raise ParameterError(
            f"Invalid parameter '{field}': expected a URL, a path or bytes, "
            f"got {type(value).__name__}"
        )
    return f"data:{sniff_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def sniff_mime(data: bytes) -> str:
    """The MIME type from the file's first bytes, never from its name."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if data.startswith(b"fLaC"):
        return "audio/flac"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    return "application/octet-stream"
