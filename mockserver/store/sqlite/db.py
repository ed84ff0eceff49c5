"""The state directory's database: one SQLite connection, its schema, and the steps the
backend's changes run in (see store.py).

Every check-and-change is one `BEGIN IMMEDIATE` transaction (`write`): the write lock is
taken before the check, so two processes cannot both see the same credits free. Money is
kept as integer micro-dollars, so SQLite sums and subtracts it exactly.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio

from wan26.mockserver.store.base import StoreUnavailable

# How long a step waits for another process's transaction before the API answers 503.
BUSY_TIMEOUT_S = 5.0
LOCK_RETRY_S = 0.0005  # how soon a process waiting for the write lock tries again
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
MICROS_PER_USD = Decimal(10**6)


def micros(amount: Decimal) -> int:
    """Refuses rather than rounds: billing only ever makes whole micro-dollars."""
    scaled = amount.scaleb(6)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} USD is not a whole number of micro-dollars")
    return int(scaled)


def dollars(amount: int) -> Decimal:
    return Decimal(amount) / MICROS_PER_USD


class Database:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.database = folder / "state.sqlite3"
        # Holds whose release failed (the database was locked or gone): a live process's holds
        # are never reaped, so they are given back by its next write step.
        self.owed: set[str] = set()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Autocommit (isolation_level=None): every transaction is an explicit step.
            self._connection = sqlite3.connect(
                self.database,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as error:
            raise self.unavailable(error) from error
        try:
            self.rows("PRAGMA journal_mode = WAL")
            self.rows("PRAGMA synchronous = NORMAL")
            self._check_intact()
            with self._step() as db:  # one step: two processes opening a new folder agree
                self._check_version(db)
                for statement in SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except StoreUnavailable:
            self._connection.close()
            raise

    def close(self) -> None:
        self._connection.close()

    def unavailable(self, error: Exception) -> StoreUnavailable:
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
        report = [line for (text,) in self.rows("PRAGMA quick_check") for line in text.split("\n")]
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
        db = self._connection
        try:
            db.execute("BEGIN IMMEDIATE")
            with self._committed(db):
                yield db
        except sqlite3.Error as error:
            raise self.unavailable(error) from error

    @asynccontextmanager
    async def write(self) -> AsyncIterator[sqlite3.Connection]:
        """One transaction holding the write lock from its first read. While another
        process holds the lock, this one waits on the event loop, not in SQLite's own busy
        handler: that one sleeps the thread a millisecond or more per try, stalling every
        request of the process (`--workers N` would not scale)."""
        db = self._connection
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
                owed = sorted(self.owed)
                db.executemany("DELETE FROM holds WHERE id = ?", [(hold,) for hold in owed])
                yield db
            self.owed.difference_update(owed)
        except sqlite3.Error as error:
            raise self.unavailable(error) from error

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

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """A read, or a write of one statement: atomic without an explicit transaction."""
        try:
            return self._connection.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self.unavailable(error) from error
