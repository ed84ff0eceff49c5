"""The v2 queue: jobs and their lifecycle, and the emulated GPU workers that take them.
Every state change of a job happens here: QUEUED when submitted, PROCESSING when a
worker takes it, then COMPLETED or FAILED. Jobs are kept by the store, so they
survive a restart (state directory) or are worked by any process (Redis)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from wan26.mockserver.core.records import Job as Job
from wan26.mockserver.core.records import JobState as JobState
from wan26.mockserver.store.base import StoreUnavailable

if TYPE_CHECKING:
    from wan26.mockserver.store.base import Store

STORE_RETRY_S = 1.0  # how soon a worker tries the store again after it could not reach it
logger = logging.getLogger("wan26.mockserver")


class Workers:
    """This process's emulated GPU workers: `count` loops, run in the app's lifespan task
    group, that take jobs from the store. With a shared store any process's workers take
    any process's jobs; a submit here wakes the workers here at once, others find it on
    their next look (`poll_s`)."""

    def __init__(
        self, store: Store, count: int, work: Callable[[Job], Awaitable[None]], poll_s: float | None
    ) -> None:
        self.store = store
        self.count = max(1, count)
        self.work = work
        self.poll_s = poll_s
        self.running = False
        self._wake = anyio.Event()
        self._looked = anyio.Event()  # set when a worker's look at the store ends
        self._idle = 0  # workers waiting to be woken
        self._looking = 0  # workers looking at the store (a claim may take a round trip)
        self._working: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Until cancelled (the app shutting down)."""
        self.running = True
        try:
            async with anyio.create_task_group() as group:
                for _ in range(self.count):
                    group.start_soon(self._take_jobs)
                task_status.started()
        finally:
            self.running = False

    def wake(self) -> None:
        self._wake.set()
        self._wake = anyio.Event()

    async def take_now(self, job_id: str, timeout_s: float) -> bool:
        """A QUEUED job asked about: wake the workers here and, if one is idle or looking,
        wait (at most `timeout_s`) for a look at the store to end. False if none was."""
        if not (self._idle or self._looking) or job_id in self._working:
            return False
        looked = self._looked
        self.wake()
        with anyio.move_on_after(timeout_s):
            await looked.wait()
        return True

    def cancel(self, job_ids: Iterable[str] | None = None) -> None:
        """Stop working these jobs here (all, when None): they expired or were reset."""
        for job_id in list(self._working) if job_ids is None else job_ids:
            working = self._working.get(job_id)
            if working is not None:
                working[0].cancel()

    async def done_with(self, job_id: str, timeout_s: float) -> bool:
        """Wait, at most `timeout_s`, for this process's workers to be done with a job;
        False if they are not working it."""
        working = self._working.get(job_id)
        if working is None:
            return False
        with anyio.move_on_after(timeout_s):
            await working[1].wait()
        return True

    async def _take_jobs(self) -> None:
        """Take jobs until cancelled. A store that cannot be reached stops nothing: the
        worker looks again after `STORE_RETRY_S`, as it would after an empty look."""
        while True:
            woken = self._wake
            job, failed = None, False
            self._looking += 1
            try:
                job = await self.store.jobs.claim(time.time())
            except StoreUnavailable as exc:
                logger.warning("workers wait for the store: %s", exc)
                failed = True
            except Exception:  # a damaged record: the workers go on (a reset clears it)
                logger.exception("workers could not take a job")
                failed = True
            finally:
                self._looking -= 1
                self._looked.set()
                self._looked = anyio.Event()
            if failed:
                await anyio.sleep(STORE_RETRY_S)
                continue
            if job is None:
                self._idle += 1
                try:
                    with anyio.move_on_after(math.inf if self.poll_s is None else self.poll_s):
                        await woken.wait()
                finally:
                    self._idle -= 1
                continue
            with anyio.CancelScope() as scope:
                done = anyio.Event()
                self._working[job.id] = (scope, done)
                try:
                    await self.work(job)
                finally:
                    del self._working[job.id]
                    done.set()
