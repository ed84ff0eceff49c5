"""Shared state in Redis, for emulators on several hosts behind one load balancer.

Every check-and-change is one Lua script (in `scripts/`), so it is atomic for every
process sharing the server. The scripts build key names from the prefix, which needs one
Redis server (not a Cluster). Money is kept as integer micro-dollars, times as Python's
float repr, records as the codec's JSON; the fields a script changes (a job's state, an
entry's charge) sit beside the JSON, so no script re-encodes it (Lua's cjson keeps 14
digits of a number).

Keys, each under the prefix:
  accounts                 set of API keys
  account:<key>            hash: settings (JSON), credits, free, held (micro-dollars),
                           rpm ("" when unlimited), wstart, wcount (the rate window)
  hold:<id>, owned:<who>   hash: key, amount, owner; set of an owner's hold ids
  cancelled:<id>           a hold whose hold() got no answer: refused should it land late
  owners                   hash: process -> last heartbeat (its own clock)
  job:<id>                 hash: data (JSON), state, worker, started, hold (its hold id)
  jobs, jobs:at            sorted sets of job ids by submission sequence, by submitted_at
  jobs:waiting             the claimable jobs, by submission sequence
  scenarios, scenario:<id> list of ids, oldest first; hash: data (JSON), remaining,
                           key, path, method (absent when any matches)
  chaos                    JSON
  journal, journal:ids,    hash id -> JSON; list of ids, oldest first;
  journal:charged          hash id -> charged_usd set when a v2 job completes
  output:<name>            a video's bytes when there is no outputs_dir, expiring
  seq:job, seq:journal     counters, kept by reset so a journal id is never reused

A reset deletes the keys of these families only, so another emulator whose prefix merely
starts with this one (`wan26:` and `wan26:team2:`) keeps its state; a prefix that is this
one followed by a family's name (`wan26:job:`) is inside this one's keys and is not safe.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from wan26.mockserver.core.records import Account
from wan26.mockserver.store import codec
from wan26.mockserver.store.base import GONE_AFTER_S, StoreUnavailable
from wan26.mockserver.store.redis.accounts import RedisAccounts, money
from wan26.mockserver.store.redis.fields import seconds
from wan26.mockserver.store.redis.jobs import RedisJobs
from wan26.mockserver.store.redis.journal import RedisJournal
from wan26.mockserver.store.redis.link import Link, Part, reaching
from wan26.mockserver.store.redis.outputs import RedisOutputs, check_writable
from wan26.mockserver.store.redis.scenarios import RedisScenarios

logger = logging.getLogger("wan26.mockserver")


class RedisStore(Part):
    def __init__(
        self,
        url: str,
        *,
        journal_size: int,
        output_ttl_s: float,
        outputs_dir: Path | None,
        owner: str,
        prefix: str = "wan26:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if outputs_dir is not None:
            check_writable(outputs_dir)
        super().__init__(Link(url, prefix, owner))
        self.owner = owner
        self.prefix = prefix
        self.where = self.link.where
        self.outputs_dir = outputs_dir
        self.clock = clock
        self.accounts = RedisAccounts(self.link)
        self.jobs = RedisJobs(self.link)
        self.scenarios = RedisScenarios(self.link)
        self.journal = RedisJournal(self.link, journal_size)
        self.outputs = RedisOutputs(self.link, outputs_dir, output_ttl_s)
        self._beat, self._leave = self.link.script("beat", True), self.link.script("leave", True)
        self._reset = self.link.script("reset")

    @reaching
    async def start(self) -> None:
        await self.beat()

    @reaching
    async def beat(self) -> None:
        self.link.joined = True
        await self.link.run(self._beat, self.owner, seconds(self.clock()), seconds(GONE_AFTER_S))
        await self.link.give_back_owed()

    async def aclose(self) -> None:
        """Gone by choice, like a process gone for good: its holds are released and its jobs
        claimable again (no one would reap them once it is no longer among the owners).
        Never raises StoreUnavailable: shutting down is no time to fail, so a Redis that
        cannot be reached is a warning, and the client and the cache folder go all the same."""
        try:
            if self.link.joined:
                await self._leave_shared()
        except StoreUnavailable as exc:
            logger.warning(
                "%s; closing without giving back this process's holds and jobs (others take "
                "them back once its heartbeat is %g s old)",
                exc,
                GONE_AFTER_S,
            )
        finally:
            try:
                await self.link.redis.aclose()
            finally:
                self.outputs.close()

    @reaching
    async def _leave_shared(self) -> None:
        await self.link.give_back_owed()
        await self.link.run(self._leave, self.owner)

    @reaching
    async def reset(self, accounts: Sequence[Account]) -> None:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        args = [pattern]
        for account in accounts:
            args += [account.key, codec.dump_account(account), *money(account)]
        await self.link.run(self._reset, *args)
        self.outputs.clear()
