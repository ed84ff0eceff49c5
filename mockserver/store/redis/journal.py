"""The request journal in Redis, capped at its size by the script that adds an entry."""

from __future__ import annotations

from wan26.mockserver.core.records import JournalEntry
from wan26.mockserver.store import codec
from wan26.mockserver.store.redis.link import Link, Part, reaching


class RedisJournal(Part):
    def __init__(self, link: Link, size: int) -> None:
        super().__init__(link)
        self.size = max(1, size)
        self._journal_start = link.script("journal_start")
        self._journal_update = link.script("journal_update")

    @reaching
    async def start(self, entry: JournalEntry) -> None:
        entry.id = int(
            await self.link.run(self._journal_start, codec.dump_entry(entry), str(self.size))
        )

    @reaching
    async def finish(self, entry: JournalEntry) -> None:
        await self.link.run(self._journal_update, "journal", str(entry.id), codec.dump_entry(entry))

    @reaching
    async def charged(self, entry_id: int, usd: float) -> None:
        await self.link.run(self._journal_update, "journal:charged", str(entry_id), repr(usd))

    @reaching
    async def entries(self) -> list[JournalEntry]:
        async with self.link.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(self.link.key("journal:ids"), 0, -1)
            pipe.hgetall(self.link.key("journal"))
            pipe.hgetall(self.link.key("journal:charged"))
            ids, texts, charged = await pipe.execute()
        entries = []
        for entry_id in ids:
            entry = codec.load_entry(texts[entry_id])
            entry.id = int(entry_id)
            if entry_id in charged:
                entry.charged_usd = float(charged[entry_id])
            entries.append(entry)
        return entries

    @reaching
    async def clear(self) -> None:
        await self.link.redis.delete(
            self.link.key("journal"), self.link.key("journal:ids"), self.link.key("journal:charged")
        )
