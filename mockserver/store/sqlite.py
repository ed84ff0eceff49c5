"""The state-directory backend: one SQLite database and a folder of outputs, shared by
the processes of one host (the N workers of one emulator, or its restarts).

Every check-and-change is one `BEGIN IMMEDIATE` transaction: the write lock is taken
before the check, so two processes cannot both see the same credits free. Transactions
are a few statements with no await inside, so they run on the event loop and are never
interleaved with another task's. WAL with `synchronous=NORMAL` makes a commit survive a
kill -9 of the process (not a power cut), which is what "a charge is durable before its
200 is sent" needs, without an fsync per request.

Money is kept as integer micro-dollars, so SQLite sums and subtracts it exactly.
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
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio

from wan26.mockserver.records import Job, JobState, JournalEntry, Outcome, QueuedScenario
from wan26.mockserver.store.base import GONE_AFTER_S, Account, Chaos, Hold, StoreUnavailable
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

# How long a step waits for another process's transaction before the API answers 503.
BUSY_TIMEOUT_S = 5.0
LOCK_RETRY_S = 0.0005  # how soon a process waiting for the write lock tries again
MICROS_PER_USD = Decimal(10**6)
OUTPUT_NAME = re.compile(r"[0-9a-f]{32}\.mp4")  # what put_output makes, and nothing else
# Stamped in the database (PRAGMA user_version): a folder made by another version's schema
# is refused rather than misread. 0 is an empty database, not yet stamped.
SCHEMA_VERSION = 1

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS accounts (
        key TEXT PRIMARY KEY,
        credits INTEGER NOT NULL,
        free_credits INTEGER NOT NULL,
        requests_per_minute INTEGER,
        models TEXT NOT NULL,
        window_start REAL NOT NULL,
        window_count INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS holds (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        amount INTEGER NOT NULL,
        owner TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS holds_by_key ON holds (key)",
    "CREATE INDEX IF NOT EXISTS holds_by_owner ON holds (owner)",
    # `worker` is the truth about who works a job: reaping clears it without touching `data`.
    """CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        worker TEXT,
        submitted_at REAL NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_in_order ON jobs (submitted_at, seq)",
    "CREATE TABLE IF NOT EXISTS scenarios (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chaos (one INTEGER PRIMARY KEY CHECK (one = 1), data TEXT)",
    # AUTOINCREMENT: an entry id is never given again, even after the journal is cleared.
    "CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT)",
    """CREATE TABLE IF NOT EXISTS owners (
        owner TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        heartbeat REAL NOT NULL
    )""",
)
ACCOUNT_COLUMNS = """key, credits, free_credits, requests_per_minute, models, window_start,
    window_count, (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE holds.key = accounts.key)"""
JOB_ORDER = "ORDER BY submitted_at, seq"
CLAIMABLE = "state = 'QUEUED' OR (state = 'PROCESSING' AND worker IS NULL)"

logger = logging.getLogger("wan26.mockserver")


def micros(amount: Decimal) -> int:
    """Refuses rather than rounds: billing only ever makes whole micro-dollars."""
    scaled = amount.scaleb(6)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} USD is not a whole number of micro-dollars")
    return int(scaled)


