"""The default backend: everything in this process's memory, nothing on disk.

Touched only from the event loop, so every method is one step without locks. The
fastest backend, and the one the pytest plugin uses.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from wan26.mockserver.core.records import (
    Account,
    Chaos,
    Hold,
    Job,
    JobState,
    JournalEntry,
    Outcome,
    QueuedScenario,
)
from wan26.mockserver.store.outputs import OutputStore


class MemoryStore:
    def __init__(self, journal_size: int, output_bytes: int, owner: str = "memory") -> None:
        self.owner = owner
        self.accounts_by_key: dict[str, Account] = {}
        self.holds: dict[str, Hold] = {}
        self.jobs_by_id: OrderedDict[str, Job] = OrderedDict()
        self.queued: list[QueuedScenario] = []
        self.chaos_in_force = Chaos()
        self.entries: deque[JournalEntry] = deque(maxlen=max(1, journal_size))
        self.outputs = OutputStore(output_bytes)
        self._hold_ids = itertools.count(1)
        self._entry_ids = itertools.count(1)

    def seed(self, accounts: Sequence[Account]) -> None:
        """The configured keys, before the event loop runs (the store needs no start)."""
        self.accounts_by_key = {a.key: replace(a, held=Decimal(0)) for a in accounts}

    async def start(self) -> None:
        return None

    async def beat(self) -> None:
        return None

    async def aclose(self) -> None:
        self.outputs.close()

    async def reset(self, accounts: Sequence[Account]) -> None:
        self.seed(accounts)
        self.holds.clear()
        self.jobs_by_id.clear()
        self.queued.clear()
        self.chaos_in_force = Chaos()
        self.entries.clear()
        self.outputs.clear()

    async def account(self, key: str) -> Account | None:
        return self.accounts_by_key.get(key)

    async def accounts(self) -> list[Account]:
        return list(self.accounts_by_key.values())

    async def put_account(self, account: Account) -> Account:
        current = self.accounts_by_key.setdefault(account.key, account)
        if current is not account:
            current.credits, current.free_credits = account.credits, account.free_credits
            current.requests_per_minute, current.models = (
                account.requests_per_minute,
                account.models,
            )
        return current

    async def remove_account(self, key: str) -> bool:
        return self.accounts_by_key.pop(key, None) is not None

    async def count_request(self, key: str, now: float, window_s: float) -> float | None:
        account = self.accounts_by_key.get(key)
        if account is None or account.requests_per_minute is None:
            return None
        if now - account.window_start >= window_s:
            account.window_start, account.window_count = now, 0
        if account.window_count >= account.requests_per_minute:
            return account.window_start + window_s
        account.window_count += 1
        return None

    async def hold(self, key: str, amount: Decimal, owner: str) -> Hold | Decimal:
        account = self.accounts_by_key.get(key)
        if account is None:
            return Decimal(0)
        if account.available < amount:
            return account.available
        account.held += amount
        hold = Hold(str(next(self._hold_ids)), key, amount, owner)
        self.holds[hold.id] = hold
        return hold

    async def release(self, hold: Hold) -> None:
        if self.holds.pop(hold.id, None) is None:
            return
        account = self.accounts_by_key.get(hold.key)
        if account is not None:
            account.held = max(Decimal(0), account.held - hold.amount)

    async def charge(self, hold: Hold) -> Decimal | None:
        account = self.accounts_by_key.get(hold.key)
        if hold.id not in self.holds or account is None:
            return None
        await self.release(hold)
        from_free = min(account.free_credits, hold.amount)
        account.free_credits -= from_free
        account.credits -= hold.amount - from_free
        return account.balance

    async def add_job(self, job: Job) -> None:
        self.jobs_by_id[job.id] = job

    async def job(self, job_id: str) -> Job | None:
        return self.jobs_by_id.get(job_id)

    async def jobs(self) -> list[Job]:
        return list(self.jobs_by_id.values())

    async def claim_job(self, now: float) -> Job | None:
        for job in self.jobs_by_id.values():
            if job.state is JobState.QUEUED:
                job.start(now, self.owner)
                return job
        return None

    async def save_job(self, job: Job) -> bool:
        return self.jobs_by_id.get(job.id) is job

    async def expire_jobs(self, submitted_before: float) -> list[str]:
        dropped = []
        while self.jobs_by_id:
            job = next(iter(self.jobs_by_id.values()))
            if job.submitted_at > submitted_before:
                break
            del self.jobs_by_id[job.id]
            await self.release(job.hold)
            dropped.append(job.id)
        return dropped

    async def add_scenario(self, scenario: QueuedScenario) -> None:
        self.queued.append(scenario)

    async def scenarios(self) -> list[QueuedScenario]:
        return list(self.queued)

    async def take_scenario(
        self, method: str, path: str, key: str | None
    ) -> tuple[Outcome | None, Chaos]:
        for scenario in self.queued:
            if scenario.matches(method, path, key):
                scenario.remaining -= 1
                if scenario.remaining <= 0:
                    self.queued.remove(scenario)
                return scenario.outcome, self.chaos_in_force
        return None, self.chaos_in_force

    async def set_chaos(self, chaos: Chaos) -> None:
        self.chaos_in_force = chaos

    async def chaos(self) -> Chaos:
        return self.chaos_in_force

    async def clear_scenarios(self) -> None:
        self.queued.clear()
        self.chaos_in_force = Chaos()

    async def journal_start(self, entry: JournalEntry) -> None:
        entry.id = next(self._entry_ids)
        self.entries.append(entry)

    async def journal_finish(self, entry: JournalEntry) -> None:
        return None  # the entry in the deque is the request's own object

    async def journal_charged(self, entry_id: int, usd: float) -> None:
        for entry in reversed(self.entries):
            if entry.id == entry_id:
                entry.charged_usd = usd
                return

    async def journal(self) -> list[JournalEntry]:
        return list(self.entries)

    async def clear_journal(self) -> None:
        self.entries.clear()

    async def put_output(self, data: bytes) -> str:
        return self.outputs.put(data)

    async def output_path(self, name: str) -> Path | None:
        return self.outputs.path(name)
