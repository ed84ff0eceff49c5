"""What the client does, written once for sync and async (sans-IO).

Each operation is a generator that yields the I/O it needs (`Send`, `Fetch`,
`Sleep`) and receives the outcome; `sync.py` and `async_.py` only perform that
I/O. So the retry rules, polling and parsing exist in one place.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx

from wan26.client import params as body_of
from wan26.client._shared import (
    TERMINAL,
    Settings,
    Submitted,
    credits_from,
    failed,
    state_of,
    video_from_job,
    video_from_v1,
)
from wan26.client.errors import GenerationFailedError, WaitTimeoutError
from wan26.client.progress import OnProgress, Progress, poll_delays, queue_position
from wan26.client.retries import delay_after_error, delay_after_status
from wan26.client.types import JobStatus
from wan26.client.video import Credits, Video

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """One HTTP exchange; the outcome is the response or the `httpx.TransportError`."""

    method: str
    url: str
    headers: dict[str, str]
    timeout: httpx.Timeout
    json: Any = None


@dataclass(frozen=True)
class Fetch:
    """A streamed GET of a file, into memory or to `path`; the outcome is a `Fetched`,
    or the `httpx.TransportError`."""

    url: str
    path: Path | None
    timeout: httpx.Timeout


@dataclass(frozen=True)
class Fetched:
    response: httpx.Response  # for an error status its body is read, else not
    content: bytes | None


@dataclass(frozen=True)
class Sleep:
    seconds: float


Action = Send | Fetch | Sleep
Flow = Generator[Action, Any, T]


def exchange(
    settings: Settings,
    method: str,
    url: str,
    *,
    json: Any = None,
    timeout: httpx.Timeout | None = None,
) -> Flow[httpx.Response]:
    """One request with the retry rules applied; raises the typed error when it ends badly."""
    send = Send(method, url, settings.headers, timeout or settings.timeouts.for_request(), json)
    attempt = 0
    while True:
        outcome: httpx.Response | httpx.TransportError = yield send
        if isinstance(outcome, httpx.TransportError):
            delay = delay_after_error(settings.retry, attempt, outcome, method == "GET")
        elif outcome.is_success:
            return outcome
        else:
            delay = delay_after_status(settings.retry, attempt, outcome, method == "GET")
        yield Sleep(delay)
        attempt += 1


def generate_sync(
    settings: Settings, image: Any, prompt: str, params: dict[str, Any]
) -> Flow[Video]:
    body = body_of.build_body(image, prompt, **params)
    response = yield from exchange(
        settings, "POST", settings.v1_url(), json=body, timeout=settings.timeouts.for_v1()
    )
    return video_from_v1(response)


def submit(
    settings: Settings, image: Any, prompt: str, params: dict[str, Any]
) -> Flow[tuple[Submitted, dict[str, Any]]]:
    body = body_of.build_body(image, prompt, **params)
    response = yield from exchange(settings, "POST", settings.v2_url(), json=body)
    return Submitted.from_response(response), body


def credits(settings: Settings) -> Flow[Credits]:
    return credits_from((yield from exchange(settings, "GET", settings.credits_url())))


def job_answer(settings: Settings, url: str) -> Flow[httpx.Response]:
    """A GET of a job URL that hands back FAILED jobs (served as 422) instead of raising."""
    try:
        return (yield from exchange(settings, "GET", url))
    except GenerationFailedError as exc:
        return exc.response


def observe(submitted: Submitted, response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """The state and body of a job answer, remembered as the job's last known state."""
    state, body = state_of(response)
    submitted.state = state or submitted.state
    return state, body


def status(settings: Settings, submitted: Submitted) -> Flow[JobStatus]:
    state, _ = observe(submitted, (yield from job_answer(settings, submitted.status_url)))
    return cast(JobStatus, state)


def result(settings: Settings, submitted: Submitted) -> Flow[dict[str, Any]]:
    response = yield from job_answer(settings, submitted.response_url)
    state, body = observe(submitted, response)
    if state == "FAILED":
        raise failed(response)
    return body


def wait(
    settings: Settings,
    submitted: Submitted,
    timeout: float | None,
    poll_interval: float | None,
    on_progress: OnProgress | None,
) -> Flow[dict[str, Any]]:
    """Poll until COMPLETED (the result) or FAILED (`GenerationFailedError`).

    Without `poll_interval` the waits start short and grow to `settings.poll_interval_s`.
    """
    deadline = timeout if timeout is not None else settings.timeouts.wait_s
    delays = poll_delays(settings.poll_interval_s, poll_interval)
    started = time.monotonic()
    polls = 0
    while True:
        response = yield from job_answer(settings, submitted.status_url)
        state, body = observe(submitted, response)
        polls += 1
        elapsed = time.monotonic() - started
        if on_progress is not None:
            on_progress(
                Progress(
                    submitted.request_id, state, submitted.elapsed_s, polls, queue_position(body)
                )
            )
        if state == "FAILED":
            raise failed(response)
        if state == "COMPLETED":
            return (yield from result(settings, submitted))
        delay = next(delays)
        if elapsed + delay > deadline:
            raise WaitTimeoutError(submitted.request_id, elapsed, state)
        yield Sleep(delay)


def download(
    settings: Settings, submitted: Submitted, body: dict[str, Any], path: str | Path | None
) -> Flow[Video]:
    """The MP4 of a finished job; streamed to `path` when one is given, else kept in memory."""
    answer = yield from result(settings, submitted)
    if answer.get("status") not in TERMINAL or not answer.get("output"):
        raise WaitTimeoutError(submitted.request_id, 0.0, str(answer.get("status")))
    fetch = Fetch(answer["output"], Path(path) if path else None, settings.timeouts.for_download())
    attempt = 0
    while True:
        outcome = yield fetch
        if isinstance(outcome, httpx.TransportError):
            delay = delay_after_error(settings.retry, attempt, outcome, idempotent=True)
        elif outcome.response.is_success:
            return video_from_job(
                submitted.request_id, body, answer, outcome.response, outcome.content, fetch.path
            )
        else:
            delay = delay_after_status(settings.retry, attempt, outcome.response, idempotent=True)
        yield Sleep(delay)
        attempt += 1
