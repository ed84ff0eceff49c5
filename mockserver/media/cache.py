"""Rendered videos by content key: bounded by bytes, oldest-used evicted, one render per key."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable


class RenderCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self.hits = 0
        self.misses = 0

    async def get_or_render(self, key: str, render: Callable[[], Awaitable[bytes]]) -> bytes:
        """Concurrent requests for one key share a single render."""
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        if key in self._pending:
            self.hits += 1
            return await asyncio.shield(self._pending[key])
        self.misses += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            data = await render()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, get it themselves
            raise
        finally:
            del self._pending[key]
        future.set_result(data)
        self._store(key, data)
        return data

    def peek(self, key: str) -> bytes | None:
        """A cached video without counting a hit or changing its age (for the dashboard)."""
        return self._items.get(key)

    def clear(self) -> None:
        self._items.clear()
        self._size = 0

    def _store(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        self._items[key] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._size -= len(evicted)
