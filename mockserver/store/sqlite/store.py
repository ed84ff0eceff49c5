"""The state-directory backend: one SQLite database and a folder of outputs, shared by
the processes of one host (the N workers of one emulator, or its restarts).

Every check-and-change is one write step of the database (db.py). Transactions are a few
statements with no await inside, so they run on the event loop and are never interleaved
with another task's. WAL with `synchronous=NORMAL` makes a commit survive a kill -9 of the
process (not a power cut), which is what "a charge is durable before its 200 is sent"
needs, without an fsync per request.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from wan26.mockserver.core.records import Account, JobState
from wan26.mockserver.store.base import GONE_AFTER_S, StoreUnavailable
from wan26.mockserver.store.sqlite.accounts import SqliteAccounts, insert_account
from wan26.mockserver.store.sqlite.db import Database
from wan26.mockserver.store.sqlite.jobs import SqliteJobs
from wan26.mockserver.store.sqlite.journal import SqliteJournal
from wan26.mockserver.store.sqlite.outputs import SqliteOutputs
from wan26.mockserver.store.sqlite.scenarios import SqliteScenarios

logger = logging.getLogger("wan26.mockserver")


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


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
        self.owner = owner
        self.clock = clock
        self._closed = False
        self._db = Database(folder)
        try:
            self.outputs = SqliteOutputs(self._db, folder / "outputs", output_bytes)
        except BaseException:
            self._db.close()
            raise
        self.accounts = SqliteAccounts(self._db)
        self.jobs = SqliteJobs(self._db, owner)
        self.scenarios = SqliteScenarios(self._db)
        self.journal = SqliteJournal(self._db, journal_size)

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
                insert_account(db, account)
        self.outputs.clear()
