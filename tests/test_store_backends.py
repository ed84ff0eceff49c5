"""Every state backend keeps the same promises: one test each, run on memory, a state
directory (SQLite) and Redis. Where a promise is about several processes, two stores on
one backend stand for two processes (their clocks apart when one must look dead)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from wan26.contracts.core.access import fingerprint
from wan26.mockserver.config import Config
from wan26.mockserver.core.jobs import Job, JobState
from wan26.mockserver.core.latency import RunTime
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.core.scenarios import Outcome, QueuedScenario
from wan26.mockserver.http.journal import JournalEntry
from wan26.mockserver.store import backends
from wan26.mockserver.store.base import GONE_AFTER_S, Account, Chaos, Hold, Store
from wan26.mockserver.store.memory import MemoryStore
from wan26.mockserver.store.redis import RedisStore
from wan26.mockserver.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio
SHARED = ["sqlite", "redis"]
BACKENDS = ["memory", *SHARED]

Opener = Callable[..., Store]


@pytest.fixture(params=BACKENDS)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens stores of one backend on one shared place (a folder, a Redis prefix)."""
    backend = request.param
    prefix = f"wan26-test-{uuid.uuid4().hex[:8]}:"
    opened: list[Store] = []

    def open_store(
        owner: str = "p1", clock: Callable[[], float] | None = None, journal_size: int = 100
    ) -> Store:
        store: Store
        if backend == "memory":
            store = MemoryStore(journal_size, 10**9, owner)
        elif backend == "sqlite":
            store = SqliteStore(
                tmp_path / "state",
                journal_size=journal_size,
                output_bytes=10**9,
                owner=owner,
                **({"clock": clock} if clock else {}),
            )
        else:
            url = request.getfixturevalue("redis_url")
            store = RedisStore(
                url,
                journal_size=journal_size,
                output_ttl_s=3600,
                outputs_dir=None,
                owner=owner,
                prefix=prefix,
                **({"clock": clock} if clock else {}),
            )
        opened.append(store)
        return store

    open_store.backend = backend  # type: ignore[attr-defined]
    yield open_store
    for store in opened:
        await store.aclose()


def account(
    key: str = "k", credits: str = "10", free: str = "0", rate: int | None = None
) -> Account:
    return Account(key, Decimal(credits), Decimal(free), rate, ["*"])


def job(job_id: str, hold: Hold, submitted_at: float = 1000.0) -> Job:
    return Job(
        id=job_id,
        key=hold.key,
        slug="wan-2.6-i2v",
        params={"duration": 5, "resolution": "720p"},
        cost=hold.amount,
        seed=7,
        run=RunTime(emulated_s=139.0, wall_s=1.39),
        hold=hold,
        submitted_at=submitted_at,
        journal_id=3,
    )


def entry(path: str = "/v1/wan-2.6-i2v") -> JournalEntry:
    return JournalEntry(
        id=0,
        at=1000.0,
        method="POST",
        path=path,
        query=b"a=1",
        headers=[(b"x-api-key", b"secret"), (b"content-type", b"application/json")],
    )


async def started(open_store: Opener, **options: object) -> Store:
    store = open_store(**options)
    await store.start()
    await store.reset([account()])
    return store


async def test_accounts_are_added_changed_listed_and_removed(opener: Opener) -> None:
    store = await started(opener)
    await store.accounts.put(account("k2", "3.5", "1", 7))
    got = await store.accounts.get("k2")
    assert got is not None
    assert (got.credits, got.free_credits, got.requests_per_minute) == (Decimal("3.5"), 1, 7)
    hold = await store.accounts.hold("k2", Decimal("1"), store.owner)
    assert isinstance(hold, Hold)
    await store.accounts.put(account("k2", "8"))
    got = await store.accounts.get("k2")
    assert got is not None and (got.credits, got.held, got.requests_per_minute) == (8, 1, None)
    assert sorted(a.key for a in await store.accounts.all()) == ["k", "k2"]
    assert await store.accounts.remove("k2") is True
    assert await store.accounts.remove("k2") is False
    assert await store.accounts.get("k2") is None


async def test_a_hold_is_granted_only_from_what_is_available(opener: Opener) -> None:
    store = await started(opener)
    first = await store.accounts.hold("k", Decimal("6"), store.owner)
    assert isinstance(first, Hold) and first.amount == 6
    assert await store.accounts.hold("k", Decimal("5"), store.owner) == Decimal("4")
    await store.accounts.release(first)
    await store.accounts.release(first)  # twice is once
    again = await store.accounts.hold("k", Decimal("10"), store.owner)
    assert isinstance(again, Hold)
    got = await store.accounts.get("k")
    assert got is not None and got.available == 0 and got.balance == 10


