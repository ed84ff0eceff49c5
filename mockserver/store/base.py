"""What every state backend keeps, and the one interface the emulator uses to reach it.

The emulator never touches state except through a `Store`, so the same core runs on
the memory backend (one process, nothing on disk), a state directory (SQLite, survives
restarts, shared by the processes of one host) and Redis (shared by many hosts).

Every method is one step: a check and the change it guards (a credit hold, a rate-limit
count, a job claim, using up a queued scenario) happen atomically in the backend, so
concurrent requests in different processes cannot overspend or double-claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from wan26.mockserver.core.records import Account as Account
from wan26.mockserver.core.records import Chaos as Chaos
from wan26.mockserver.core.records import Hold as Hold
from wan26.mockserver.core.records import Job, JournalEntry, Outcome, QueuedScenario

BEAT_S = 2.0  # how often a process says it is alive and takes back what dead ones left
# A process silent this long is taken for dead (SQLite also checks whether its pid runs).
GONE_AFTER_S = 10.0


class StoreUnavailable(Exception):
    """The backend cannot be reached (Redis went away, the state directory is locked or
    gone). The API answers 503 and nothing is charged; the store recovers by itself."""


class Lifecycle(Protocol):
    """A process's life with the backend, and the reset every concern takes part in."""

    owner: str  # this process, as holds and claimed jobs name it

    async def start(self) -> None:
        """Open the backend, say this process is alive, take back what dead ones left."""

    async def beat(self) -> None:
        """Say this process is still alive; release the holds of processes that are gone and
        make their PROCESSING jobs claimable again (they resume with their remaining time)."""

    async def aclose(self) -> None:
        """Let go of the backend; this process's v1 holds are released."""

    async def reset(self, accounts: Sequence[Account]) -> None:
        """Everything back to the configured accounts, for every process: holds, rate
        windows, jobs, scenarios, chaos, the journal and outputs are cleared."""


class Accounts(Protocol):
    """Accounts and money. Amounts are Decimal micro-dollars (see billing.py)."""

    async def get(self, key: str) -> Account | None: ...

    async def all(self) -> list[Account]: ...

    async def put(self, account: Account) -> Account:
        """Add a key or replace its settings; its holds and rate window are kept."""

    async def remove(self, key: str) -> bool: ...

    async def count_request(self, key: str, now: float, window_s: float) -> float | None:
        """Count one request in the key's window (a fixed window opened by its first request);
        over the plan, count nothing and return when the window ends (epoch seconds)."""

    async def hold(self, key: str, amount: Decimal, owner: str) -> Hold | Decimal:
        """Reserve `amount` if that much is available; otherwise the amount available."""

    async def release(self, hold: Hold) -> None:
        """Give a hold back (a call that failed); nothing if it is gone already."""

    async def charge(self, hold: Hold) -> Decimal | None:
        """Turn a hold into a charge (free credits first) and return the balance after;
        None when the hold is gone (a reset came in between): nothing is charged."""


class Jobs(Protocol):
    """The v2 queue. Times are epoch seconds, so they mean the same after a restart."""

    async def add(self, job: Job) -> None: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def all(self) -> list[Job]:
        """Every job, in submission order."""

    async def claim(self, now: float) -> Job | None:
        """The oldest job waiting for a worker, now PROCESSING and this process's: a QUEUED
        one (started now), or one whose process died (it keeps its start time)."""

    async def save(self, job: Job) -> bool:
        """Store a job's new state; False when it is gone (expired or reset), so its worker
        drops the result."""

    async def expire(self, submitted_before: float) -> list[str]:
        """Drop the jobs submitted before the time, releasing the holds they still have."""


class Scenarios(Protocol):
    """Forced outcomes queued through the control plane, and chaos."""

    async def add(self, scenario: QueuedScenario) -> None: ...

    async def all(self) -> list[QueuedScenario]: ...

    async def take(self, method: str, path: str, key: str | None) -> tuple[Outcome | None, Chaos]:
        """The first queued scenario this request matches, used up by one, and the chaos in
        force (read in the same step, so a request costs one round trip)."""

    async def set_chaos(self, chaos: Chaos) -> None: ...

    async def chaos(self) -> Chaos: ...

    async def clear(self) -> None:
        """Queued scenarios and chaos."""


class Journal(Protocol):
    """The request journal, capped at the configured size (the oldest go first)."""

    async def start(self, entry: JournalEntry) -> None:
        """Add a request as it arrives; sets `entry.id`."""

    async def finish(self, entry: JournalEntry) -> None:
        """Store what the request became (status, body, error, charge...)."""

    async def charged(self, entry_id: int, usd: float) -> None:
        """A v2 job's charge, set on its submit's entry when the job completes."""

    async def entries(self) -> list[JournalEntry]:
        """Every entry, oldest first."""

    async def clear(self) -> None: ...


class Outputs(Protocol):
    """Finished jobs' MP4s."""

    async def put(self, data: bytes) -> str:
        """Keep a video; its name (content-addressed, so the same video is kept once)."""

    async def path(self, name: str) -> Path | None:
        """A local file holding the video, for FileResponse (Range works); None if unknown."""


class Store(Lifecycle, Protocol):
    """Everything the emulator keeps: the process's life with the backend here, each
    concern behind an object of its own (`store.accounts.hold(...)`, `store.jobs.claim(...)`)."""

    @property
    def accounts(self) -> Accounts: ...

    @property
    def jobs(self) -> Jobs: ...

    @property
    def scenarios(self) -> Scenarios: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def outputs(self) -> Outputs: ...
