"""The v2 queue in the state directory's database, in submission order."""

from __future__ import annotations

import sqlite3

from wan26.mockserver.core.records import Job
from wan26.mockserver.store.codec import dump_job, load_job
from wan26.mockserver.store.sqlite.db import Database

JOB_ORDER = "ORDER BY submitted_at, seq"
CLAIMABLE = "state = 'QUEUED' OR (state = 'PROCESSING' AND worker IS NULL)"


def job_from(data: str, worker: str | None) -> Job:
    job = load_job(data)
    job.worker = worker
    return job


class SqliteJobs:
    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self._owner = owner

    async def add(self, job: Job) -> None:
        self._db.rows(
            """INSERT INTO jobs (id, state, worker, submitted_at, data) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, worker = excluded.worker,
                submitted_at = excluded.submitted_at, data = excluded.data""",
            (job.id, job.state.value, job.worker, job.submitted_at, dump_job(job)),
        )

    async def get(self, job_id: str) -> Job | None:
        rows = self._db.rows("SELECT data, worker FROM jobs WHERE id = ?", (job_id,))
        return job_from(*rows[0]) if rows else None

    async def all(self) -> list[Job]:
        return [
            job_from(*row) for row in self._db.rows(f"SELECT data, worker FROM jobs {JOB_ORDER}")
        ]

    async def claim(self, now: float) -> Job | None:
        async with self._db.write() as db:
            row = db.execute(
                f"SELECT data, worker FROM jobs WHERE {CLAIMABLE} {JOB_ORDER} LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            job = job_from(*row)
            job.start(now, self._owner)
            self._update_job(db, job)
        return job

    async def save(self, job: Job) -> bool:
        async with self._db.write() as db:
            return self._update_job(db, job)

    @staticmethod
    def _update_job(db: sqlite3.Connection, job: Job) -> bool:
        updated = db.execute(
            "UPDATE jobs SET state = ?, worker = ?, data = ? WHERE id = ?",
            (job.state.value, job.worker, dump_job(job), job.id),
        )
        return updated.rowcount > 0

    async def expire(self, submitted_before: float) -> list[str]:
        """Up to and including the time, as the memory backend does. Asked on every submit
        and poll: a read answers the usual "nothing yet" without the write lock."""
        [(due,)] = self._db.rows(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE submitted_at <= ?)", (submitted_before,)
        )
        if not due:
            return []
        async with self._db.write() as db:
            expired = [
                job_id
                for (job_id,) in db.execute(
                    f"SELECT id FROM jobs WHERE submitted_at <= ? {JOB_ORDER}", (submitted_before,)
                )
            ]
            db.executemany(
                "DELETE FROM holds WHERE owner = ?", [(f"job:{job_id}",) for job_id in expired]
            )
            db.execute("DELETE FROM jobs WHERE submitted_at <= ?", (submitted_before,))
        return expired
