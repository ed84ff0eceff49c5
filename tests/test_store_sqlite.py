"""The state directory's own promises: what the shared backend tests cannot show with two
stores in one process (real processes, a kill -9, a locked database) and its files: a
database of another version or a damaged one is refused in one line, and closing never
fails."""

from __future__ import annotations

import logging
import re
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from test_store_backends import entry, job
from wan26.mockserver.core.jobs import JobState
from wan26.mockserver.store.base import Account, Hold, StoreUnavailable
from wan26.mockserver.store.sqlite import SqliteStore
from wan26.mockserver.store.sqlite import db as sqlite_db

pytestmark = pytest.mark.anyio

OPEN = """
import sys
import anyio
from decimal import Decimal
from pathlib import Path
from wan26.mockserver.store.base import Hold
from wan26.mockserver.store.sqlite import SqliteStore

store = SqliteStore(Path(sys.argv[1]), journal_size=10, output_bytes=10**6, owner=sys.argv[2])
"""
# Waits for "go" so that both processes hold at once, then charges what it was granted.
HOLDER = (
    OPEN
    + """
async def main() -> None:
    await store.start()
    print("ready", flush=True)
    sys.stdin.readline()
    granted = []

    async def try_hold(n: int) -> None:
        await anyio.sleep(0.002 * n)  # spread out, so the two processes' holds interleave
        result = await store.accounts.hold("k", Decimal("0.625"), store.owner)
        if isinstance(result, Hold):
            granted.append(result)

    async with anyio.create_task_group() as group:
        for n in range(50):
            group.start_soon(try_hold, n)
    for hold in granted:
        await store.accounts.charge(hold)
    print(len(granted), flush=True)
    await store.aclose()

anyio.run(main)
"""
)
# Holds, claims and charges, then waits to be killed.
DOOMED = (
    OPEN
    + """
async def main() -> None:
    await store.start()
    assert isinstance(await store.accounts.hold("k", Decimal(2), store.owner), Hold)
    assert (await store.jobs.claim(6000.0)) is not None
    spent = await store.accounts.hold("k", Decimal(1), store.owner)
    assert isinstance(spent, Hold) and await store.accounts.charge(spent) == Decimal(9)
    print("done", flush=True)
    await anyio.sleep(3600)

anyio.run(main)
"""
)


def child(script: str, folder: Path, owner: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(folder), owner],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def open_store(folder: Path, owner: str = "parent", **options: int) -> SqliteStore:
    settings = {"journal_size": 100, "output_bytes": 10**6, **options}
    return SqliteStore(folder, owner=owner, **settings)


async def started(folder: Path, credits: str = "10", **options: int) -> SqliteStore:
    store = open_store(folder, **options)
    await store.start()
    await store.reset([Account("k", Decimal(credits), Decimal(0), None, ["*"])])
    return store


async def test_two_processes_holding_at_once_grant_exactly_what_there_is(tmp_path: Path) -> None:
    store = await started(tmp_path)
    children = [child(HOLDER, tmp_path, f"child{n}") for n in range(2)]
    try:
        for process in children:
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
        for process in children:  # both go before either is waited for
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        granted = [int(process.communicate(timeout=60)[0]) for process in children]
    finally:
        for process in children:
            process.kill()
            process.wait()
    assert sum(granted) == 16  # 16 x 0.625 = 10
    assert all(process.returncode == 0 for process in children)
    got = await store.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (0, 0)
    await store.aclose()


async def test_a_killed_process_is_reaped_by_its_pid_and_its_charge_was_kept(
    tmp_path: Path,
) -> None:
    store = await started(tmp_path)
    job_hold = await store.accounts.hold("k", Decimal(3), "job:j")
    assert isinstance(job_hold, Hold)
    await store.jobs.add(job("j", job_hold))
    doomed = child(DOOMED, tmp_path, "doomed")
    try:
        assert doomed.stdout is not None and doomed.stdout.readline() == "done\n"
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    got = await store.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (9, 5)
    await store.beat()  # its heartbeat is fresh: the pid gives it away
    got = await store.accounts.get("k")
    assert got is not None and (got.balance, got.held) == (9, 3)
    resumed = await store.jobs.claim(7000.0)
    assert resumed is not None
    assert (resumed.state, resumed.started_at, resumed.worker) == (
        JobState.PROCESSING,
        6000.0,
        "parent",
    )
    await store.aclose()


async def test_money_is_kept_exactly(tmp_path: Path) -> None:
    store = await started(tmp_path, credits="0.3")
    holds = [await store.accounts.hold("k", Decimal("0.1"), store.owner) for _ in range(3)]
    assert all(isinstance(hold, Hold) for hold in holds)  # 0.1 + 0.1 + 0.1 is 0.3 here
    assert await store.accounts.hold("k", Decimal("0.000001"), store.owner) == 0
    with pytest.raises(ValueError, match="micro-dollars"):
        await store.accounts.hold("k", Decimal("0.0000001"), store.owner)
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        assert db.execute("SELECT typeof(credits) FROM accounts").fetchone() == ("integer",)
    await store.aclose()


async def test_a_database_locked_past_the_timeout_is_unavailable_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_S", 0.05)
    store = await started(tmp_path)
    other = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable, match="locked") as raised:
        await store.accounts.hold("k", Decimal(1), store.owner)
    assert str(tmp_path) in str(raised.value) and "\n" not in str(raised.value)
    other.execute("ROLLBACK")
    other.close()
    assert isinstance(await store.accounts.hold("k", Decimal(1), store.owner), Hold)  # it recovers
    await store.aclose()
    with pytest.raises(StoreUnavailable, match=str(tmp_path)):
        await store.accounts.get("k")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreUnavailable, match="a-file"):
        open_store(tmp_path / "a-file" / "state")


