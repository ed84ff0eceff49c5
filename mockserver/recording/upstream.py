"""The real service (or any URL) behind the emulator: forwarding calls, following v2 jobs.

The caller's key is passed on per request and held in memory only while a
job is followed; it is never logged or written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

FORWARDED_HEADERS = ("x-api-key", "content-type", "accept", "user-agent", "x-initiator")
# Set again by whoever sends the answer on; httpx has already decoded the body.
HOP_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}
)
FOLLOW_ATTEMPTS = 5  # transient errors in a row before a followed job is given up


@dataclass
class FollowedJob:
    """What the recorder saw of an upstream v2 job, in the order it saw it."""

    states: list[tuple[str, float]] = field(default_factory=lambda: [("QUEUED", 0.0)])
    result_status: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    video: bytes | None = None


class UpstreamLost(Exception):
    """The upstream stopped answering about a job; what it did with it is unknown."""


class Upstream:
    def __init__(self, base_url: str, poll_interval_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.poll_interval_s = poll_interval_s
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """Made on first use, inside the event loop that serves requests."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(1500.0, connect=10.0))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        """Forward one call: `target` is the path and query; only the headers that matter go."""
        sent = {name: value for name, value in headers.items() if name in FORWARDED_HEADERS}
        return await self.client.request(
            method, self.base_url + target, headers=sent, content=body or None
        )

    async def follow(
        self, status_url: str, response_url: str, key: str, on_state: Callable[[str], None]
    ) -> FollowedJob:
        """Poll a job until it ends, then fetch its result and (if COMPLETED) its video."""
        seen = FollowedJob()
        started = time.monotonic()
        while seen.states[-1][0] not in ("COMPLETED", "FAILED"):
            await anyio.sleep(self.poll_interval_s)
            answer = await self._get(status_url, key)
            state = _state_of(answer)
            if state is not None and state != seen.states[-1][0]:
                seen.states.append((state, round(time.monotonic() - started, 3)))
                on_state(state)
        final = await self._get(response_url, key)
        seen.result_status = final.status_code
        seen.result = final.json()
        output = seen.result.get("output")
        if seen.states[-1][0] == "COMPLETED":
            if not isinstance(output, str):
                raise UpstreamLost("the COMPLETED job has no output URL")
            # The file URL needs no key: the key goes only to the API.
            video = await self.client.get(output)
            if video.status_code != 200:
                raise UpstreamLost(f"its output answered {video.status_code}")
            seen.video = video.content
        return seen

    async def _get(self, url: str, key: str) -> httpx.Response:
        """A poll, retried on transient errors; 422 is how a FAILED job is served."""
        problem = ""
        for _ in range(FOLLOW_ATTEMPTS):
            try:
                answer = await self.client.get(url, headers={"x-api-key": key})
            except httpx.TransportError as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            else:
                if answer.status_code in (200, 422) and _state_of(answer) is not None:
                    return answer
                problem = f"it answered {answer.status_code}"
                if answer.status_code < 500 and answer.status_code != 429:
                    break
            await anyio.sleep(self.poll_interval_s)
        raise UpstreamLost(problem)


def _state_of(answer: httpx.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    state = body.get("status") if isinstance(body, dict) else None
    return state if state in ("QUEUED", "PROCESSING", "COMPLETED", "FAILED") else None


def answer_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value for name, value in response.headers.items() if name.lower() not in HOP_HEADERS
    }
