"""The asynchronous client: the same methods as `Wan26Client`, awaited."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Unpack

import anyio
import httpx

from client import params as body_of
from client._shared import (
    TERMINAL,
    ErrorAnswer,
    Progress,
    Settings,
    Submitted,
    credits_from,
    failed,
    state_of,
    video_from_job,
)
from client._shared import video_from_v1 as _video_from_v1
from client.errors import GenerationFailedError, WaitTimeoutError
from client.retries import RetryPolicy, Timeouts, delay_after_error, delay_after_status
from client.types import GenerationParams, MediaInput
from client.video import Credits, Video


class AsyncWan26Client:
    """Calls Segmind's Wan 2.6 Image To Video API (or the emulator, by `base_url`), async."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = Settings.make(api_key, base_url, timeouts, retry, poll_interval_s)
        self._http = http_client or httpx.AsyncClient()

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
        body = body_of.build_body(image, prompt, **params)
        response = await self.request(
            "POST", self.settings.v1_url(), json=body, timeout=self.settings.timeouts.for_v1()
        )
        return _video_from_v1(response)

    async def submit(
        self, image: MediaInput, prompt: str, **params: Unpack[GenerationParams]
    ) -> AsyncJob:
        """Queue a generation (v2) and return at once."""
        body = body_of.build_body(image, prompt, **params)
        response = await self.request("POST", self.settings.v2_url(), json=body)
        return AsyncJob(self, Submitted.from_response(response), body)

    async def generate(
        self,
        image: MediaInput,
        prompt: str,
        *,
        timeout: float | None = None,
        on_progress: Progress | None = None,
        path: str | Path | None = None,
        **params: Unpack[GenerationParams],
    ) -> Video:
        """Submit, wait, download: the vendor's recommended way for long jobs."""
        job = await self.submit(image, prompt, **params)
        await job.wait(timeout=timeout, on_progress=on_progress)
        return await job.download(path)

    async def get_credits(self) -> Credits:
        return credits_from(await self.request("GET", self.settings.credits_url()))

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        timeout: httpx.Timeout | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """One exchange with the retry rules applied; raises the typed error when it ends badly."""
        policy, idempotent = self.settings.retry, method == "GET"
        headers = self.settings.headers if authenticated else {}
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method,
                    url,
                    json=json,
                    headers=headers,
                    timeout=timeout or self.settings.timeouts.for_request(),
                )
            except httpx.TransportError as exc:
                delay = delay_after_error(policy, attempt, exc, idempotent)
            else:
                if response.is_success:
                    return response
                delay = delay_after_status(policy, attempt, response, idempotent)
            await anyio.sleep(delay)
            attempt += 1


class AsyncJob:
    """A queued generation: poll it, wait for it, fetch and download its result."""

    def __init__(
        self, client: AsyncWan26Client, submitted: Submitted, body: dict[str, Any]
    ) -> None:
        self._client = client
        self.submitted = submitted
        self.request_id = submitted.request_id
        self.body = body
        self.last_status = "QUEUED"

    async def status(self) -> str:
        """QUEUED, PROCESSING, COMPLETED or FAILED."""
        response = await self._fetch(self.submitted.status_url)
        self.last_status, _ = state_of(response)
        return self.last_status

    async def wait(
        self,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Poll until COMPLETED (returns the result) or FAILED (raises GenerationFailedError)."""
        settings = self._client.settings
        deadline = timeout if timeout is not None else settings.timeouts.wait_s
        interval = poll_interval if poll_interval is not None else settings.poll_interval_s
        started = time.monotonic()
        while True:
            response = await self._fetch(self.submitted.status_url)
            self.last_status, _ = state_of(response)
            elapsed = time.monotonic() - started
            if on_progress is not None:
                on_progress(self.last_status, elapsed)
            if self.last_status == "FAILED":
                raise failed(response)
            if self.last_status == "COMPLETED":
                return await self.result()
            if elapsed + interval > deadline:
                raise WaitTimeoutError(self.request_id, elapsed, self.last_status)
            await anyio.sleep(interval)

    async def result(self) -> dict[str, Any]:
        response = await self._fetch(self.submitted.response_url)
        state, body = state_of(response)
        if state == "FAILED":
            raise failed(response)
        return body

    async def download(self, path: str | Path | None = None) -> Video:
        """The MP4; streamed to `path` when one is given, else kept in memory."""
        result = await self.result()
        if result.get("status") not in TERMINAL or not result.get("output"):
            raise WaitTimeoutError(self.request_id, 0.0, str(result.get("status")))
        url = result["output"]
        policy = self._client.settings.retry
        timeout = self._client.settings.timeouts.for_download()
        attempt = 0
        while True:
            try:
                return await self._download_once(url, path, timeout, result)
            except httpx.TransportError as exc:
                delay = delay_after_error(policy, attempt, exc, idempotent=True)
            except ErrorAnswer as exc:
                delay = delay_after_status(policy, attempt, exc.response, idempotent=True)
            await anyio.sleep(delay)
            attempt += 1

    async def _download_once(
        self, url: str, path: str | Path | None, timeout: httpx.Timeout, result: dict[str, Any]
    ) -> Video:
        async with self._client._http.stream("GET", url, timeout=timeout) as response:
            if not response.is_success:
                await response.aread()
                raise ErrorAnswer(response)
            if path is None:
                content: bytes | None = await response.aread()
                target = None
            else:
                target = Path(path)
                with target.open("wb") as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)
                content = None
            return video_from_job(self.request_id, self.body, result, response, content, target)

    async def _fetch(self, url: str) -> httpx.Response:
        """A GET that answers FAILED jobs (served as 422) instead of raising."""
        try:
            return await self._client.request("GET", url)
        except GenerationFailedError as exc:
            return exc.response