async def test_a_hold_of_nothing_is_granted_released_and_charged(opener: Opener) -> None:
    store = await started(opener)
    free = await store.accounts.hold("k", Decimal(0), store.owner)
    assert isinstance(free, Hold)
    await store.accounts.release(free)
    again = await store.accounts.hold("k", Decimal("0.000000"), "job:j")
    assert isinstance(again, Hold) and await store.accounts.charge(again) == 10
    got = await store.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (10, 0)


async def test_a_charge_spends_free_credits_first_and_returns_the_balance(opener: Opener) -> None:
    store = await started(opener)
    await store.accounts.put(account("k", "10", "0.25"))
    hold = await store.accounts.hold("k", Decimal("0.625"), store.owner)
    assert isinstance(hold, Hold)
    assert await store.accounts.charge(hold) == Decimal("9.625")
    got = await store.accounts.get("k")
    assert got is not None
    assert (got.credits, got.free_credits, got.held) == (Decimal("9.625"), 0, 0)
    assert await store.accounts.charge(hold) is None  # a hold is charged once


async def test_a_hold_from_before_a_reset_is_never_charged(opener: Opener) -> None:
    store = await started(opener)
    hold = await store.accounts.hold("k", Decimal("1"), store.owner)
    assert isinstance(hold, Hold)
    await store.reset([account()])
    assert await store.accounts.charge(hold) is None
    got = await store.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (10, 0)


async def test_concurrent_holds_in_two_processes_never_overspend(opener: Opener) -> None:
    if opener.backend == "memory":  # type: ignore[attr-defined]
        pytest.skip("one process only")
    one = await started(opener, owner="p1")
    two = opener(owner="p2")
    await two.start()
    granted: list[Hold] = []

    async def try_hold(store: Store) -> None:
        result = await store.accounts.hold("k", Decimal("0.625"), store.owner)
        if isinstance(result, Hold):
            granted.append(result)

    async with anyio.create_task_group() as group:
        for i in range(100):
            group.start_soon(try_hold, one if i % 2 else two)
    assert len(granted) == 16  # 16 x 0.625 = 10
    for hold in granted:
        await (one if hold.owner == "p1" else two).accounts.charge(hold)
    got = await two.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (0, 0)


async def test_requests_are_counted_in_a_fixed_window(opener: Opener) -> None:
    store = await started(opener)
    await store.accounts.put(account(rate=2))
    assert await store.accounts.count_request("k", 100.0, 60.0) is None
    assert await store.accounts.count_request("k", 110.0, 60.0) is None
    assert await store.accounts.count_request("k", 120.0, 60.0) == 160.0
    assert await store.accounts.count_request("k", 160.0, 60.0) is None  # a new window
    got = await store.accounts.get("k")
    assert got is not None and (got.window_start, got.window_count) == (160.0, 1)
    assert await store.accounts.count_request("unlimited-or-unknown", 0.0, 60.0) is None


async def test_jobs_are_kept_claimed_in_order_and_saved(opener: Opener) -> None:
    store = await started(opener)
    for n, at in enumerate([1000.0, 1001.0]):
        hold = await store.accounts.hold("k", Decimal(1), f"job:j{n}")
        assert isinstance(hold, Hold)
        await store.jobs.add(job(f"j{n}", hold, at))
    assert [j.id for j in await store.jobs.all()] == ["j0", "j1"]
    claimed = await store.jobs.claim(2000.0)
    assert claimed is not None and claimed.id == "j0"
    assert (claimed.state, claimed.started_at, claimed.worker) == (
        JobState.PROCESSING,
        2000.0,
        store.owner,
    )
    second = await store.jobs.claim(2001.0)
    assert second is not None and second.id == "j1"
    assert await store.jobs.claim(2002.0) is None
    claimed.complete("abc.mp4", 2010.0)
    assert await store.jobs.save(claimed) is True
    kept = await store.jobs.get("j0")
    assert kept is not None
    assert (kept.state, kept.output, kept.finished_at) == (JobState.COMPLETED, "abc.mp4", 2010.0)
    assert kept.run == RunTime(139.0, 1.39) and kept.cost == 1 and kept.params["duration"] == 5
    assert kept.hold == claimed.hold and kept.journal_id == 3
    assert await store.jobs.get("nope") is None