async def test_a_hold_whose_release_met_a_locked_database_is_released_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_S", 0.05)
    store = await started(tmp_path, credits="1.25")
    hold = await store.accounts.hold("k", Decimal("0.625"), store.owner)
    assert isinstance(hold, Hold)
    other = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable, match="locked"):
        await store.accounts.release(hold)  # a failed v1 call gives its hold back while locked
    other.execute("ROLLBACK")
    other.close()
    # This process lives on, so no one reaps its hold: the next call gets the whole balance.
    got = await store.accounts.get("k")
    assert got is not None and got.balance == Decimal("1.25")
    assert isinstance(await store.accounts.hold("k", Decimal("1.25"), store.owner), Hold)
    await store.aclose()


async def test_outputs_are_shared_and_capped_oldest_first(tmp_path: Path) -> None:
    one = await started(tmp_path, output_bytes=10)
    two = open_store(tmp_path, "two", output_bytes=10)
    first = await one.outputs.put(b"12345")
    await anyio.sleep(0.05)  # mtimes a clock tick apart, so "oldest" is well defined
    second = await two.outputs.put(b"67890")
    assert await one.outputs.path(second) is not None and await two.outputs.path(first) is not None
    await anyio.sleep(0.05)
    third = await one.outputs.put(b"abc")
    assert await two.outputs.path(first) is None and await two.outputs.path(second) is not None
    big = await two.outputs.put(b"more than the cap")  # kept alone, never evicted as it lands
    assert [await one.outputs.path(name) is not None for name in (second, third, big)] == [
        False,
        False,
        True,
    ]
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == [big]
    for store in (one, two):
        await store.aclose()


async def test_the_journal_keeps_a_charge_set_before_the_entry_is_finished(
    tmp_path: Path,
) -> None:
    store = await started(tmp_path)
    submit = entry("/v2/wan-2.6-i2v")
    await store.journal.start(submit)
    await store.journal.charged(submit.id, 0.625)  # the job completed first
    submit.status = 200
    await store.journal.finish(submit)
    [kept] = await store.journal.entries()
    assert (kept.status, kept.charged_usd) == (200, 0.625)
    await store.journal.clear()
    later = entry()
    await store.journal.start(later)
    assert later.id > submit.id  # ids are never given twice
    await store.aclose()


async def test_a_new_database_is_stamped_and_one_of_another_version_is_refused(
    tmp_path: Path,
) -> None:
    store = await started(tmp_path / "new")
    await store.aclose()
    db = sqlite3.connect(tmp_path / "new" / "state.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone() == (sqlite_db.SCHEMA_VERSION,)
    db.execute("PRAGMA user_version = 2")
    db.close()
    with pytest.raises(StoreUnavailable, match=r"another version of wan26-mock.*use a new folder"):
        open_store(tmp_path / "new")
    # Tables but no stamp: made before the schema had a version (or by another program).
    (tmp_path / "unstamped").mkdir()
    db = sqlite3.connect(tmp_path / "unstamped" / "state.sqlite3")
    db.execute("CREATE TABLE accounts (key TEXT PRIMARY KEY)")
    db.close()
    with pytest.raises(StoreUnavailable, match="another version of wan26-mock"):
        open_store(tmp_path / "unstamped")
    # An empty file is an empty database: a new one.
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "state.sqlite3").touch()
    await open_store(tmp_path / "empty").aclose()


async def test_a_damaged_database_is_refused_when_opened(tmp_path: Path) -> None:
    store = await started(tmp_path, journal_size=1000)
    for n in range(300):
        await store.journal.start(entry(f"/v1/{n}"))
    await store.aclose()
    path = tmp_path / "state.sqlite3"
    db = sqlite3.connect(path)
    [(page_size,)] = db.execute("PRAGMA page_size").fetchall()
    [(pages,)] = db.execute("PRAGMA page_count").fetchall()
    db.close()
    with path.open("r+b") as file:  # garbage in the middle of a page in the middle
        file.seek(pages // 2 * page_size + page_size // 2)
        file.write(b"\xff" * 256)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA quick_check").fetchall() != [("ok",)]  # what it reports
    db.close()
    with pytest.raises(StoreUnavailable) as raised:
        open_store(tmp_path)
    message = str(raised.value)
    assert re.fullmatch(
        rf"state database {re.escape(str(path))} is damaged: [^*].+; "
        "move it away or use a new folder",
        message,
    ), message


async def test_a_state_file_that_is_no_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "state.sqlite3").write_bytes(b"not a database\n" * 100)
    with pytest.raises(StoreUnavailable, match="is damaged: file is not a database; move it"):
        open_store(tmp_path / "text")
    (tmp_path / "folder" / "state.sqlite3").mkdir(parents=True)
    with pytest.raises(StoreUnavailable, match="unable to open database file"):
        open_store(tmp_path / "folder")


async def test_closing_never_fails_and_closes_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wan26.mockserver")
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_S", 0.05)
    store = await started(tmp_path)
    other = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        await store.aclose()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "locked" in caplog.text and "closing without giving back" in caplog.text
    with pytest.raises(StoreUnavailable, match="closed database"):
        await store.accounts.get("k")
