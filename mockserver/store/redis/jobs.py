"""The v2 queue in Redis: a hash per job, sorted sets for order, one script per change."""

from __future__ import annotations

from wan26.mockserver.core.records import Job
from wan26.mockserver.store.redis.fields import job_args, job_from, seconds
from wan26.mockserver.store.redis.link import Link, Part, reaching


class RedisJobs(Part):
    def __init__(self, link: Link) -> None:
        super().__init__(link)
        self._add_job, self._save_job = link.script("add_job"), link.script("save_job")
        self._claim_job, self._jobs = link.script("claim_job"), link.script("jobs")
        self._expire_jobs = link.script("expire_jobs", True)

    @reaching
    async def add(self, job: Job) -> None:
        await self.link.run(self._add_job, *job_args(job), job.hold.id, seconds(job.submitted_at))

    @reaching
    async def get(self, job_id: str) -> Job | None:
        fields = await self.link.redis.hmget(
            self.link.key("job", job_id), ["data", "state", "worker", "started"]
        )
        return job_from(fields)

    @reaching
    async def all(self) -> list[Job]:
        found = [job_from(fields) for fields in await self.link.run(self._jobs)]
        return [job for job in found if job is not None]

    @reaching
    async def claim(self, now: float) -> Job | None:
        self.link.joined = True
        fields = await self.link.run(self._claim_job, seconds(now), self.link.owner)
        return None if fields is None else job_from(fields)

    @reaching
    async def save(self, job: Job) -> bool:
        return bool(await self.link.run(self._save_job, *job_args(job)))

    @reaching
    async def expire(self, submitted_before: float) -> list[str]:
        dropped = await self.link.run(self._expire_jobs, seconds(submitted_before))
        return [job_id.decode() for job_id in dropped]
