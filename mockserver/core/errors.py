"""The error catalogue: every failure the emulator can answer with, by name.

The names are what `X-Mock-Scenario` takes and what the `messages` section of
the config overrides. Messages marked [doc] are the vendor's words; the rest
come from third parties or are guesses (see api-facts.md), hence overridable.
"""

from __future__ import annotations

from dataclasses import dataclass

from wan26.mockserver.core.outcomes import Forced


@dataclass(frozen=True)
class Failure:
    name: Forced
    status: int
    message: str
    summary: str


CATALOGUE: dict[Forced, Failure] = {
    failure.name: failure
    for failure in (
        Failure(
            Forced.BAD_REQUEST,
            400,
            "Invalid parameters or request format",
            "body breaks the contract",
        ),
        Failure(
            Forced.MISSING_KEY, 401, "Missing Authorization or x-api-key in header", "no x-api-key"
        ),
        Failure(Forced.INVALID_KEY, 401, "User authentication failed", "unknown or expired key"),
        Failure(
            Forced.FORBIDDEN,
            403,
            "Access to model {model} is not allowed for this API key",
            "key may not call this model",
        ),
        Failure(Forced.NOT_FOUND, 404, "Model {model} not found", "unknown model slug or path"),
        Failure(
            Forced.METHOD_NOT_ALLOWED, 405, "Method Not Allowed", "wrong HTTP method (HTML body)"
        ),
        Failure(
            Forced.INVALID_CONTENT_TYPE, 406, "Invalid content type", "Content-Type is not JSON"
        ),
        Failure(
            Forced.INSUFFICIENT_CREDITS,
            406,
            "Not enough credits. Balance: ${balance}, cost: ${cost}",
            "balance below the price",
        ),
        Failure(
            Forced.PAYLOAD_TOO_LARGE,
            413,
            "Request body too large: at most {limit} bytes",
            "body over the emulator's cap (10 MB image + 15 MB audio as data URIs fit) [guess]",
        ),
        Failure(
            Forced.RATE_LIMITED,
            429,
            "Rate limit exceeded. Try again after {reset_at}",
            "over the plan's requests per minute",
        ),
        Failure(Forced.SERVER_ERROR, 500, "Server had some issue", "internal error"),
        Failure(Forced.BAD_GATEWAY, 502, "Service temporarily unavailable", "upstream unavailable"),
        Failure(
            Forced.GATEWAY_TIMEOUT,
            504,
            "Request timed out",
            "run time over the gateway timeout (waits for it)",
        ),
    )
}

# What `Prefer: code=<status>` picks when one status has several causes.
BY_STATUS: dict[int, Forced] = {}
for _failure in CATALOGUE.values():
    BY_STATUS.setdefault(_failure.status, _failure.name)
BY_STATUS[401] = Forced.INVALID_KEY
BY_STATUS[406] = Forced.INSUFFICIENT_CREDITS  # what the documentation calls 406


class Refusal(Exception):
    """A request the emulator turns down with a catalogue failure.

    The core raises it; the HTTP layer renders it once (`http.answers.refusal_response`).
    `message` replaces the catalogue's text (a message made for this request, e.g. which
    field); otherwise the catalogue's template is filled from `fields`.
    """

    def __init__(
        self,
        name: Forced,
        *,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: object,
    ) -> None:
        super().__init__(name.value)
        self.name = name
        self.message = message
        self.headers = headers
        self.fields = fields


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

    def message(self, refusal: Refusal) -> str:
        """The text a refusal is answered with: its own, or this book's filled template."""
        if refusal.message is not None:
            return refusal.message
        return self.text(refusal.name, **refusal.fields)


def allow_header(methods: list[str]) -> dict[str, str]:
    """The `Allow` header every 405 carries (RFC 9110)."""
    return {"Allow": ", ".join(methods)}


def method_not_allowed(methods: list[str]) -> Refusal:
    """The API's 405 (HTML) naming the allowed methods in `Allow`."""
    return Refusal(Forced.METHOD_NOT_ALLOWED, headers=allow_header(methods))
