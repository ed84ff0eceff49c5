"""When to try again, and how long to wait: the rules that keep retries from double-billing.

The API has no idempotency: a POST that reached the server may have run and
been charged. So a paid POST is retried only when the server *answered* with a
status that is never charged (429, 500, 502, 504), or when the request provably
never left (no connection). A paid POST that was sent but got no answer raises
`PossiblyChargedError`. GETs (polls, downloads) are retried on any transient error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from wan26.client.errors import (
    APIConnectionError,
    APITimeoutError,
    PossiblyChargedError,
    error_from_response,
    reset_time,
)

RETRY_STATUSES = frozenset({429, 500, 502, 504})
# The request never reached the server: safe to send again, even a paid POST.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Timeouts:
    """Sized for a call that takes minutes: short connect, long v1 read, short polls."""

    connect_s: float = 10.0
    v1_read_s: float = 1500.0  # a v1 call blocks for the whole generation
    request_s: float = 30.0  # submit, polls, credits
    download_s: float = 600.0
    wait_s: float = 1800.0  # default overall deadline of Job.wait

    def for_v1(self) -> httpx.Timeout:
        return httpx.Timeout(self.v1_read_s, connect=self.connect_s)

    def for_request(self) -> httpx.Timeout:
        return httpx.Timeout(self.request_s, connect=self.connect_s)

    def for_download(self) -> httpx.Timeout:
        return httpx.Timeout(self.download_s, connect=self.connect_s)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_rate_limit_wait_s: float = 65.0  # never sleep longer than this for a 429
    jitter: float = 0.25  # up to this share of a delay is taken off at random

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.max_delay_s, self.initial_delay_s * 2**attempt)
        return delay * (1 - self.jitter * random.random())


def delay_after_status(
    policy: RetryPolicy, attempt: int, response: httpx.Response, idempotent: bool
) -> float:
    """Seconds to wait before retrying an error status; raises the typed error otherwise."""
    retryable = response.status_code in RETRY_STATUSES or (
        idempotent and response.status_code >= 500
    )
    if not retryable or attempt >= policy.max_retries:
        raise error_from_response(response)
    if response.status_code == 429:
        reset_at = reset_time(response)
        if reset_at is not None:
            wait = (reset_at - datetime.now(UTC)).total_seconds()
            if wait > policy.max_rate_limit_wait_s:
                raise error_from_response(response)
            return max(0.0, wait)
    return policy.backoff(attempt)


def delay_after_error(
    policy: RetryPolicy, attempt: int, error: httpx.TransportError, idempotent: bool
) -> float:
    """Seconds to wait before retrying a failed exchange; raises when it must not be retried."""
    sent = not isinstance(error, NOT_SENT)
    if sent and not idempotent:
        raise PossiblyChargedError(
            f"{error.__class__.__name__} after the request was sent ({error}): it may have run "
            "and been charged, so it is not retried automatically. Check your credits or "
            "dashboard before sending it again.",
            error.request if _has_request(error) else None,
        ) from error
    if attempt >= policy.max_retries:
        kind = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
        raise kind(f"{error.__class__.__name__}: {error}") from error
    return policy.backoff(attempt)


def _has_request(error: httpx.TransportError) -> bool:
    try:
        error.request  # noqa: B018 - raises when the error carries no request
    except RuntimeError:
        return False
    return True
