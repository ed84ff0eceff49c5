"""Accounts, holds and rate windows in this process's memory."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from wan26.mockserver.core.records import Account, Hold


class MemoryAccounts:
    def __init__(self) -> None:
        self.by_key: dict[str, Account] = {}
        self.holds: dict[str, Hold] = {}
        self._hold_ids = itertools.count(1)

    def seed(self, accounts: Sequence[Account]) -> None:
        """The configured keys and nothing held (a start or a reset)."""
        self.by_key = {a.key: replace(a, held=Decimal(0)) for a in accounts}
        self.holds.clear()

    async def get(self, key: str) -> Account | None:
        return self.by_key.get(key)

    async def all(self) -> list[Account]:
        return list(self.by_key.values())

    async def put(self, account: Account) -> Account:
        current = self.by_key.setdefault(account.key, account)
        if current is not account:
            current.credits, current.free_credits = account.credits, account.free_credits
            current.requests_per_minute, current.models = (
                account.requests_per_minute,
                account.models,
            )
        return current

    async def remove(self, key: str) -> bool:
        return self.by_key.pop(key, None) is not None

    async def count_request(self, key: str, now: float, window_s: float) -> float | None:
        account = self.by_key.get(key)
        if account is None or account.requests_per_minute is None:
            return None
        if now - account.window_start >= window_s:
            account.window_start, account.window_count = now, 0
        if account.window_count >= account.requests_per_minute:
            return account.window_start + window_s
        account.window_count += 1
        return None

    async def hold(self, key: str, amount: Decimal, owner: str) -> Hold | Decimal:
        account = self.by_key.get(key)
        if account is None:
            return Decimal(0)
        if account.available < amount:
            return account.available
        account.held += amount
        hold = Hold(str(next(self._hold_ids)), key, amount, owner)
        self.holds[hold.id] = hold
        return hold

    async def release(self, hold: Hold) -> None:
        if self.holds.pop(hold.id, None) is None:
            return
        account = self.by_key.get(hold.key)
        if account is not None:
            account.held = max(Decimal(0), account.held - hold.amount)

    async def charge(self, hold: Hold) -> Decimal | None:
        account = self.by_key.get(hold.key)
        if hold.id not in self.holds or account is None:
            return None
        await self.release(hold)
        from_free = min(account.free_credits, hold.amount)
        account.free_credits -= from_free
        account.credits -= hold.amount - from_free
        return account.balance
