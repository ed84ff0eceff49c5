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

import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import DataError, RedisError, ResponseError
from redis.typing import EncodableT

from wan26.contracts.core.access import without_credentials
from wan26.mockserver.core.records import (
    Account,
    Chaos,
    Hold,
    Job,
    JournalEntry,
    Outcome,
    QueuedScenario,
)
from wan26.mockserver.store import codec
from wan26.mockserver.store.base import GONE_AFTER_S, StoreUnavailable
from wan26.mockserver.store.redis_fields import (
    account_from,
    flat,
    job_args,
    job_from,
    micro,
    seconds,
    usd,
)

TIMEOUT_S = 2.0  # connect, read, and wait for a pooled connection: a dead Redis answers 503
MAX_CONNECTIONS = 32
OUTPUT_NAME = re.compile(r"[0-9a-f]{32}\.mp4")

logger = logging.getLogger("wan26.mockserver")

SCRIPTS = resources.files("wan26.mockserver.store").joinpath("scripts")


@functools.cache
def _lua(name: str) -> str:
    return SCRIPTS.joinpath(f"{name}.lua").read_text()


def _script(client: Redis, name: str, after_prelude: bool = False) -> AsyncScript:
    """One of the Lua scripts in `scripts/`; `after_prelude` puts the shared functions of
    `prelude.lua` (release, reap) before it."""
    text = _lua("prelude") + _lua(name) if after_prelude else _lua(name)
    return client.register_script(text)


P = ParamSpec("P")
T = TypeVar("T")


def _unusable(exc: RedisError) -> bool:
    """Whether an error means this Redis cannot serve the store (lost, paused, refusing the
    password, the database index or a command, out of memory, read-only...), not a bug here.
    A plain ResponseError is a bug when a script failed in Lua or on its arguments (the
    message names `@user_script` and starts in lower case, not with a code like MISCONF) or
    met a key of the wrong type under the prefix; in doubt, it is the server's."""
    if isinstance(exc, DataError):  # arguments redis-py could not encode
        return False
    if type(exc) is not ResponseError:
        return True
    message = str(exc)
    code = message.split(" ", 1)[0]
    return not (code == "WRONGTYPE" or ("@user_script" in message and not code.isupper()))


