"""What the concerns of one Redis store share: the client and its prefix, the Lua scripts,
this process's name and the holds it owes back, and how a Redis that cannot be used
becomes StoreUnavailable."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Any, Concatenate, ParamSpec, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import DataError, RedisError, ResponseError

from wan26.contracts.core.access import without_credentials
from wan26.mockserver.store.base import StoreUnavailable

TIMEOUT_S = 2.0  # connect, read, and wait for a pooled connection: a dead Redis answers 503
MAX_CONNECTIONS = 32

SCRIPTS = resources.files("wan26.mockserver.store").joinpath("scripts")


@functools.cache
def _lua(name: str) -> str:
    return SCRIPTS.joinpath(f"{name}.lua").read_text()


class Link:
    def __init__(self, url: str, prefix: str, owner: str) -> None:
        self.prefix = prefix
        self.owner = owner
        self.where = without_credentials(url)
        # Whether Redis may hold something under this process's name (a heartbeat, a hold, a
        # claimed job): only then has closing anything to give back.
        self.joined = False
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
        self.redis = Redis.from_pool(pool)
        # Holds this process owes back: ones asked for whose answer never came (a timeout, a
        # cancelled request; no caller knows them) and ones whose release failed (Redis was
        # down). A live process's holds are never reaped, so they are given back here: before
        # the next hold, at the next beat, or on closing.
        self.owed: set[str] = set()
        self._cancel = self.script("cancel", after_prelude=True)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def script(self, name: str, after_prelude: bool = False) -> AsyncScript:
        """One of the Lua scripts in `scripts/`; `after_prelude` puts the shared functions of
        `prelude.lua` (release, reap) before it."""
        text = _lua("prelude") + _lua(name) if after_prelude else _lua(name)
        return self.redis.register_script(text)

    async def run(self, script: AsyncScript, *args: str) -> Any:
        return await script(args=[self.prefix, *args])

    async def give_back_owed(self) -> None:
        if self.owed:
            owed = sorted(self.owed)
            await self.run(self._cancel, *owed)
            self.owed.difference_update(owed)


class Part:
    """One concern of the store, reaching Redis through the store's link."""

    def __init__(self, link: Link) -> None:
        self.link = link


P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound=Part)


def unusable(exc: RedisError) -> bool:
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


def reaching(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """A Redis that cannot be used becomes StoreUnavailable (the API's 503): one line naming
    the server (without its password) and the error."""

    @functools.wraps(method)
    async def guarded(part: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(part, *args, **kwargs)
        except RedisError as exc:
            if not unusable(exc):
                raise
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise StoreUnavailable(f"Redis at {part.link.where} is unavailable: {detail}") from exc

    return guarded
