"""The asynchronous client: the same methods as `Wan26Client`, awaited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, Unpack

import anyio
import httpx

from wan26.client import flows
from wan26.client._shared import Settings, Submitted
from wan26.client.progress import OnProgress
from wan26.client.retries import RetryPolicy, Timeouts
from wan26.client.types import GenerationParams, JobStatus, MediaInput
from wan26.client.video import Credits, Video

T = TypeVar("T")


class AsyncWan26Client:
    """Calls Segmind's Wan 2.6 Image To Video API (or the emulator, by `base_url`), async."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 5.0,  # the longest wait between polls
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,  # a fake one in tests
    ) -> None:
        self.settings = Settings.make(api_key, base_url, timeouts, retry, poll_interval_s)
        self._http = http_client or httpx.AsyncClient()
        self._sleep = sleep

    async def __aenter__(self) -> AsyncWan26Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def generate_sync(
        self, image: MediaInput, prompt: str, **params: Unpack[GenerationParams]
    ) -> Video:
        """One v1 call: blocks for the whole generation and answers with the MP4."""
        return await self._run(flows.generate_sync(self.settings, image, prompt, dict(params)))

    async def submit(
        self, image: MediaInput, prompt: str, **params: Unpack[GenerationParams]
    ) -> AsyncJob:
        """Queue a generation (v2) and return at once."""
        submitted, body = await self._run(flows.submit(self.settings, image, prompt, dict(params)))
        return AsyncJob(self, submitted, body)

    async def generate(
        self,
        image: MediaInput,
        prompt: str,
        *,
        timeout: float | None = None,
        on_progress: OnProgress | None = None,
        path: str | Path | None = None,
        **params: Unpack[GenerationParams],
    ) -> Video:
        """Submit, wait, download: the vendor's recommended way for long jobs.

        `on_progress`, if given, is called with a `Progress` (request id, state,
        seconds since submission, polls, queue position if known) after each poll.
        """
        job = await self.submit(image, prompt, **params)
        await job.wait(timeout=timeout, on_progress=on_progress)
        return await job.download(path)

    async def get_credits(self) -> Credits:
        return await self._run(flows.credits(self.settings))

    async def _run(self, flow: flows.Flow[T]) -> T:
        outcome: Any = None
        while True:
            try:
                action = flow.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            outcome = await self._perform(action)

    async def _perform(self, action: flows.Action) -> Any:
        if isinstance(action, flows.Sleep):
            await self._sleep(action.seconds)
            return None
        try:
            if isinstance(action, flows.Send):
                return await self._http.request(
                    action.method,
                    action.url,
                    json=action.json,
                    headers=action.headers,
                    timeout=action.timeout,
                )
            async with self._http.stream("GET", action.url, timeout=action.timeout) as response:
                if not response.is_success or action.path is None:
                    return flows.Fetched(response, await response.aread())
                with action.path.open("wb") as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)
                return flows.Fetched(response, None)
        except httpx.TransportError as exc:
            return exc


class AsyncJob:
    """A queued generation: poll it, wait for it, fetch and download its result."""

    def __init__(
        self, client: AsyncWan26Client, submitted: Submitted, body: dict[str, Any]
    ) -> None:
        self._client = client
        self.submitted = submitted
        self.body = body

    def __repr__(self) -> str:
        return self.submitted.describe("AsyncJob")

    @property
    def request_id(self) -> str:
        return self.submitted.request_id

    @property
    def state(self) -> str:
        """The last state any call saw (QUEUED until the first poll); sends nothing."""
        return self.submitted.state

    async def status(self) -> JobStatus:
        """QUEUED, PROCESSING, COMPLETED or FAILED."""
        return await self._client._run(flows.status(self._client.settings, self.submitted))

    async def wait(
        self,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_progress: OnProgress | None = None,
    ) -> dict[str, Any]:
        """Poll until COMPLETED (returns the result) or FAILED (raises GenerationFailedError).

        Polls start 0.25 s apart and back off to the client's `poll_interval_s`;
        `poll_interval` polls at that fixed interval instead. `on_progress` is called
        with a `Progress` after every poll. Past `timeout` (default
        `Timeouts.wait_s`) it raises `WaitTimeoutError`; the job goes on.
        """
        return await self._client._run(
            flows.wait(self._client.settings, self.submitted, timeout, poll_interval, on_progress)
        )

    async def result(self) -> dict[str, Any]:
        return await self._client._run(flows.result(self._client.settings, self.submitted))

    async def download(self, path: str | Path | None = None) -> Video:
        """The MP4; streamed to `path` when one is given, else kept in memory."""
        return await self._client._run(
            flows.download(self._client.settings, self.submitted, self.body, path)
        )
