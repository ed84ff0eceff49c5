"""Queued scenarios and chaos in the state directory's database."""

from __future__ import annotations

from wan26.mockserver.core.records import Chaos, Outcome, QueuedScenario
from wan26.mockserver.store.codec import dump_chaos, dump_scenario, load_chaos, load_scenario
from wan26.mockserver.store.sqlite.db import Database


class SqliteScenarios:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, scenario: QueuedScenario) -> None:
        self._db.rows("INSERT INTO scenarios (data) VALUES (?)", (dump_scenario(scenario),))

    async def all(self) -> list[QueuedScenario]:
        return [
            load_scenario(data)
            for (data,) in self._db.rows("SELECT data FROM scenarios ORDER BY seq")
        ]

    async def take(self, method: str, path: str, key: str | None) -> tuple[Outcome | None, Chaos]:
        [(queued,)] = self._db.rows("SELECT EXISTS (SELECT 1 FROM scenarios)")
        if not queued:  # the usual case, answered by a read: no write lock per request
            return None, await self.chaos()
        async with self._db.write() as db:
            row = db.execute("SELECT data FROM chaos").fetchone()
            chaos = load_chaos(row[0] if row else None)
            for seq, data in db.execute("SELECT seq, data FROM scenarios ORDER BY seq").fetchall():
                scenario = load_scenario(data)
                if not scenario.matches(method, path, key):
                    continue
                scenario.remaining -= 1
                if scenario.remaining <= 0:
                    db.execute("DELETE FROM scenarios WHERE seq = ?", (seq,))
                else:
                    db.execute(
                        "UPDATE scenarios SET data = ? WHERE seq = ?",
                        (dump_scenario(scenario), seq),
                    )
                return scenario.outcome, chaos
        return None, chaos

    async def set_chaos(self, chaos: Chaos) -> None:
        self._db.rows(
            "INSERT OR REPLACE INTO chaos (one, data) VALUES (1, ?)", (dump_chaos(chaos),)
        )

    async def chaos(self) -> Chaos:
        rows = self._db.rows("SELECT data FROM chaos")
        return load_chaos(rows[0][0] if rows else None)

    async def clear(self) -> None:
        async with self._db.write() as db:
            db.execute("DELETE FROM scenarios")
            db.execute("DELETE FROM chaos")
