"""The error catalogue: every failure the emulator can answer with, by name.

The names are what `X-Mock-Scenario` takes and what the `messages` section of
the config overrides. Messages marked [doc] are the vendor's words; the rest
come from third parties or are guesses (see api-facts.md), hence overridable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.responses import HTMLResponse, JSONResponse, Response


@dataclass(frozen=True)
class Failure:
    name: str
    status: int
    message: str
    summary: str


CATALOGUE: dict[str, Failure] = {
    failure.name: failure
    for failure in (
        Failure(
            "bad-request", 400, "Invalid parameters or request format", "body breaks the contract"
        ),
        Failure("missing-key", 401, "Missing Authorization or x-api-key in header", "no x-api-key"),
        Failure("invalid-key", 401, "User authentication failed", "unknown or expired key"),
        Failure(
            "forbidden",
            403,
            "Access to model {model} is not allowed for this API key",
            "key may not call this model",
        ),
        Failure("not-found", 404, "Model {model} not found", "unknown model slug or path"),
        Failure("method-not-allowed", 405, "Method Not Allowed", "wrong HTTP method (HTML body)"),
        Failure("invalid-content-type", 406, "Invalid content type", "Content-Type is not JSON"),
        Failure(
            "insufficient-credits",
            406,
            "Not enough credits. Balance: ${balance}, cost: ${cost}",
            "balance below the price",
        ),
        Failure(
            "payload-too-large",
            413,
            "Request body too large: at most {limit} bytes",
            "body over the emulator's cap (10 MB image + 15 MB audio as data URIs fit) [guess]",
        ),
        Failure(
            "rate-limited",
            429,
            "Rate limit exceeded. Try again after {reset_at}",
            "over the plan's requests per minute",
        ),
        Failure("server-error", 500, "Server had some issue", "internal error"),
        Failure("bad-gateway", 502, "Service temporarily unavailable", "upstream unavailable"),
        Failure(
            "gateway-timeout",
            504,
            "Request timed out",
            "run time over the gateway timeout (waits for it)",
        ),
    )
}

# What `Prefer: code=<status>` picks when one status has several causes.
BY_STATUS: dict[int, str] = {}
for _failure in CATALOGUE.values():
    BY_STATUS.setdefault(_failure.status, _failure.name)
BY_STATUS[401] = "invalid-key"
BY_STATUS[406] = "insufficient-credits"  # what the documentation calls 406

_METHOD_NOT_ALLOWED_HTML = (
    "<!DOCTYPE html>\n<html><head><title>405 Method Not Allowed</title></head>"
    "<body><h1>Method Not Allowed</h1>"
    "<p>The method is not allowed for the requested URL.</p></body></html>\n"
)


class MessageBook:
    """Catalogue messages with the config's overrides applied."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        unknown = set(overrides or {}) - set(CATALOGUE)
        if unknown:
            raise ValueError(f"unknown message names in config: {sorted(unknown)}")
        self._templates = {name: f.message for name, f in CATALOGUE.items()} | (overrides or {})

    def text(self, name: str, **fields: object) -> str:
        template = self._templates[name]
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError):
            return template

    def response(
        self, name: str, headers: dict[str, str] | None = None, **fields: object
    ) -> Response:
        status = CATALOGUE[name].status
        if status == 405:
            return HTMLResponse(_METHOD_NOT_ALLOWED_HTML, status_code=405, headers=headers)
        return error_response(status, self.text(name, **fields), headers)

    def response_with(
        self, name: str, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        """The failure's status with a message made for this request (e.g. which field)."""
        return error_response(CATALOGUE[name].status, message, headers)


def allow_header(methods: list[str]) -> dict[str, str]:
    """The `Allow` header every 405 carries (RFC 9110)."""
    return {"Allow": ", ".join(methods)}


def method_not_allowed_json(methods: list[str]) -> Response:
    """The control plane's 405: JSON like its other errors (the API's is HTML)."""
    return error_response(405, CATALOGUE["method-not-allowed"].message, allow_header(methods))


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The real API's error shape: `{"error": "<message>"}`."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)
