"""Checks of one observed response against what the contract says; each gives report rows.

The contract is a parameter (`Spec`), never a module global: a run may use any contract file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import jsonschema_rs

from wan26.contracts.core.spec import Contract, ModelOperation
from wan26.contracts.harness.report import Row, Verdict

MODEL_SLUG = "wan-2.6-i2v"


class SpecError(ValueError):
    """The contract lacks something the harness needs (the model, a schema, a response)."""


@dataclass
class Spec:
    """What one contract says, resolved once per run: the model and its schemas."""

    contract: Contract
    model: ModelOperation
    _validators: dict[str, jsonschema_rs.Validator] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, contract: Contract) -> Spec:
        try:
            model = contract.models()[MODEL_SLUG]
        except (KeyError, TypeError, AttributeError) as exc:
            raise SpecError(f"the contract has no usable '{MODEL_SLUG}' model: {exc!r}") from None
        return cls(contract, model)

    def documented_headers(self, path: str, method: str, status: str) -> list[str]:
        document = self.contract.document
        response = self.contract.resolve(document["paths"][path][method]["responses"][status])
        return sorted(response.get("headers", {}))

    def validator(self, schema_name: str) -> jsonschema_rs.Validator:
        if schema_name not in self._validators:
            schema = self.contract.document["components"]["schemas"][schema_name]
            self._validators[schema_name] = jsonschema_rs.validator_for(
                self.contract.resolve(schema)
            )
        return self._validators[schema_name]


def status(check: str, response: httpx.Response, expected: int) -> Row:
    verdict: Verdict = "match" if response.status_code == expected else "drift"
    return Row(
        f"{check}/status",
        "status",
        f"HTTP {expected}",
        f"HTTP {response.status_code}",
        verdict,
        error_text(response) if verdict == "drift" else "",
    )


def error_shape(check: str, response: httpx.Response) -> Row:
    """Every documented error is a JSON object whose `error` is a string."""
    expected = 'JSON {"error": string}'
    try:
        body = response.json()
    except ValueError:
        return Row(
            f"{check}/error-shape",
            "error-shape",
            expected,
            f"not JSON ({response.headers.get('content-type', 'no content type')})",
            "drift",
        )
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return Row(f"{check}/error-shape", "error-shape", expected, 'JSON {"error": ...}', "match")
    keys = sorted(body) if isinstance(body, dict) else type(body).__name__
    return Row(
        f"{check}/error-shape",
        "error-shape",
        expected,
        f"error field 'error' missing; body keys: {keys}",
        "drift",
    )


def headers(check: str, response: httpx.Response, names: list[str]) -> Row:
    missing = [name for name in names if name not in response.headers]
    observed = f"missing: {', '.join(missing)}" if missing else "all present"
    return Row(
        f"{check}/headers",
        "header",
        f"headers {', '.join(names)}",
        observed,
        "drift" if missing else "match",
    )


def content_type(check: str, response: httpx.Response, expected: str) -> Row:
    seen = response.headers.get("content-type", "").split(";")[0].strip()
    return Row(
        f"{check}/content-type",
        "body-type",
        expected,
        seen or "none",
        "match" if seen == expected else "drift",
    )


def body_schema(check: str, response: httpx.Response, spec: Spec, schema_name: str) -> Row:
    expected = f"body matches {schema_name}"
    try:
        body = response.json()
    except ValueError:
        return Row(f"{check}/schema", "body-type", expected, "not JSON", "drift")
    errors = [e.message for e in spec.validator(schema_name).iter_errors(body)]
    return Row(
        f"{check}/schema",
        "body-type",
        expected,
        "; ".join(errors[:3]) if errors else "valid",
        "drift" if errors else "match",
    )


def video(
    check: str,
    data: bytes,
    output: dict[str, Any],
    duration_s: int,
    size: tuple[int, int] | None,
) -> list[Row]:
    """Decode the MP4 and compare codec, fps, duration, size and the sound with the request;
    `output` is the model's `x-output` in the contract."""
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            seen: dict[str, Any] = {
                "codec": stream.codec_context.name,
                "fps": float(stream.average_rate or 0),
                # PyAV's stub has time_base Optional; a demuxed stream always has one.
                "duration": float(stream.duration * stream.time_base) if stream.duration else 0.0,  # type: ignore[operator]
                "size": (stream.codec_context.width, stream.codec_context.height),
                "audio": [s.codec_context.name for s in container.streams.audio],
            }
    except (av.FFmpegError, IndexError, ValueError) as exc:
        return [Row(f"{check}/video", "video", "a decodable MP4", f"not decodable: {exc}", "drift")]
    rows = [
        _compare(check, "codec", output["video_codec"], seen["codec"]),
        _compare(check, "fps", float(output["fps"]), seen["fps"]),
        Row(
            f"{check}/video-duration",
            "video",
            f"{duration_s} s (within one frame)",
            f"{seen['duration']:.3f} s",
            "match" if abs(seen["duration"] - duration_s) <= 1 / output["fps"] + 1e-6 else "drift",
        ),
        Row(
            f"{check}/video-audio",
            "video",
            f"an {output['audio_codec']} track",
            ", ".join(seen["audio"]) or "no audio",
            "match" if output["audio_codec"] in seen["audio"] else "drift",
        ),
    ]
    if size is not None:
        rows.append(
            Row(
                f"{check}/video-size",
                "video",
                f"{size[0]}x{size[1]}",
                "x".join(map(str, seen["size"])),
                "match" if seen["size"] == size else "drift",
            )
        )
    return rows


def _compare(check: str, what: str, expected: Any, seen: Any) -> Row:
    return Row(
        f"{check}/video-{what}",
        "video",
        str(expected),
        str(seen),
        "match" if expected == seen else "drift",
    )


def error_text(response: httpx.Response) -> str:
    """The server's message: `error`, or else the first string in the body (so a renamed
    field does not hide what the server said)."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            error: str = body["error"]
            return error
        return next((v for v in body.values() if isinstance(v, str)), str(body))
    return str(body)
