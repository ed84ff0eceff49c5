"""The v2 queue in this process's memory, in submission order."""

from __future__ import annotations

from collections import OrderedDict

from wan26.mockserver.core.records import Job, JobState
from wan26.mockserver.store.memory.accounts import MemoryAccounts


class MemoryJobs:
    def __init__(self, accounts: MemoryAccounts, owner: str) -> None:
        self.by_id: OrderedDict[str, Job] = OrderedDict()
        self._accounts = accounts  # an expired job's hold goes back
        self._owner = owner

    async def add(self, job: Job) -> None:
        self.by_id[job.id] = job

    async def get(self, job_id: str) -> Job | None:
        return self.by_id.get(job_id)

    async def all(self) -> list[Job]:
        return list(self.by_id.values())

    async def claim(self, now: float) -> Job | None:
        for job in self.by_id.values():
            if job.state is JobState.QUEUED:
                job.start(now, self._owner)
                return job
        return None

    async def save(self, job: Job) -> bool:
        return self.by_id.get(job.id) is job

    async def expire(self, submitted_before: float) -> list[str]:
        dropped = []
        while self.by_id:
            job = next(iter(self.by_id.values()))
            if job.submitted_at > submitted_before:
                break
            del self.by_id[job.id]
            await self._accounts.release(job.hold)
            dropped.append(job.id)
        return dropped