def dollars(amount: int) -> Decimal:
    return Decimal(amount) / MICROS_PER_USD


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
        self.database = folder / "state.sqlite3"
        self.outputs = folder / "outputs"
        self.journal_size = max(1, journal_size)
        self.output_bytes = output_bytes
        self.owner = owner
        self.clock = clock
        self._closed = False
        # Holds whose release failed (the database was locked or gone): a live process's holds
        # are never reaped, so they are given back by its next write step.
        self._owed: set[str] = set()
        try:
            self.outputs.mkdir(parents=True, exist_ok=True)
            # Autocommit (isolation_level=None): every transaction is an explicit step.
            self._db = sqlite3.connect(
                self.database,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as error:
            raise self._unavailable(error) from error
        try:
            self._rows("PRAGMA journal_mode = WAL")
            self._rows("PRAGMA synchronous = NORMAL")
            self._check_intact()
            with self._step() as db:  # one step: two processes opening a new folder agree
                self._check_version(db)
                for statement in SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except StoreUnavailable:
            self._db.close()
            raise

    def _unavailable(self, error: Exception) -> StoreUnavailable:
        reason = " ".join(str(error).split())
        code = getattr(error, "sqlite_errorcode", 0)  # unset on the errors Python raises itself
        if code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return self._damaged(reason)
        return StoreUnavailable(f"state directory {self.folder} is unavailable: {reason}")

    def _damaged(self, problem: str) -> StoreUnavailable:
        """Waiting will not help, and the file is the user's to keep or drop."""
        return StoreUnavailable(
            f"state database {self.database} is damaged: {problem}; "
            "move it away or use a new folder"
        )

    def _check_intact(self) -> None:
        """A damaged database found on opening, not as wrong answers or a failure mid-step
        later. quick_check (integrity_check without the index-against-table and UNIQUE
        checks) is fast enough for every open."""
        report = [line for (text,) in self._rows("PRAGMA quick_check") for line in text.split("\n")]
        if report != ["ok"]:
            # Its first line names the database ("*** in database main ***"): not the problem.
            problem = next((line for line in report if not line.startswith("***")), report[0])
            raise self._damaged(problem.strip())

    def _check_version(self, db: sqlite3.Connection) -> None:
        [(version,)] = db.execute("PRAGMA user_version").fetchall()
        if version == SCHEMA_VERSION:
            return
        [(empty,)] = db.execute("SELECT NOT EXISTS (SELECT 1 FROM sqlite_master)").fetchall()
        if version != 0 or not empty:
            raise StoreUnavailable(
                f"state directory {self.folder} was made by another version of wan26-mock "
                f"(its schema is version {version}, this one's {SCHEMA_VERSION}): "
                "use a new folder"
            )

    @contextmanager
    def _step(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from its first read (waiting for the lock
        in this thread: only while the store is being opened)."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            with self._committed(db):
                yield db
        except sqlite3.Error as error:
            raise self._unavailable(error) from error

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[sqlite3.Connection]:
        """One transaction holding the write lock from its first read. While another
        process holds the lock, this one waits on the event loop, not in SQLite's own busy
        handler: that one sleeps the thread a millisecond or more per try, stalling every
        request of the process (`--workers N` would not scale)."""
        db = self._db
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        try:
            while True:
                db.execute("PRAGMA busy_timeout = 0")
                try:
                    db.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                    if time.monotonic() > deadline:
                        raise
                finally:
                    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                await anyio.sleep(LOCK_RETRY_S)
            with self._committed(db):
                owed = sorted(self._owed)
                db.executemany("DELETE FROM holds WHERE id = ?", [(hold,) for hold in owed])
                yield db
            self._owed.difference_update(owed)
        except sqlite3.Error as error:
            raise self._unavailable(error) from error

    @staticmethod
    @contextmanager
    def _committed(db: sqlite3.Connection) -> Iterator[None]:
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """A read, or a write of one statement: atomic without an explicit transaction."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._unavailable(error) from error

    # Processes.
    async def start(self) -> None:
        async with self._write() as db:
            self._say_alive(db)
            # A process restarted under the same name: what its last life held is gone.
            self._let_go(db, self.owner)
            self._reap(db)

    async def beat(self) -> None:
        async with self._write() as db:
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
            async with self._write() as db:
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
        async with self._write() as db:
            for table in ("accounts", "holds", "jobs", "scenarios", "chaos", "journal"):
                db.execute(f"DELETE FROM {table}")
            for account in accounts:
                self._insert_account(db, account)
        try:
            for name in self._output_names():
                (self.outputs / name).unlink(missing_ok=True)
        except OSError as error:
            raise self._unavailable(error) from error

    # Accounts and money.
    async def account(self, key: str) -> Account | None:
        rows = self._rows(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (key,))
        return account_from(rows[0]) if rows else None

    async def accounts(self) -> list[Account]:
        return [account_from(row) for row in self._rows(f"SELECT {ACCOUNT_COLUMNS} FROM accounts")]

    async def put_account(self, account: Account) -> Account:
        async with self._write() as db:
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
        async with self._write() as db:
            removed = db.execute("DELETE FROM accounts WHERE key = ?", (key,)).rowcount > 0
            db.execute("DELETE FROM holds WHERE key = ?", (key,))
        return removed

    async def count_request(self, key: str, now: float, window_s: float) -> float | None:
        limits = self._rows("SELECT requests_per_minute FROM accounts WHERE key = ?", (key,))
        if not limits or limits[0][0] is None:
            return None  # no plan to count against: no write
        async with self._write() as db:
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
        async with self._write() as db:
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
            self._rows("DELETE FROM holds WHERE id = ?", (hold.id,))
        except StoreUnavailable:
            self._owed.add(hold.id)
            raise

    async def charge(self, hold: Hold) -> Decimal | None:
        async with self._write() as db:
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
        self._rows(
            """INSERT INTO jobs (id, state, worker, submitted_at, data) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, worker = excluded.worker,
                submitted_at = excluded.submitted_at, data = excluded.data""",
            (job.id, job.state.value, job.worker, job.submitted_at, dump_job(job)),
        )

    async def job(self, job_id: str) -> Job | None:
        rows = self._rows("SELECT data, worker FROM jobs WHERE id = ?", (job_id,))
        return job_from(*rows[0]) if rows else None

    async def jobs(self) -> list[Job]:
        return [job_from(*row) for row in self._rows(f"SELECT data, worker FROM jobs {JOB_ORDER}")]

    async def claim_job(self, now: float) -> Job | None:
        async with self._write() as db:
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
        async with self._write() as db:
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
        [(due,)] = self._rows(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE submitted_at <= ?)", (submitted_before,)
        )
        if not due:
            return []
        async with self._write() as db:
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
        self._rows("INSERT INTO scenarios (data) VALUES (?)", (dump_scenario(scenario),))

    async def scenarios(self) -> list[QueuedScenario]:
        return [
            load_scenario(data) for (data,) in self._rows("SELECT data FROM scenarios ORDER BY seq")
        ]

    async def take_scenario(
        self, method: str, path: str, key: str | None
    ) -> tuple[Outcome | None, Chaos]:
        [(queued,)] = self._rows("SELECT EXISTS (SELECT 1 FROM scenarios)")
        if not queued:  # the usual case, answered by a read: no write lock per request
            return None, await self.chaos()
        async with self._write() as db:
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
        self._rows("INSERT OR REPLACE INTO chaos (one, data) VALUES (1, ?)", (dump_chaos(chaos),))

    async def chaos(self) -> Chaos:
        rows = self._rows("SELECT data FROM chaos")
        return load_chaos(rows[0][0] if rows else None)

    async def clear_scenarios(self) -> None:
        async with self._write() as db:
            db.execute("DELETE FROM scenarios")
            db.execute("DELETE FROM chaos")

    # The journal.
    async def journal_start(self, entry: JournalEntry) -> None:
        async with self._write() as db:
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
        async with self._write() as db:
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
        async with self._write() as db:
            row = db.execute("SELECT data FROM journal WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                return
            entry = load_entry(row[0])
            entry.charged_usd = usd
            db.execute("UPDATE journal SET data = ? WHERE id = ?", (dump_entry(entry), entry_id))

    async def journal(self) -> list[JournalEntry]:
        return [entry_from(*row) for row in self._rows("SELECT id, data FROM journal ORDER BY id")]

    async def clear_journal(self) -> None:
        self._rows("DELETE FROM journal")

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
            raise self._unavailable(error) from error
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
