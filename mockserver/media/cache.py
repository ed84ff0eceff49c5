"""Rendered videos by content key: bounded by bytes, oldest-used evicted, one render per key.

A render is shared by every request for its key, so it belongs to none of them: it
runs in a shielded scope and stops early only when every request waiting for it has
been cancelled. The request that started it hosts it, and if cancelled while others
still wait, ends when the render does (its work is then kept, not thrown away).

One cache may serve apps on several event loops (tests run an app in process and another
on a server thread): finished items are shared by all, a render in progress only with
requests of its own loop, whose events it uses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

Pending = tuple[object, str]  # the event loop's token and the key


class _Render:
    """One render in progress: how many requests still wait for it, then its outcome."""

    def __init__(self) -> None:
        self.scope = anyio.CancelScope(shield=True)
        self.done = anyio.Event()
        self.waiting = 0
        self.data: bytes | None = None
        self.error: Exception | None = None

    def outcome(self) -> bytes:
        if self.error is not None:
            raise self.error
        assert self.data is not None  # only a render no one waits for ends without one
        return self.data


class RenderCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._pending: dict[Pending, _Render] = {}
        self._lock = threading.Lock()  # the items, for loops on other threads
        self.hits = 0
        self.misses = 0

    async def get_or_render(self, key: str, render: Callable[[], Awaitable[bytes]]) -> bytes:
        """Concurrent requests for one key share a single render."""
        data = self.get(key)
        if data is not None:
            return data
        pending = (anyio.lowlevel.current_token(), key)
        shared = self._pending.get(pending)
        if shared is not None:
            self.hits += 1
            await self._wait(pending, shared)
            return shared.outcome()
        self.misses += 1
        shared = self._pending[pending] = _Render()
        async with anyio.create_task_group() as group:
            group.start_soon(self._render, pending, shared, render)
            await self._wait(pending, shared)
        return shared.outcome()  # raised here, not in the task group's exception group

    def get(self, key: str) -> bytes | None:
        """A finished item, counted as a hit; None if there is none."""
        data = self._items.get(key)
        if data is not None:
            self.hits += 1
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Keep `data` made elsewhere (ahead of any request, on a pool's thread)."""
        self._store(key, data)

    def peek(self, key: str) -> bytes | None:
        """A cached video without counting a hit or changing its age (for the dashboard)."""
        return self._items.get(key)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    async def _render(
        self, pending: Pending, shared: _Render, render: Callable[[], Awaitable[bytes]]
    ) -> None:
        try:
            with shared.scope:
                try:
                    shared.data = await render()
                except Exception as exc:  # every waiter raises it
                    shared.error = exc
                else:
                    self._store(pending[1], shared.data)
        finally:
            self._forget(pending, shared)
            shared.done.set()

    async def _wait(self, pending: Pending, shared: _Render) -> None:
        """Until the render ends; the last waiter to be cancelled cancels the render."""
        shared.waiting += 1
        try:
            await shared.done.wait()
        except anyio.get_cancelled_exc_class():
            shared.waiting -= 1
            if not shared.waiting:
                shared.scope.cancel()
                self._forget(pending, shared)  # a request coming now starts a render of its own
            raise

    def _forget(self, pending: Pending, shared: _Render) -> None:
        if self._pending.get(pending) is shared:
            del self._pending[pending]

    def _store(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            if key in self._items:  # rendered meanwhile on another loop
                return
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted)
