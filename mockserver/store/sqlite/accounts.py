"""Accounts, holds and rate windows in the state directory's database."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from wan26.mockserver.core.records import Account, Hold
from wan26.mockserver.store.base import StoreUnavailable
from wan26.mockserver.store.sqlite.db import Database, dollars, micros

ACCOUNT_COLUMNS = """key, credits, free_credits, requests_per_minute, models, window_start,
    window_count, (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE holds.key = accounts.key)"""


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


def insert_account(db: sqlite3.Connection, account: Account) -> None:
    """Add a key or replace its settings (a put, or a reset's configured keys)."""
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


class SqliteAccounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> Account | None:
        rows = self._db.rows(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (key,))
        return account_from(rows[0]) if rows else None

    async def all(self) -> list[Account]:
        return [
            account_from(row) for row in self._db.rows(f"SELECT {ACCOUNT_COLUMNS} FROM accounts")
        ]

    async def put(self, account: Account) -> Account:
        async with self._db.write() as db:
            insert_account(db, account)
            row = db.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (account.key,)
            ).fetchone()
        return account_from(row)

    async def remove(self, key: str) -> bool:
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