async def test_expired_jobs_go_with_their_holds_and_cannot_be_saved(opener: Opener) -> None:
    store = await started(opener)
    hold = await store.accounts.hold("k", Decimal(4), "job:old")
    assert isinstance(hold, Hold)
    await store.jobs.add(job("old", hold, 1000.0))
    kept = await store.accounts.hold("k", Decimal(1), "job:new")
    assert isinstance(kept, Hold)
    await store.jobs.add(job("new", kept, 2000.0))
    claimed = await store.jobs.claim(2000.0)
    assert await store.jobs.expire(1500.0) == ["old"]
    assert [j.id for j in await store.jobs.all()] == ["new"]
    got = await store.accounts.get("k")
    assert got is not None and got.held == 1
    assert claimed is not None and await store.jobs.save(claimed) is False


async def test_a_dead_process_leaves_its_jobs_and_gives_back_its_holds(opener: Opener) -> None:
    if opener.backend == "memory":  # type: ignore[attr-defined]
        pytest.skip("one process only")
    now = [5000.0]
    dead = await started(opener, owner="dead", clock=lambda: now[0])
    v1 = await dead.accounts.hold("k", Decimal(2), dead.owner)
    job_hold = await dead.accounts.hold("k", Decimal(3), "job:j")
    assert isinstance(v1, Hold) and isinstance(job_hold, Hold)
    await dead.jobs.add(job("j", job_hold))
    assert (await dead.jobs.claim(5000.0)) is not None
    now[0] += GONE_AFTER_S + 5
    alive = opener(owner="alive", clock=lambda: now[0])
    await alive.start()
    await alive.beat()
    got = await alive.accounts.get("k")
    assert got is not None and got.held == 3  # the v1 hold is back, the job's is kept
    resumed = await alive.jobs.claim(now[0])
    assert resumed is not None and resumed.id == "j"
    assert (resumed.state, resumed.started_at, resumed.worker) == (
        JobState.PROCESSING,
        5000.0,
        "alive",
    )
    assert await alive.accounts.charge(resumed.hold) == Decimal(7)


async def test_queued_scenarios_are_used_up_in_order_and_chaos_is_read_with_them(
    opener: Opener,
) -> None:
    store = await started(opener)
    failed = Outcome(Forced.JOB_FAILED, message="boom")
    await store.scenarios.add(QueuedScenario(Outcome(Forced.RATE_LIMITED), 2, key="k"))
    await store.scenarios.add(QueuedScenario(failed, 1, path="/v2/", method="post"))
    await store.scenarios.set_chaos(Chaos({"server-error": 0.5}, 9, "n1"))
    assert await store.scenarios.chaos() == Chaos({"server-error": 0.5}, 9, "n1")
    outcome, chaos = await store.scenarios.take("POST", "/v2/wan", "other")
    assert outcome == failed and chaos == Chaos({"server-error": 0.5}, 9, "n1")
    assert [(s.outcome.name, s.remaining) for s in await store.scenarios.all()] == [
        (Forced.RATE_LIMITED, 2)
    ]
    for _ in range(2):
        outcome, _ = await store.scenarios.take("GET", "/v1/x", "k")
        assert outcome == Outcome(Forced.RATE_LIMITED)
    assert await store.scenarios.take("GET", "/v1/x", "k") == (
        None,
        Chaos({"server-error": 0.5}, 9, "n1"),
    )
    await store.scenarios.add(QueuedScenario(failed, 3))
    await store.scenarios.clear()
    assert await store.scenarios.all() == []
    assert await store.scenarios.take("GET", "/", None) == (None, Chaos())


async def test_the_journal_keeps_entries_in_order_updates_them_and_is_capped(
    opener: Opener,
) -> None:
    store = await started(opener, journal_size=3)
    entries = [entry(f"/v1/{n}") for n in range(4)]
    for e in entries:
        await store.journal.start(e)
    ids = [e.id for e in entries]
    assert ids == sorted(ids) and len(set(ids)) == 4
    last = entries[-1]
    last.status, last.error, last.body, last.outcome = 402, "no money", "{}", "insufficient-credits"
    await store.journal.finish(last)
    await store.journal.charged(entries[2].id, 0.625)
    kept = await store.journal.entries()
    assert [e.path for e in kept] == ["/v1/1", "/v1/2", "/v1/3"]
    assert kept[1].charged_usd == 0.625
    assert (kept[2].status, kept[2].error, kept[2].outcome) == (
        402,
        "no money",
        "insufficient-credits",
    )
    # Kept outside the process, the key is masked as everywhere it is shown.
    shown = fingerprint("secret").encode() if opener.backend != "memory" else b"secret"  # type: ignore[attr-defined]
    assert kept[2].headers == [(b"x-api-key", shown), (b"content-type", b"application/json")]
    assert kept[2].query == b"a=1"
    await store.journal.clear()
    assert await store.journal.entries() == []


