"""The state-directory backend: one SQLite database and a folder of outputs, shared by
the processes of one host (the N workers of one emulator, or its restarts).

Every check-and-change is one write step of the database (sqlite_db.py). Transactions
are a few statements with no await inside, so they run on the event loop and are never
interleaved with another task's. WAL with `synchronous=NORMAL` makes a commit survive a
kill -9 of the process (not a power cut), which is what "a charge is durable before its
200 is sent" needs, without an fsync per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from wan26.mockserver.core.records import (
    Account,
    Chaos,
    Hold,
    Job,
    JobState,
    JournalEntry,
    Outcome,
    QueuedScenario,
)
from wan26.mockserver.store.base import GONE_AFTER_S, StoreUnavailable
from wan26.mockserver.store.codec import (
    dump_chaos,
    dump_entry,
    dump_job,
    dump_scenario,
    load_chaos,
    load_entry,
    load_job,
    load_scenario,
)
from wan26.mockserver.store.sqlite_db import Database, dollars, micros

OUTPUT_NAME = re.compile(r"[0-9a-f]{32}\.mp4")  # what put_output makes, and nothing else
ACCOUNT_COLUMNS = """key, credits, free_credits, requests_per_minute, models, window_start,
    window_count, (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE holds.key = accounts.key)"""
JOB_ORDER = "ORDER BY submitted_at, seq"
CLAIMABLE = "state = 'QUEUED' OR (state = 'PROCESSING' AND worker IS NULL)"

logger = logging.getLogger("wan26.mockserver")


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


def account_from(row: Sequence[Any]) -> Account:
    key, credits, free, rate, models, window_start, window_count, held = row
    return Account(
        key=key,
        credits=dollars(credits),
        free_credits=dollars(free),
        requests_per_minute=rate,
        models=json.loads(models),
        held=dollars(held),
        window_start=window_start,
        window_count=window_count,
    )


def job_from(data: str, worker: str | None) -> Job:
    job = load_job(data)
    job.worker = worker
    return job


def entry_from(entry_id: int, data: str) -> JournalEntry:
    """The id is the row's: the JSON was written before the row had one."""
    entry = load_entry(data)
    entry.id = entry_id
    return entry


