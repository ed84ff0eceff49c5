"""The v2 queue: jobs and their lifecycle, a fixed number of emulated GPU workers, and
expiry of results. Every state change of a job happens here: QUEUED when submitted,
PROCESSING when a worker takes it, then COMPLETED or FAILED."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from wan26.mockserver.journal import JournalEntry
from wan26.mockserver.latency import RunTime
from wan26.mockserver.outcomes import Forced

if TYPE_CHECKING:
    from wan26.mockserver.emulator import Admitted


class JobState(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass
class Job:
    """A queued model call: it holds the admitted call, and moves itself through its states."""

    id: str
    call: Admitted
    submitted_at: float
    started_at: float | None = None  # when a worker took it (the queue's clock)
    finished_at: float | None = None
    outcome: Forced | None = None  # job-failed or job-hang, when forced
    failure_message: str = ""
    state: JobState = JobState.QUEUED
    error: str | None = None
    output: str | None = None  # name of the MP4 in the output store
    journal_entry: JournalEntry | None = None

    @property
    def finished(self) -> bool:
        return self.state in (JobState.COMPLETED, JobState.FAILED)

    @property
    def key(self) -> str:
        return self.call.account.key

    @property
    def params(self) -> dict[str, Any]:
        return self.call.params

    @property
    def cost(self) -> Decimal:
        return self.call.cost

    @property
    def run(self) -> RunTime:
        return self.call.run

    def start(self, now: float) -> None:
        self.state, self.started_at = JobState.PROCESSING, now

    def complete(self, output: str) -> None:
        self.state, self.output = JobState.COMPLETED, output

    def fail(self, error: str) -> None:
        self.state, self.error = JobState.FAILED, error


@dataclass
class JobQueue:
    """Jobs by id, in submission order; at most `workers` of them PROCESSING at once."""

    workers: int
    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    jobs: OrderedDict[str, Job] = field(default_factory=OrderedDict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(max(1, self.workers))

    def submit(self, job: Job, work: Callable[[Job], Awaitable[None]]) -> None:
        self.expire()
        self.jobs[job.id] = job

        async def run() -> None:
            async with self._slots:
                job.start(self.clock())
                try:
                    await work(job)
                finally:
                    job.finished_at = self.clock()

        task = asyncio.get_running_loop().create_task(run(), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    def get(self, job_id: str, key: str) -> Job | None:
        """A job is visible only to the key that submitted it, and only until it expires."""
        self.expire()
        job = self.jobs.get(job_id)
        return job if job is not None and job.key == key else None

    def expire(self) -> None:
        deadline = self.clock() - self.ttl_s
        while self.jobs:
            job = next(iter(self.jobs.values()))
            if job.submitted_at > deadline:
                break
            self._drop(job.id)

    def counts(self) -> dict[str, int]:
        counts = {state.value: 0 for state in JobState}
        for job in self.jobs.values():
            counts[job.state.value] += 1
        return counts

    def clear(self) -> None:
        for job_id in list(self.jobs):
            self._drop(job_id)

    def _drop(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        task = self._tasks.pop(job_id, None)
        if task is not None:
            task.cancel()
