"""What the sync and async clients share: settings, URLs and reading the API's answers."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from wan26.client.errors import APIError, GenerationFailedError, MissingAPIKeyError
from wan26.client.params import MODEL, price
from wan26.client.retries import RetryPolicy, Timeouts
from wan26.client.video import Credits, Video, number
from wan26.contracts.core.access import DEFAULT_API_KEY, is_loopback

DEFAULT_BASE_URL = "https://api.segmind.com"
TERMINAL = ("COMPLETED", "FAILED")


@dataclass(frozen=True)
class Settings:
    api_key: str
    base_url: str
    timeouts: Timeouts
    retry: RetryPolicy
    poll_interval_s: float

    @classmethod
    def make(
        cls,
        api_key: str | None,
        base_url: str | None,
        timeouts: Timeouts | None,
        retry: RetryPolicy | None,
        poll_interval_s: float,
    ) -> Settings:
        url = (base_url or os.environ.get("SEGMIND_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        return cls(
            api_key=api_key or os.environ.get("SEGMIND_API_KEY") or emulator_key(url),
            base_url=url,
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
            poll_interval_s=poll_interval_s,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key, "user-agent": "wan26-client"}

    def v1_url(self) -> str:
        return f"{self.base_url}/v1/{MODEL}"

    def v2_url(self) -> str:
        return f"{self.base_url}/v2/{MODEL}"

    def credits_url(self) -> str:
        return f"{self.base_url}/v1/get-user-credits"


def emulator_key(base_url: str) -> str:
    """The key to use when none was given: the emulator's public default key, but only
    for a loopback `base_url`, so it can never be sent to the real service."""
    if is_loopback(httpx.URL(base_url).host):
        return DEFAULT_API_KEY
    raise MissingAPIKeyError(base_url, DEFAULT_API_KEY)


@dataclass
class Submitted:
    """A queued job as the client knows it: its URLs from the submit answer, when it was
    submitted, and the last state any poll saw (updated by the flows)."""

    request_id: str
    status_url: str
    response_url: str
    poll_url: str | None
    submitted_at: float = field(default_factory=time.monotonic)  # this process's clock
    state: str = "QUEUED"

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.submitted_at

    def describe(self, kind: str) -> str:
        """The repr of a job object: id, last known state and age, never the body."""
        return f"<{kind} {self.request_id} {self.state} after {self.elapsed_s:.1f} s>"

    @classmethod
    def from_response(cls, response: httpx.Response) -> Submitted:
        body = response.json()
        try:
            return cls(
                body["request_id"], body["status_url"], body["response_url"], body.get("poll_url")
            )
        except (KeyError, TypeError):
            raise APIError(
                f"the submit answer lacks request_id/status_url/response_url: {body!r}"
            ) from None


def video_from_v1(response: httpx.Response) -> Video:
    headers = response.headers
    seed = headers.get("x-seed-value")
    return Video(
        content_type=headers.get("content-type", "video/mp4"),
        request_id=headers.get("x-request-id"),
        cost=number(headers.get("x-cost")),
        remaining_credits=number(headers.get("x-remaining-credits")),
        seed=int(seed) if seed and seed.isdigit() else None,
        generation_time_s=number(headers.get("x-generation-time")),
        content=response.content,
    )


def video_from_job(
    request_id: str,
    body: dict[str, Any],
    result: dict[str, Any],
    response: httpx.Response,
    content: bytes | None,
    path: Path | None,
) -> Video:
    """v2 answers carry no cost headers: the cost is the contract's price for the body."""
    metrics = result.get("metrics") or {}
    seed = body.get("seed")
    return Video(
        content_type=response.headers.get("content-type", "video/mp4"),
        request_id=request_id,
        cost=price(body),
        remaining_credits=None,
        seed=seed if isinstance(seed, int) else None,
        generation_time_s=metrics.get("inference_time"),
        content=content,
        path=path,
    )


def credits_from(response: httpx.Response) -> Credits:
    body = response.json()
    return Credits(float(body.get("credits", 0.0)), float(body.get("free-credits", 0.0)))


def state_of(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """The job state of a status or result answer; a FAILED job is served as 422."""
    body = response.json() if response.content else {}
    if not isinstance(body, dict):
        body = {}
    return str(body.get("status", "")), body


def failed(response: httpx.Response) -> GenerationFailedError:
    return GenerationFailedError(str(response.json().get("error") or "generation failed"), response)
