"""The plain records the emulator keeps in its store: accounts and credit holds, v2 jobs,
queued scenarios and chaos, journal entries. Plain data with no behaviour beyond their
own state, importing nothing of the project but the closed list of outcomes, so that
every layer (the store, the core, the HTTP layer) can use them without a cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from wan26.mockserver.core.outcomes import JOB_OUTCOMES, NETWORK_FAULTS, Forced

DEFAULT_JOB_FAILURE = "Inference failed: the model could not generate a video for this input"


@dataclass
class Account:
    """A key's settings and money as the store last saw them (a snapshot outside memory)."""

    key: str
    credits: Decimal
    free_credits: Decimal
    requests_per_minute: int | None
    models: list[str]
    held: Decimal = field(default_factory=Decimal)  # reserved by calls in flight
    window_start: float = 0.0
    window_count: int = 0

    @property
    def balance(self) -> Decimal:
        return self.credits + self.free_credits

    @property
    def available(self) -> Decimal:
        return self.balance - self.held

    def may_call(self, slug: str) -> bool:
        return "*" in self.models or slug in self.models


@dataclass(frozen=True)
class Hold:
    """Credits reserved for one call. `owner` is the process (a v1 call) or the job
    (`job:<id>`) it belongs to: a dead process's holds are released, a job's stay with
    the job whoever works it."""

    id: str
    key: str
    amount: Decimal
    owner: str


@dataclass(frozen=True)
class Chaos:
    """Seeded random outcomes: a rate per outcome name."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    nonce: str = ""  # new each time chaos is set: the seeded sequence starts again


@dataclass(frozen=True)
class Outcome:
    name: Forced
    # slow-body: how long the body dribbles (default 5 s); gateway-timeout: how long it
    # waits before the 504 (default the scaled gateway timeout).
    seconds: float | None = None
    message: str = DEFAULT_JOB_FAILURE  # job-failed

    @property
    def is_failure(self) -> bool:
        """An HTTP failure from the error catalogue: every outcome that is neither a network
        fault nor a job outcome (test_scenarios checks that the three kinds split Forced)."""
        return not (self.is_network or self.is_job)

    @property
    def is_network(self) -> bool:
        return self.name in NETWORK_FAULTS

    @property
    def is_job(self) -> bool:
        return self.name in JOB_OUTCOMES


@dataclass
class QueuedScenario:
    outcome: Outcome
    remaining: int
    key: str | None = None  # only requests with this API key
    path: str | None = None  # only requests whose path starts with this
    method: str | None = None

    def matches(self, method: str, path: str, key: str | None) -> bool:
        return (
            (self.key is None or self.key == key)
            and (self.path is None or path.startswith(self.path))
            and (self.method is None or self.method.upper() == method)
        )


@dataclass(frozen=True)
class RunTime:
    emulated_s: float  # what the real service would take; reported in x-generation-time
    wall_s: float  # what the emulator waits: emulated_s x time scale


class JobState(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass
class Job:
    """A queued model call, plain data so that any backend can keep it and any process can
    work it; it moves itself through its states."""

    id: str
    key: str
    slug: str
    params: dict[str, Any]
    cost: Decimal
    seed: int
    run: RunTime
    hold: Hold  # the job's credits, charged on COMPLETED and released otherwise
    submitted_at: float  # epoch seconds, like every time here: they survive a restart
    started_at: float | None = None  # when a worker first took it
    finished_at: float | None = None
    outcome: Forced | None = None  # job-failed or job-hang, when forced
    failure_message: str = ""
    state: JobState = JobState.QUEUED
    error: str | None = None
    output: str | None = None  # name of the MP4 in the output store
    journal_id: int | None = None  # the submit's journal entry, which gets the charge
    worker: str | None = None  # the process working it

    @property
    def finished(self) -> bool:
        return self.state in (JobState.COMPLETED, JobState.FAILED)

    def overdue(self, now: float) -> bool:
        """Still being worked though its emulated run time is over (at time scale 0, every
        job that is): its state follows the emulated clock, so a poll waits for it."""
        return (
            self.state is JobState.PROCESSING
            and self.started_at is not None
            and self.outcome != Forced.JOB_HANG
            and self.started_at + self.run.wall_s <= now
        )

    def start(self, now: float, worker: str) -> None:
        self.state, self.worker = JobState.PROCESSING, worker
        if self.started_at is None:
            self.started_at = now

    def complete(self, output: str, now: float) -> None:
        self.state, self.output, self.finished_at = JobState.COMPLETED, output, now

    def fail(self, error: str, now: float) -> None:
        self.state, self.error, self.finished_at = JobState.FAILED, error, now


@dataclass
class JournalEntry:
    """One API request: what came in, what went out, and what the emulator decided.

    Raw as recorded (headers as bytes): made readable only when listed."""

    id: int
    at: float
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: str = ""
    status: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    outcome: str | None = None
    charged_usd: float = 0.0
    render: str | None = None  # a v1 video's key in the render cache (the dashboard plays it)
    cassette: str | None = None  # hit, recorded or miss, when record/replay is on
    cassette_fingerprint: str | None = None
    cassette_miss: dict[str, Any] | None = field(default=None)
    # A model call that passed every check: its fingerprint (the cassette's rule: defaults
    # filled, media by hash, no key) and list price, held when it was admitted.
    fingerprint: str | None = None
    price_usd: float = 0.0
    failure: str | None = None  # the catalogue failure answered, forced or met
    job_id: str | None = None  # a v2 submit's job, or the job a poll asked about
    job_state: str | None = None  # the state a poll of a job answered
    reset_at: str | None = None  # a 429's `x-rate-limit-reset-at-utc`
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=dict)  # bytes left out, by part

    def admitted(self, fingerprint: str, price_usd: float) -> None:
        self.fingerprint, self.price_usd = fingerprint, price_usd
