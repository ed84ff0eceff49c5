"""The request journal in the state directory's database, capped at its size."""

from __future__ import annotations

from dataclasses import replace

from wan26.mockserver.core.records import JournalEntry
from wan26.mockserver.store.codec import dump_entry, load_entry
from wan26.mockserver.store.sqlite.db import Database


def entry_from(entry_id: int, data: str) -> JournalEntry:
    """The id is the row's: the JSON was written before the row had one."""
    entry = load_entry(data)
    entry.id = entry_id
    return entry


class SqliteJournal:
    def __init__(self, db: Database, size: int) -> None:
        self._db = db
        self.size = max(1, size)

    async def start(self, entry: JournalEntry) -> None:
        async with self._db.write() as db:
            added = db.execute(
                "INSERT INTO journal (data) VALUES (?) RETURNING id", (dump_entry(entry),)
            )
            entry.id = int(added.fetchone()[0])
            # Ids only grow, so the newest `journal_size` are above this one (found by the
            # key, not by counting rows: the cap costs the same however full the journal).
            db.execute("DELETE FROM journal WHERE id <= ?", (entry.id - self.size,))

    async def finish(self, entry: JournalEntry) -> None:
        """Keeps a charge set by `charged`: a fast v2 job can complete before its
        submit's entry is finished (in memory both write one object)."""
        async with self._db.write() as db:
            row = db.execute(
                "SELECT json_extract(data, '$.charged_usd') FROM journal WHERE id = ?",
                (entry.id,),
            ).fetchone()
            if row is None:
                return
            if not entry.charged_usd and row[0]:
                entry = replace(entry, charged_usd=row[0])
            db.execute("UPDATE journal SET data = ? WHERE id = ?", (dump_entry(entry), entry.id))

    async def charged(self, entry_id: int, usd: float) -> None:
        async with self._db.write() as db:
            row = db.execute("SELECT data FROM journal WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                return
            entry = load_entry(row[0])
            entry.charged_usd = usd
            db.execute("UPDATE journal SET data = ? WHERE id = ?", (dump_entry(entry), entry_id))

    async def entries(self) -> list[JournalEntry]:
        return [
            entry_from(*row) for row in self._db.rows("SELECT id, data FROM journal ORDER BY id")
        ]

    async def clear(self) -> None:
        self._db.rows("DELETE FROM journal")