async def test_outputs_are_kept_once_and_served_from_a_local_file(opener: Opener) -> None:
    store = await started(opener)
    name = await store.outputs.put(b"\x00mp4 bytes")
    assert await store.outputs.put(b"\x00mp4 bytes") == name
    path = await store.outputs.path(name)
    assert path is not None and path.read_bytes() == b"\x00mp4 bytes"
    assert await store.outputs.path("0" * 32 + ".mp4") is None
    assert await store.outputs.path("../../etc/passwd") is None


async def test_a_reset_clears_everything_for_every_process(opener: Opener) -> None:
    store = await started(opener)
    hold = await store.accounts.hold("k", Decimal(1), "job:j")
    assert isinstance(hold, Hold)
    await store.jobs.add(job("j", hold))
    await store.scenarios.add(QueuedScenario(Outcome(Forced.SERVER_ERROR), 1))
    await store.scenarios.set_chaos(Chaos({"server-error": 0.1}, 1))
    await store.journal.start(entry())
    name = await store.outputs.put(b"video")
    await store.accounts.put(account("extra"))
    await store.reset([account("k", "5")])
    assert [a.key for a in await store.accounts.all()] == ["k"]
    got = await store.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (5, 0)
    assert await store.jobs.all() == [] and await store.scenarios.all() == []
    assert await store.scenarios.take("GET", "/", None) == (None, Chaos())
    assert await store.journal.entries() == [] and await store.outputs.path(name) is None


@pytest.mark.parametrize("opener", SHARED, indirect=True)
async def test_state_outlives_the_process_that_wrote_it(opener: Opener) -> None:
    first = await started(opener, owner="first")
    hold = await first.accounts.hold("k", Decimal("0.625"), first.owner)
    assert isinstance(hold, Hold)
    await first.accounts.charge(hold)
    await first.accounts.put(account("made-at-run-time", "2"))
    job_hold = await first.accounts.hold("k", Decimal(1), "job:j")
    assert isinstance(job_hold, Hold)
    await first.jobs.add(job("j", job_hold))
    e = entry()
    await first.journal.start(e)
    name = await first.outputs.put(b"video")
    await first.aclose()
    second = opener(owner="second")
    await second.start()
    got = await second.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (Decimal("9.375"), 1)
    assert await second.accounts.get("made-at-run-time") is not None
    assert [j.id for j in await second.jobs.all()] == ["j"]
    assert [x.id for x in await second.journal.entries()] == [e.id]
    path = await second.outputs.path(name)
    assert path is not None and path.read_bytes() == b"video"


NOWHERE = "redis://127.0.0.1:1/0"  # never contacted: these stores are made and closed


async def test_the_configured_folders_may_start_with_a_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # where a folder named "~" would be made instead
    (tmp_path / "home" / "outputs").mkdir(parents=True)
    store = backends.open_store(Config(state_dir="~/state"))
    await store.aclose()
    assert isinstance(store, SqliteStore) and store.folder == tmp_path / "home" / "state"
    assert (tmp_path / "home" / "state" / "state.sqlite3").is_file()
    store = backends.open_store(Config(redis_url=NOWHERE, outputs_dir="~/outputs"))
    await store.aclose()
    assert isinstance(store, RedisStore) and store.outputs_dir == tmp_path / "home" / "outputs"
    assert not (tmp_path / "~").exists()


async def test_outputs_kept_in_redis_outlive_jobs_when_the_scale_goes_up_to_1() -> None:
    # A test run starts at scale 0 and sets 1 later: its jobs then live ttl(1), and so
    # must the videos they point at.
    config = Config(redis_url=NOWHERE, time_scale=0.0)
    store = backends.open_store(config)
    await store.aclose()
    assert isinstance(store, RedisStore)
    assert store.outputs.output_ttl_ms >= config.queue.ttl(1.0) * 1000