def _reaching(
    method: Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, T]]:
    """A Redis that cannot be used becomes StoreUnavailable (the API's 503): one line naming
    the server (without its password) and the error."""

    @functools.wraps(method)
    async def guarded(store: RedisStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(store, *args, **kwargs)
        except RedisError as exc:
            if not _unusable(exc):
                raise
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise StoreUnavailable(f"Redis at {store.where} is unavailable: {detail}") from exc

    return guarded


def _check_writable(folder: Path) -> None:
    """A shared outputs folder that is missing or read-only would fail every finished job:
    refused when the store is made, in one line."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or " ".join(str(error).split())
        raise StoreUnavailable(
            f"outputs folder {folder} is not a writable folder: {reason}"
        ) from error


def _write_atomically(path: Path, data: bytes) -> None:
    """Another process may read the file any time: it sees all of it or nothing."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RedisStore:
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
            _check_writable(outputs_dir)
        self.owner = owner
        self.prefix = prefix
        self.where = without_credentials(url)
        self.journal_size = max(1, journal_size)
        self.output_ttl_ms = max(1, int(output_ttl_s * 1000))
        self.outputs_dir = outputs_dir
        self.clock = clock
        # Videos kept in Redis are copied here for FileResponse (files in a shared outputs_dir
        # are served where they are). Made on the first fetch, so a store that never serves
        # one (a start that failed, a process that exits without closing) leaves no folder.
        self._cache: Path | None = None
        # Whether Redis may hold something under this process's name (a heartbeat, a hold, a
        # claimed job): only then has aclose() anything to give back.
        self._joined = False
        # No retries: a script whose answer was lost may have run, and must not run twice.
        # A pooled connection the server closed is replaced before use by the pool itself.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            socket_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        self._redis = Redis.from_pool(pool)
        script = functools.partial(_script, self._redis)
        self._hold, self._release = script("hold"), script("release", after_prelude=True)
        self._charge, self._cancel = script("charge", True), script("cancel", True)
        self._count_request, self._put_account = script("count_request"), script("put_account")
        self._accounts, self._reset = script("accounts"), script("reset")
        self._add_job, self._save_job = script("add_job"), script("save_job")
        self._claim_job, self._jobs = script("claim_job"), script("jobs")
        self._expire_jobs = script("expire_jobs", True)
        self._beat, self._leave = script("beat", True), script("leave", True)
        self._take_scenario, self._scenarios = script("take_scenario"), script("scenarios")
        self._clear_scenarios = script("clear_scenarios")
        self._journal_start = script("journal_start")
        self._journal_update = script("journal_update")
        # Holds this process owes back: ones asked for whose answer never came (a timeout, a
        # cancelled request; no caller knows them) and ones whose release failed (Redis was
        # down). A live process's holds are never reaped, so they are given back here: before
        # the next hold, at the next beat, or on closing.
        self._owed: set[str] = set()

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def _run(self, script: AsyncScript, *args: str) -> Any:
        return await script(args=[self.prefix, *args])

    @_reaching
    async def start(self) -> None:
        await self.beat()

    @_reaching
    async def beat(self) -> None:
        self._joined = True
        await self._run(self._beat, self.owner, seconds(self.clock()), seconds(GONE_AFTER_S))
        await self._give_back_owed()

    async def _give_back_owed(self) -> None:
        if self._owed:
            owed = sorted(self._owed)
            await self._run(self._cancel, *owed)
            self._owed.difference_update(owed)

    async def aclose(self) -> None:
        """Gone by choice, like a process gone for good: its holds are released and its jobs
        claimable again (no one would reap them once it is no longer among the owners).
        Never raises StoreUnavailable: shutting down is no time to fail, so a Redis that
        cannot be reached is a warning, and the client and the cache folder go all the same."""
        try:
            if self._joined:
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
                await self._redis.aclose()
            finally:
                if self._cache is not None:
                    shutil.rmtree(self._cache, ignore_errors=True)

    @_reaching
    async def _leave_shared(self) -> None:
        await self._give_back_owed()
        await self._run(self._leave, self.owner)

    @_reaching
    async def reset(self, accounts: Sequence[Account]) -> None:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        args = [pattern]
        for account in accounts:
            args += [account.key, codec.dump_account(account), *self._money(account)]
        await self._run(self._reset, *args)
        if self.outputs_dir is not None:
            for path in self.outputs_dir.iterdir():
                if OUTPUT_NAME.fullmatch(path.name):
                    path.unlink(missing_ok=True)

    @staticmethod
    def _money(account: Account) -> list[str]:
        rpm = account.requests_per_minute
        return [
            micro(account.credits),
            micro(account.free_credits),
            "" if rpm is None else str(rpm),
        ]

    @_reaching
    async def account(self, key: str) -> Account | None:
        return account_from(await self._redis.hgetall(self._key("account", key)))

    @_reaching
    async def accounts(self) -> list[Account]:
        found = [account_from(flat(fields)) for fields in await self._run(self._accounts)]
        return sorted((a for a in found if a is not None), key=lambda a: a.key)

    @_reaching
    async def put_account(self, account: Account) -> Account:
        fields = await self._run(
            self._put_account, account.key, codec.dump_account(account), *self._money(account)
        )
        kept = account_from(flat(fields))
        assert kept is not None
        return kept

    @_reaching
    async def remove_account(self, key: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(self._key("accounts"), key)
            pipe.delete(self._key("account", key))
            removed, _ = await pipe.execute()
        return bool(removed)

    @_reaching
    async def count_request(self, key: str, now: float, window_s: float) -> float | None:
        start = await self._run(self._count_request, key, seconds(now), seconds(window_s))
        return None if start is None else float(start) + window_s

    @_reaching
    async def hold(self, key: str, amount: Decimal, owner: str) -> Hold | Decimal:
        hold_id = uuid.uuid4().hex  # never reused, so a hold from before a reset stays gone
        self._joined = True
        await self._give_back_owed()  # so the credits this process owes back are available
        try:
            granted, available = await self._run(self._hold, key, micro(amount), owner, hold_id)
        except BaseException:  # the script may run, or have run, all the same
            self._owed.add(hold_id)
            raise
        return Hold(hold_id, key, amount, owner) if granted else usd(available)

    @_reaching
    async def release(self, hold: Hold) -> None:
        try:
            await self._run(self._release, hold.id)
        except BaseException:  # owed until Redis answers (releasing one that is gone is nothing)
            self._owed.add(hold.id)
            raise

    @_reaching
    async def charge(self, hold: Hold) -> Decimal | None:
        balance = await self._run(self._charge, hold.id)
        return None if balance is None else usd(balance)

    @_reaching
    async def add_job(self, job: Job) -> None:
        await self._run(self._add_job, *job_args(job), job.hold.id, seconds(job.submitted_at))

    @_reaching
    async def job(self, job_id: str) -> Job | None:
        fields = await self._redis.hmget(
            self._key("job", job_id), ["data", "state", "worker", "started"]
        )
        return job_from(fields)

    @_reaching
    async def jobs(self) -> list[Job]:
        found = [job_from(fields) for fields in await self._run(self._jobs)]
        return [job for job in found if job is not None]

    @_reaching
    async def claim_job(self, now: float) -> Job | None:
        self._joined = True
        fields = await self._run(self._claim_job, seconds(now), self.owner)
        return None if fields is None else job_from(fields)

    @_reaching
    async def save_job(self, job: Job) -> bool:
        return bool(await self._run(self._save_job, *job_args(job)))

    @_reaching
    async def expire_jobs(self, submitted_before: float) -> list[str]:
        dropped = await self._run(self._expire_jobs, seconds(submitted_before))
        return [job_id.decode() for job_id in dropped]

    @_reaching
    async def add_scenario(self, scenario: QueuedScenario) -> None:
        scenario_id = uuid.uuid4().hex
        fields: dict[EncodableT, EncodableT] = {
            "data": codec.dump_scenario(scenario),
            "remaining": str(scenario.remaining),
        }
        # Absent fields match anything; the method is compared as QueuedScenario does.
        for name, value in (
            ("key", scenario.key),
            ("path", scenario.path),
            ("method", None if scenario.method is None else scenario.method.upper()),
        ):
            if value is not None:
                fields[name] = value
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("scenario", scenario_id), mapping=fields)
            pipe.rpush(self._key("scenarios"), scenario_id)
            await pipe.execute()

    @_reaching
    async def scenarios(self) -> list[QueuedScenario]:
        queued = []
        for data, remaining in await self._run(self._scenarios):
            scenario = codec.load_scenario(data)
            scenario.remaining = int(remaining)
            queued.append(scenario)
        return queued

    @_reaching
    async def take_scenario(
        self, method: str, path: str, key: str | None
    ) -> tuple[Outcome | None, Chaos]:
        data, chaos = await self._run(
            self._take_scenario, method, path, key or "", "0" if key is None else "1"
        )
        outcome = None if data is None else codec.load_scenario(data).outcome
        return outcome, codec.load_chaos(chaos)

    @_reaching
    async def set_chaos(self, chaos: Chaos) -> None:
        await self._redis.set(self._key("chaos"), codec.dump_chaos(chaos))

    @_reaching
    async def chaos(self) -> Chaos:
        return codec.load_chaos(await self._redis.get(self._key("chaos")))

    @_reaching
    async def clear_scenarios(self) -> None:
        await self._run(self._clear_scenarios)

    @_reaching
    async def journal_start(self, entry: JournalEntry) -> None:
        entry.id = int(
            await self._run(self._journal_start, codec.dump_entry(entry), str(self.journal_size))
        )

    @_reaching
    async def journal_finish(self, entry: JournalEntry) -> None:
        await self._run(self._journal_update, "journal", str(entry.id), codec.dump_entry(entry))

    @_reaching
    async def journal_charged(self, entry_id: int, usd: float) -> None:
        await self._run(self._journal_update, "journal:charged", str(entry_id), repr(usd))

    @_reaching
    async def journal(self) -> list[JournalEntry]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(self._key("journal:ids"), 0, -1)
            pipe.hgetall(self._key("journal"))
            pipe.hgetall(self._key("journal:charged"))
            ids, texts, charged = await pipe.execute()
        entries = []
        for entry_id in ids:
            entry = codec.load_entry(texts[entry_id])
            entry.id = int(entry_id)
            if entry_id in charged:
                entry.charged_usd = float(charged[entry_id])
            entries.append(entry)
        return entries

    @_reaching
    async def clear_journal(self) -> None:
        await self._redis.delete(
            self._key("journal"), self._key("journal:ids"), self._key("journal:charged")
        )

    @_reaching
    async def put_output(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ".mp4"
        if self.outputs_dir is None:
            await self._redis.set(self._key("output", name), data, px=self.output_ttl_ms)
        elif not (self.outputs_dir / name).exists():
            _write_atomically(self.outputs_dir / name, data)
        return name

    @_reaching
    async def output_path(self, name: str) -> Path | None:
        if not OUTPUT_NAME.fullmatch(name):
            return None
        if self.outputs_dir is not None:
            path = self.outputs_dir / name
            return path if path.is_file() else None
        if self._cache is None:
            self._cache = Path(tempfile.mkdtemp(prefix="wan26-redis-"))
        cached, key = self._cache / name, self._key("output", name)
        if not await self._redis.exists(key):
            cached.unlink(missing_ok=True)  # expired or reset: the copy goes too
            return None
        if not cached.exists():
            data = await self._redis.get(key)
            if not isinstance(data, bytes):  # expired since
                return None
            _write_atomically(cached, data)
        return cached
