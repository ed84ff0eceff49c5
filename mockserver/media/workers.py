"""The worker processes that encode: shared by every emulator in the process, asked for
what a request needs, and, while idle, for what later videos will likely need."""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import sys
import threading
import types
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

import anyio

from wan26.mockserver.media.segments import Picture, Segment, encode_segment, start_worker

# Parts queued to be encoded ahead: a few images' segments (6 each) and a duration's sound beds.
AHEAD_KEPT = 32
logger = logging.getLogger("wan26.mockserver")
_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


@dataclass(frozen=True)
class Ahead:
    """A part encoded before any video asks for it: `keep` gets the bytes (on the pool's
    thread), `after` runs once it is done or dropped; skipped if no longer `needed`."""

    key: str
    function: Callable[..., bytes]
    args: tuple[Any, ...]
    keep: Callable[[bytes], None]
    needed: Callable[[], bool]
    after: Callable[[], None] = lambda: None


class WorkerPool:
    """Worker processes that encode segments, shared by every emulator in this process
    (tests make many). Where processes cannot start at all, threads do the work.

    What a later video will likely need (the rest of an image's segments, the other sound
    beds) is encoded ahead, but only while no worker is busy with what a request asked
    for, so it never holds a request back by more than one part."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self.threads_only = False
        self.checked = False  # once per process: every app's start asks (a test makes many)
        self._lock = threading.Lock()
        self._busy = 0  # parts in the workers, asked for or ahead
        self._ahead: deque[Ahead] = deque()
        self.encoding_ahead: dict[str, Future[bytes]] = {}

    def check(self, processes: int) -> None:
        """At start-up: without a writable /dev/shm (some sandboxes and serverless
        runtimes) multiprocessing cannot make the semaphores a pool needs, and every
        encoding would fail; threads encode instead."""
        if processes <= 0 or self.checked or self.threads_only or self._executor is not None:
            return
        try:
            multiprocessing.get_context("spawn").Lock()
        except (OSError, ImportError) as exc:  # ImportError: a platform without sem_open
            self.threads_only = True
            logger.warning("worker processes cannot be made here (%s); encoding in threads", exc)
        self.checked = True

    async def run(
        self, processes: int, job: tuple[Picture, tuple[int, int], int, Segment]
    ) -> bytes:
        if processes > 0 and not self.threads_only:
            try:
                return await self.in_process(processes, encode_segment, *job)
            except BrokenProcessPool:
                self._executor = None  # a worker died (killed, out of memory): start anew
                if not await anyio.to_thread.run_sync(self._can_start, processes):
                    self.threads_only = True
                    logger.warning("worker processes cannot start here; encoding in threads")
        return await anyio.to_thread.run_sync(encode_segment, *job)

    async def in_process(
        self, processes: int, function: Callable[[*_Args], _T], *args: *_Args
    ) -> _T:
        """asyncio, not anyio: anyio cannot await the Future of an executor of our own."""
        executor = self._pool(processes)
        with self._lock:
            self._busy += 1
        try:
            future = executor.submit(function, *args)
        except BaseException:
            self._done(processes)
            raise
        future.add_done_callback(lambda _: self._done(processes))
        return await asyncio.wrap_future(future)

    @property
    def ahead_left(self) -> int:
        """Parts still to be encoded ahead, queued or under way."""
        with self._lock:
            return len(self._ahead) + len(self.encoding_ahead)

    async def encoded_ahead(self, key: str) -> bytes | None:
        """The part, if it is being encoded ahead (None if not, or if that failed)."""
        future = self.encoding_ahead.get(key)
        if future is None:
            return None
        try:
            # Shielded: a request that leaves must not cancel a part others will use.
            return await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.CancelledError:
            if future.cancelled():  # dropped as the pool closed, not this request
                return None
            raise
        except Exception:  # it failed ahead: the request encodes it and meets the error
            return None

    def ahead(self, processes: int, parts: list[Ahead]) -> None:
        """Encode `parts` in the workers once they have nothing asked of them. The queue
        keeps the newest `AHEAD_KEPT`: a stream of new images (each part of one holds its
        picture's spool file) drops the oldest, the least likely to be seen again."""
        if processes <= 0 or self.threads_only:
            for part in parts:
                part.after()
            return
        self._pool(processes)
        with self._lock:
            self._ahead.extend(parts)
            dropped = [self._ahead.popleft() for _ in range(len(self._ahead) - AHEAD_KEPT)]
        for part in dropped:
            part.after()
        self._feed(processes)

    def _done(self, processes: int) -> None:
        with self._lock:
            self._busy -= 1
        self._feed(processes)

    def _feed(self, processes: int) -> None:
        while (taken := self._take(processes)) is not None:
            executor, part = taken
            try:
                future = executor.submit(part.function, *part.args)
            except Exception:  # the pool is broken or shut down: nothing is encoded ahead
                self._done_ahead(processes, part, None)
                return
            self.encoding_ahead[part.key] = future
            future.add_done_callback(functools.partial(self._done_ahead, processes, part))

    def _take(self, processes: int) -> tuple[ProcessPoolExecutor, Ahead] | None:
        """The next queued part still needed, counted busy; None while the workers are
        busy or nothing is queued. Parts no longer needed, and every part once the pool is
        gone (closed, or broken for good), are dropped on the way."""
        dropped: list[Ahead] = []
        try:
            with self._lock:
                while self._ahead and self._busy < processes:
                    part = self._ahead.popleft()
                    if self._executor is not None and part.needed():
                        self._busy += 1
                        return self._executor, part
                    dropped.append(part)
                return None
        finally:
            for part in dropped:
                part.after()

    def _done_ahead(self, processes: int, part: Ahead, future: Future[bytes] | None) -> None:
        if future is not None and self.encoding_ahead.get(part.key) is future:
            del self.encoding_ahead[part.key]
        if future is not None and not future.cancelled() and future.exception() is None:
            part.keep(future.result())
        part.after()
        self._done(processes)

    def _pool(self, processes: int) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            executor = ProcessPoolExecutor(
                max_workers=processes, mp_context=context, initializer=start_worker
            )
            # "spawn" starts each worker by importing the program's main module again,
            # which runs a script without the `if __name__ == "__main__":` guard a second
            # time. The workers need nothing from it, so they are all started here, while
            # the main module is hidden from multiprocessing.
            with _main_module_hidden():
                for _ in range(processes):
                    executor.submit(int)
            self._executor = executor
        return self._executor

    def close(self) -> None:
        """Stop the worker processes. A process started by multiprocessing (`--workers N`)
        joins its children before the executor's own exit hook would run, so it must."""
        with self._lock:
            dropped, self._ahead = list(self._ahead), deque()
        for part in dropped:
            part.after()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _can_start(self, processes: int) -> bool:
        try:
            return self._pool(processes).submit(abs, -1).result(timeout=120) == 1
        except (BrokenProcessPool, TimeoutError):
            self._executor = None
            return False


WORKERS = WorkerPool()


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main