class SqliteStore:
    def __init__(
        self,
        folder: Path,
        *,
        journal_size: int,
        output_bytes: int,
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.outputs = folder / "outputs"
        self.journal_size = max(1, journal_size)
        self.output_bytes = output_bytes
        self.owner = owner
        self.clock = clock
        self._closed = False
        self._db = Database(folder)
        try:
            self.outputs.mkdir(exist_ok=True)
        except OSError as error:
            self._db.close()
            raise self._db.unavailable(error) from error

    # Processes.
    async def start(self) -> None:
        async with self._db.write() as db:
            self._say_alive(db)
            # A process restarted under the same name: what its last life held is gone.
            self._let_go(db, self.owner)
            self._reap(db)

    async def beat(self) -> None:
        async with self._db.write() as db:
            self._say_alive(db)
            self._reap(db)

    async def aclose(self) -> None:
        """Also unclaims this process's jobs, so others resume them without waiting for it
        to look dead. Never raises: shutting down is no time to fail, so a database that
        cannot be written now (locked, gone) is a warning and the connection is closed all
        the same."""
        if self._closed:
            return
        self._closed = True
        try:
            async with self._db.write() as db:
                self._let_go(db, self.owner)
                db.execute("DELETE FROM owners WHERE owner = ?", (self.owner,))
        except StoreUnavailable as error:
            logger.warning(
                "%s; closing without giving back this process's holds and jobs (others take "
                "them back once it has exited)",
                error,
            )
        finally:
            self._db.close()

    def _say_alive(self, db: sqlite3.Connection) -> None:
        db.execute(
            """INSERT INTO owners (owner, pid, heartbeat) VALUES (?, ?, ?)
            ON CONFLICT (owner) DO UPDATE SET pid = excluded.pid, heartbeat = excluded.heartbeat""",
            (self.owner, os.getpid(), self.clock()),
        )

    def _reap(self, db: sqlite3.Connection) -> None:
        silent_since = self.clock() - GONE_AFTER_S
        others = db.execute(
            "SELECT owner, pid, heartbeat FROM owners WHERE owner != ?", (self.owner,)
        ).fetchall()
        for owner, pid, heartbeat in others:
            if heartbeat < silent_since or not running(pid):
                self._let_go(db, owner)
                db.execute("DELETE FROM owners WHERE owner = ?", (owner,))

    @staticmethod
    def _let_go(db: sqlite3.Connection, owner: str) -> None:
        """A process's v1 holds go back; its jobs wait for a worker, keeping their start."""
        db.execute("DELETE FROM holds WHERE owner = ?", (owner,))
        db.execute(
            "UPDATE jobs SET worker = NULL WHERE worker = ? AND state = ?",
            (owner, JobState.PROCESSING.value),
        )

    async def reset(self, accounts: Sequence[Account]) -> None:
        async with self._db.write() as db:
            for table in ("accounts", "holds", "jobs", "scenarios", "chaos", "journal"):
                db.execute(f"DELETE FROM {table}")
            for account in accounts:
                self._insert_account(db, account)
        try:
            for name in self._output_names():
                (self.outputs / name).unlink(missing_ok=True)
        except OSError as error:
            raise self._db.unavailable(error) from error

    # Accounts and money.
    async def account(self, key: str) -> Account | None:
        rows = self._db.rows(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (key,))
        return account_from(rows[0]) if rows else None

    async def accounts(self) -> list[Account]:
        return [
            account_from(row) for row in self._db.rows(f"SELECT {ACCOUNT_COLUMNS} FROM accounts")
        ]

    async def put_account(self, account: Account) -> Account:
        async with self._db.write() as db:
            self._insert_account(db, account)
            row = db.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (account.key,)
            ).fetchone()
        return account_from(row)

    @staticmethod
    def _insert_account(db: sqlite3.Connection, account: Account) -> None:
        db.execute(
            """INSERT INTO accounts (key, credits, free_credits, requests_per_minute, models,
                window_start, window_count) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET credits = excluded.credits,
                free_credits = excluded.free_credits,
                requests_per_minute = excluded.requests_per_minute, models = excluded.models""",
            (
                account.key,
                micros(account.credits),
                micros(account.free_credits),
                account.requests_per_minute,
                json.dumps(account.models),
                account.window_start,
                account.window_count,
            ),
        )

    async def remove_account(self, key: str) -> bool:
        """Its holds go too: nothing can be charged to a key that is gone."""
        async with self._db.write() as db:
            removed = db.execute("DELETE FROM accounts WHERE key = ?", (key,)).rowcount > 0
            db.execute("DELETE FROM holds WHERE key = ?", (key,))
        return removed

    async def count_request(self, key: str, now: float, window_s: float) -> float | None:
        limits = self._db.rows("SELECT requests_per_minute FROM accounts WHERE key = ?", (key,))
        if not limits or limits[0][0] is None:
            return None  # no plan to count against: no write
        async with self._db.write() as db:
            row = db.execute(
                """SELECT requests_per_minute, window_start, window_count
                FROM accounts WHERE key = ?""",
                (key,),
            ).fetchone()
            if row is None or row[0] is None:
                return None
            limit, window_start, count = row
            if now - window_start >= window_s:
                window_start, count = now, 0
            over = count >= limit
            db.execute(
                "UPDATE accounts SET window_start = ?, window_count = ? WHERE key = ?",
                (window_start, count if over else count + 1, key),
            )
        return float(window_start + window_s) if over else None

    async def hold(self, key: str, amount: Decimal, owner: str) -> Hold | Decimal:
        wanted = micros(amount)
        async with self._db.write() as db:
            row = db.execute(
                """SELECT credits + free_credits
                    - (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE holds.key = accounts.key)
                FROM accounts WHERE key = ?""",
                (key,),
            ).fetchone()
            if row is None:
                return Decimal(0)
            if row[0] < wanted:
                return dollars(row[0])
            hold = Hold(uuid.uuid4().hex, key, amount, owner)
            db.execute(
                "INSERT INTO holds (id, key, amount, owner) VALUES (?, ?, ?, ?)",
                (hold.id, key, wanted, owner),
            )
        return hold

    async def release(self, hold: Hold) -> None:
        try:
            self._db.rows("DELETE FROM holds WHERE id = ?", (hold.id,))
        except StoreUnavailable:
            self._db.owed.add(hold.id)
            raise

    async def charge(self, hold: Hold) -> Decimal | None:
        async with self._db.write() as db:
            held = db.execute("DELETE FROM holds WHERE id = ? RETURNING key, amount", (hold.id,))
            row = held.fetchone()
            if row is None:
                return None
            key, amount = row
            account = db.execute(
                "SELECT credits, free_credits FROM accounts WHERE key = ?", (key,)
            ).fetchone()
            if account is None:
                return None
            credits, free = account
            from_free = min(free, amount)
            credits, free = credits - (amount - from_free), free - from_free
            db.execute(
                "UPDATE accounts SET credits = ?, free_credits = ? WHERE key = ?",
                (credits, free, key),
            )
        return dollars(credits + free)

    # The v2 queue.
    async def add_job(self, job: Job) -> None:
        self._db.rows(
            """INSERT INTO jobs (id, state, worker, submitted_at, data) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, worker = excluded.worker,
                submitted_at = excluded.submitted_at, data = excluded.data""",
            (job.id, job.state.value, job.worker, job.submitted_at, dump_job(job)),
        )

    async def job(self, job_id: str) -> Job | None:
        rows = self._db.rows("SELECT data, worker FROM jobs WHERE id = ?", (job_id,))
        return job_from(*rows[0]) if rows else None

    async def jobs(self) -> list[Job]:
        return [
            job_from(*row) for row in self._db.rows(f"SELECT data, worker FROM jobs {JOB_ORDER}")
        ]

    async def claim_job(self, now: float) -> Job | None:
        async with self._db.write() as db:
            row = db.execute(
                f"SELECT data, worker FROM jobs WHERE {CLAIMABLE} {JOB_ORDER} LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            job = job_from(*row)
            job.start(now, self.owner)
            self._update_job(db, job)
        return job

    async def save_job(self, job: Job) -> bool:
        async with self._db.write() as db:
            return self._update_job(db, job)

    @staticmethod
    def _update_job(db: sqlite3.Connection, job: Job) -> bool:
        updated = db.execute(
            "UPDATE jobs SET state = ?, worker = ?, data = ? WHERE id = ?",
            (job.state.value, job.worker, dump_job(job), job.id),
        )
        return updated.rowcount > 0

    async def expire_jobs(self, submitted_before: float) -> list[str]:
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

    # Scenarios and chaos.
    async def add_scenario(self, scenario: QueuedScenario) -> None:
        self._db.rows("INSERT INTO scenarios (data) VALUES (?)", (dump_scenario(scenario),))

    async def scenarios(self) -> list[QueuedScenario]:
        return [
            load_scenario(data)
            for (data,) in self._db.rows("SELECT data FROM scenarios ORDER BY seq")
        ]

    async def take_scenario(
        self, method: str, path: str, key: str | None
    ) -> tuple[Outcome | None, Chaos]:
        [(queued,)] = self._db.rows("SELECT EXISTS (SELECT 1 FROM scenarios)")
        if not queued:  # the usual case, answered by a read: no write lock per request
            return None, await self.chaos()
        async with self._db.write() as db:
            row = db.execute("SELECT data FROM chaos").fetchone()
            chaos = load_chaos(row[0] if row else None)
            for seq, data in db.execute("SELECT seq, data FROM scenarios ORDER BY seq").fetchall():
                scenario = load_scenario(data)
                if not scenario.matches(method, path, key):
                    continue
                scenario.remaining -= 1
                if scenario.remaining <= 0:
                    db.execute("DELETE FROM scenarios WHERE seq = ?", (seq,))
                else:
                    db.execute(
                        "UPDATE scenarios SET data = ? WHERE seq = ?",
                        (dump_scenario(scenario), seq),
                    )
                return scenario.outcome, chaos
        return None, chaos

    async def set_chaos(self, chaos: Chaos) -> None:
        self._db.rows(
            "INSERT OR REPLACE INTO chaos (one, data) VALUES (1, ?)", (dump_chaos(chaos),)
        )

    async def chaos(self) -> Chaos:
        rows = self._db.rows("SELECT data FROM chaos")
        return load_chaos(rows[0][0] if rows else None)

    async def clear_scenarios(self) -> None:
        async with self._db.write() as db:
            db.execute("DELETE FROM scenarios")
            db.execute("DELETE FROM chaos")

    # The journal.
    async def journal_start(self, entry: JournalEntry) -> None:
        async with self._db.write() as db:
            added = db.execute(
                "INSERT INTO journal (data) VALUES (?) RETURNING id", (dump_entry(entry),)
            )
            entry.id = int(added.fetchone()[0])
            # Ids only grow, so the newest `journal_size` are above this one (found by the
            # key, not by counting rows: the cap costs the same however full the journal).
            db.execute("DELETE FROM journal WHERE id <= ?", (entry.id - self.journal_size,))

    async def journal_finish(self, entry: JournalEntry) -> None:
        """Keeps a charge set by journal_charged: a fast v2 job can complete before its
        submit's entry is finished (in memory both write one object)."""
        async with self._db.write() as db:
            row = db.execute(
                "SELECT json_extract(data, '$.charged_usd') FROM journal WHERE id = ?",
                (entry.id,),
            ).fetchone()
            if row is None:
                return
            if not entry.charged_usd and row[0]:
                entry = replace(entry, charged_usd=row[0])
            db.execute("UPDATE journal SET data = ? WHERE id = ?", (dump_entry(entry), entry.id))

    async def journal_charged(self, entry_id: int, usd: float) -> None:
        async with self._db.write() as db:
            row = db.execute("SELECT data FROM journal WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                return
            entry = load_entry(row[0])
            entry.charged_usd = usd
            db.execute("UPDATE journal SET data = ? WHERE id = ?", (dump_entry(entry), entry_id))

    async def journal(self) -> list[JournalEntry]:
        return [
            entry_from(*row) for row in self._db.rows("SELECT id, data FROM journal ORDER BY id")
        ]

    async def clear_journal(self) -> None:
        self._db.rows("DELETE FROM journal")

    # Outputs: plain files, so every process on the host serves what any of them made.
    async def put_output(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ".mp4"
        try:
            try:
                os.utime(self.outputs / name)  # kept already; now the last to be evicted
                return name
            except FileNotFoundError:
                pass
            # Written aside and renamed in: another process never serves half a file.
            handle, temp = tempfile.mkstemp(dir=self.outputs, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                os.replace(temp, self.outputs / name)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            self._evict(keep=name)
        except OSError as error:
            raise self._db.unavailable(error) from error
        return name

    def _evict(self, keep: str) -> None:
        """The oldest go until the folder fits, but never the one just kept."""
        files = []
        for name in self._output_names():
            try:
                status = (self.outputs / name).stat()
            except FileNotFoundError:  # evicted meanwhile by another process
                continue
            files.append((status.st_mtime_ns, name, status.st_size))
        total = sum(size for _, _, size in files)
        for _, name, size in sorted(files):
            if total <= self.output_bytes:
                break
            if name != keep:
                (self.outputs / name).unlink(missing_ok=True)
                total -= size

    def _output_names(self) -> list[str]:
        return [name for name in os.listdir(self.outputs) if OUTPUT_NAME.fullmatch(name)]

    async def output_path(self, name: str) -> Path | None:
        if not OUTPUT_NAME.fullmatch(name):
            return None
        path = self.outputs / name
        return path if path.is_file() else None
