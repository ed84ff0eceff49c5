"""Typed errors, one per status the API documents, in the manner of openai-python."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


class Wan26Error(Exception):
    """Base class of every error this client raises."""


class ParameterError(Wan26Error, ValueError):
    """A parameter breaks the contract; nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingAPIKeyError(Wan26Error):
    """No key was given for a non-loopback `base_url`; nothing was sent."""

    def __init__(self, base_url: str, default_key: str) -> None:
        super().__init__(
            f"No API key for {base_url}: pass api_key= or set $SEGMIND_API_KEY "
            f"(only an emulator on loopback gets its default key {default_key!r} by itself)"
        )
        self.base_url = base_url


class APIError(Wan26Error):
    """Something went wrong talking to the API."""

    def __init__(self, message: str, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APIConnectionError(APIError):
    """No answer came back: the server could not be reached, or the connection failed."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class PossiblyChargedError(APIConnectionError):
    """A paid POST was sent but no answer came back: it may have run, and been charged.

    The API has no idempotency, so the client never retries such a call by
    itself. For v1, check `get_credits()` or your Segmind dashboard before
    trying again. For v2 the job may exist: nothing identifies it without the
    submit's answer, so check the dashboard before submitting again.
    """


class WaitTimeoutError(Wan26Error):
    """`Job.wait` ran past its deadline; the job goes on and can still be polled."""

    def __init__(self, request_id: str, elapsed_s: float, last_status: str) -> None:
        super().__init__(
            f"job {request_id} was still {last_status} after {elapsed_s:.1f} s; "
            "it keeps running: call wait() again or poll status()"
        )
        self.request_id = request_id
        self.elapsed_s = elapsed_s
        self.last_status = last_status


class APIStatusError(APIError):
    """The API answered with an error status."""

    status_code: int

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(message, response.request)
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.request_id = response.headers.get("x-request-id")

    def __str__(self) -> str:
        return f"HTTP {self.status_code}: {self.message}"


class BadRequestError(APIStatusError):
    status_code = 400


class AuthenticationError(APIStatusError):
    status_code = 401


class PermissionDeniedError(APIStatusError):
    status_code = 403


class NotFoundError(APIStatusError):
    status_code = 404


class InsufficientCreditsError(APIStatusError):
    """406. `balance` and `cost` are parsed from the message where it names them."""

    status_code = 406

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(message, response)
        self.balance = _amount_after("balance", message)
        self.cost = _amount_after("cost", message)


class InvalidContentTypeError(APIStatusError):
    """406 for a missing or wrong Content-Type: a client bug, not a lack of credits."""

    status_code = 406


class GenerationFailedError(APIStatusError):
    """422: the v2 job ended FAILED. Not charged."""

    status_code = 422

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(message, response)
        body = _json_or_empty(response)
        self.request_id = body.get("request_id") or self.request_id
        self.metrics = body.get("metrics") or {}


class RateLimitError(APIStatusError):
    """429. `reset_at` from `x-rate-limit-reset-at-utc`, else from `Retry-After`."""

    status_code = 429

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(message, response)
        self.reset_at = reset_time(response)


class InternalServerError(APIStatusError):
    status_code = 500


class BadGatewayError(APIStatusError):
    status_code = 502


class GatewayTimeoutError(APIStatusError):
    status_code = 504


_BY_STATUS: dict[int, type[APIStatusError]] = {
    cls.status_code: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        InsufficientCreditsError,
        GenerationFailedError,
        RateLimitError,
        InternalServerError,
        BadGatewayError,
        GatewayTimeoutError,
    )
}


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The typed error for an error response, carrying the server's own message."""
    body = _json_or_empty(response)
    message = (
        body.get("error") or body.get("detail") or response.text[:500] or response.reason_phrase
    )
    message = str(message)
    cls = _BY_STATUS.get(response.status_code, APIStatusError)
    if response.status_code == 406 and "content type" in message.lower():
        cls = InvalidContentTypeError
    return cls(message, response)


def reset_time(response: httpx.Response) -> datetime | None:
    stamp = response.headers.get("x-rate-limit-reset-at-utc")
    if stamp:
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return datetime.now(UTC) + timedelta(seconds=float(retry_after))
        except ValueError:
            return None
    return None


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _amount_after(word: str, message: str) -> float | None:
    match = re.search(rf"{word}\W*\$?\s*(-?[0-9]+(?:\.[0-9]+)?)", message, re.IGNORECASE)
    return float(match.group(1)) if match else None
