"""The synchronous client: performs the I/O that `flows` asks for."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, Unpack

import httpx

from wan26.client import flows
from wan26.client._shared import Settings, Submitted
from wan26.client.progress import OnProgress
from wan26.client.retries import RetryPolicy, Timeouts
from wan26.client.types import GenerationParams, JobStatus, MediaInput
from wan26.client.video import Credits, Video

T = TypeVar("T")


class Wan26Client:
    """Calls Segmind's Wan 2.6 Image To Video API (or the emulator, by `base_url`)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 5.0,  # the longest wait between polls
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,  # how it waits: a fake one in tests
    ) -> None:
        self.settings = Settings.make(api_key, base_url, timeouts, retry, poll_interval_s)
        self._http = http_client or httpx.Client()
        self._sleep = sleep

    def __enter__(self) -> Wan26Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def generate_sync(
        self, image: MediaInput, prompt: str, **params: Unpack[GenerationParams]
    ) -> Video:
        """One v1 call: blocks for the whole generation and answers with the MP4."""
        return self._run(flows.generate_sync(self.settings, image, prompt, dict(params)))

    def submit(self, image: MediaInput, prompt: str, **params: Unpack[GenerationParams]) -> Job:
        """Queue a generation (v2) and return at once."""
        submitted, body = self._run(flows.submit(self.settings, image, prompt, dict(params)))
        return Job(self, submitted, body)

    def generate(
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
        job = self.submit(image, prompt, **params)
        job.wait(timeout=timeout, on_progress=on_progress)
        return job.download(path)

    def get_credits(self) -> Credits:
        return self._run(flows.credits(self.settings))

    def _run(self, flow: flows.Flow[T]) -> T:
        outcome: Any = None
        while True:
            try:
                action = flow.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            outcome = self._perform(action)

    def _perform(self, action: flows.Action) -> Any:
        if isinstance(action, flows.Sleep):
            self._sleep(action.seconds)
            return None
        try:
            if isinstance(action, flows.Send):
                return self._http.request(
                    action.method,
                    action.url,
                    json=action.json,
                    headers=action.headers,
                    timeout=action.timeout,
                )
            with self._http.stream("GET", action.url, timeout=action.timeout) as response:
                if not response.is_success or action.path is None:
                    return flows.Fetched(response, response.read())
                with action.path.open("wb") as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                return flows.Fetched(response, None)
        except httpx.TransportError as exc:
            return exc


class Job:
    """A queued generation: poll it, wait for it, fetch and download its result."""

    def __init__(self, client: Wan26Client, submitted: Submitted, body: dict[str, Any]) -> None:
        self._client = client
        self.submitted = submitted
        self.body = body

    def __repr__(self) -> str:
        return self.submitted.describe("Job")

    @property
    def request_id(self) -> str:
        return self.submitted.request_id

    @property
    def state(self) -> str:
        """The last state any call saw (QUEUED until the first poll); sends nothing."""
        return self.submitted.state

    def status(self) -> JobStatus:
        """QUEUED, PROCESSING, COMPLETED or FAILED."""
        return self._client._run(flows.status(self._client.settings, self.submitted))

    def wait(
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
        return self._client._run(
            flows.wait(self._client.settings, self.submitted, timeout, poll_interval, on_progress)
        )

    def result(self) -> dict[str, Any]:
        return self._client._run(flows.result(self._client.settings, self.submitted))

    def download(self, path: str | Path | None = None) -> Video:
        """The MP4; streamed to `path` when one is given, else kept in memory."""
        return self._client._run(
            flows.download(self._client.settings, self.submitted, self.body, path)
        )
