"""The request journal in this process's memory: the requests' own objects, capped."""

from __future__ import annotations

import itertools
from collections import deque

from wan26.mockserver.core.records import JournalEntry


class MemoryJournal:
    def __init__(self, size: int) -> None:
        self.kept: deque[JournalEntry] = deque(maxlen=max(1, size))
        self._ids = itertools.count(1)

    async def start(self, entry: JournalEntry) -> None:
        entry.id = next(self._ids)
        self.kept.append(entry)

    async def finish(self, entry: JournalEntry) -> None:
        return None  # the entry in the deque is the request's own object

    async def charged(self, entry_id: int, usd: float) -> None:
        for entry in reversed(self.kept):
            if entry.id == entry_id:
                entry.charged_usd = usd
                return

    async def entries(self) -> list[JournalEntry]:
        return list(self.kept)

    async def clear(self) -> None:
        self.kept.clear()
