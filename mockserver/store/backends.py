"""Which backend a config names, and how a process names itself to a shared one."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import anyio

from wan26.mockserver.config import Config
from wan26.mockserver.store.base import Store
from wan26.mockserver.store.memory import MemoryStore


def process_name() -> str:
    """How this process names itself to a shared backend: host, pid, and a random part so a
    reused pid is a new process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def open_store(config: Config) -> Store:
    """The backend the config names (not opened yet: `start()` does that)."""
    size = config.control.journal_size
    if config.state_dir:
        from wan26.mockserver.store.sqlite import SqliteStore

        return SqliteStore(
            Path(config.state_dir).expanduser(),
            journal_size=size,
            output_bytes=config.queue.output_store_bytes,
            owner=process_name(),
        )
    if config.redis_url:
        from wan26.mockserver.store.redis import RedisStore

        return RedisStore(
            config.redis_url,
            journal_size=size,
            # Fixed now, yet `PUT /_mock/settings` may raise the time scale later (a test run
            # at 0, then 1), and jobs then live longer. Kept as long as at scale 1 at least, an
            # output may outlive a short job; it dies before its job only if the scale is
            # raised past both 1 and the scale at start.
            output_ttl_s=config.queue.ttl(max(1.0, config.time_scale)),
            outputs_dir=Path(config.outputs_dir).expanduser() if config.outputs_dir else None,
            owner=process_name(),
            prefix=config.redis_prefix,
        )
    return MemoryStore(size, config.queue.output_store_bytes)


def check_reachable(config: Config) -> None:
    """Raise `StoreUnavailable` now if the config's Redis cannot be reached, so that a
    wrong URL is one line at start rather than a failed start-up (a state directory is
    checked when it is opened)."""
    if not config.redis_url:
        return

    async def probe() -> None:
        store = open_store(config)
        try:
            await store.accounts.get("")
        finally:
            await store.aclose()

    anyio.run(probe)
