"""The default backend: everything in this process's memory, nothing on disk.

Touched only from the event loop, so every method is one step without locks. The
fastest backend, and the one the pytest plugin uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from wan26.mockserver.core.records import Account
from wan26.mockserver.store.memory.accounts import MemoryAccounts
from wan26.mockserver.store.memory.jobs import MemoryJobs
from wan26.mockserver.store.memory.journal import MemoryJournal
from wan26.mockserver.store.memory.outputs import MemoryOutputs
from wan26.mockserver.store.memory.scenarios import MemoryScenarios


class MemoryStore:
    def __init__(self, journal_size: int, output_bytes: int, owner: str = "memory") -> None:
        self.owner = owner
        self.accounts = MemoryAccounts()
        self.jobs = MemoryJobs(self.accounts, owner)
        self.scenarios = MemoryScenarios()
        self.journal = MemoryJournal(journal_size)
        self.outputs = MemoryOutputs(output_bytes)

    def seed(self, accounts: Sequence[Account]) -> None:
        """The configured keys, before the event loop runs (the store needs no start)."""
        self.accounts.seed(accounts)

    async def start(self) -> None:
        return None

    async def beat(self) -> None:
        return None

    async def aclose(self) -> None:
        self.outputs.files.close()

    async def reset(self, accounts: Sequence[Account]) -> None:
        self.accounts.seed(accounts)
        self.jobs.by_id.clear()
        await self.scenarios.clear()
        await self.journal.clear()
        self.outputs.files.clear()
