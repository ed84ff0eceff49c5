"""Accounts, holds and rate windows in Redis, each change one Lua script."""

from __future__ import annotations

import uuid
from decimal import Decimal

from wan26.mockserver.core.records import Account, Hold
from wan26.mockserver.store import codec
from wan26.mockserver.store.redis.fields import account_from, flat, micro, seconds, usd
from wan26.mockserver.store.redis.link import Link, Part, reaching


def money(account: Account) -> list[str]:
    """An account's credits, free credits and plan as the scripts take them."""
    rpm = account.requests_per_minute
    return [
        micro(account.credits),
        micro(account.free_credits),
        "" if rpm is None else str(rpm),
    ]


class RedisAccounts(Part):
    def __init__(self, link: Link) -> None:
        super().__init__(link)
        self._hold, self._release = link.script("hold"), link.script("release", True)
        self._charge = link.script("charge", after_prelude=True)
        self._count_request = link.script("count_request")
        self._put_account, self._accounts = link.script("put_account"), link.script("accounts")

    @reaching
    async def get(self, key: str) -> Account | None:
        return account_from(await self.link.redis.hgetall(self.link.key("account", key)))

    @reaching
    async def all(self) -> list[Account]:
        found = [account_from(flat(fields)) for fields in await self.link.run(self._accounts)]
        return sorted((a for a in found if a is not None), key=lambda a: a.key)

    @reaching
    async def put(self, account: Account) -> Account:
        fields = await self.link.run(
            self._put_account, account.key, codec.dump_account(account), *money(account)
        )
        kept = account_from(flat(fields))
        assert kept is not None
        return kept

    @reaching
    async def remove(self, key: str) -> bool:
        async with self.link.redis.pipeline(transaction=True) as pipe:
            pipe.srem(self.link.key("accounts"), key)
            pipe.delete(self.link.key("account", key))
            removed, _ = await pipe.execute()
        return bool(removed)

    @reaching
    async def count_request(self, key: str, now: float, window_s: float) -> float | None:
        start = await self.link.run(self._count_request, key, seconds(now), seconds(window_s))
        return None if start is None else float(start) + window_s

    @reaching
    async def hold(self, key: str, amount: Decimal, owner: str) -> Hold | Decimal:
        hold_id = uuid.uuid4().hex  # never reused, so a hold from before a reset stays gone
        self.link.joined = True
        await self.link.give_back_owed()  # so the credits this process owes back are available
        try:
            granted, available = await self.link.run(self._hold, key, micro(amount), owner, hold_id)
        except BaseException:  # the script may run, or have run, all the same
            self.link.owed.add(hold_id)
            raise
        return Hold(hold_id, key, amount, owner) if granted else usd(available)

    @reaching
    async def release(self, hold: Hold) -> None:
        try:
            await self.link.run(self._release, hold.id)
        except BaseException:  # owed until Redis answers (releasing one that is gone is nothing)
            self.link.owed.add(hold.id)
            raise

    @reaching
    async def charge(self, hold: Hold) -> Decimal | None:
        balance = await self.link.run(self._charge, hold.id)
        return None if balance is None else usd(balance)
