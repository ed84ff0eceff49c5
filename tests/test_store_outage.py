"""A store that cannot be reached for a while: API calls answer 503, the v2 workers wait
instead of stopping, and everything goes on once the store is back."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from conftest import OFFLINE_IMAGE
from test_v2_queue import wait_for
from wan26.mockserver.store.sqlite import db as sqlite_db

pytestmark = pytest.mark.anyio
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 4}


async def test_a_locked_state_directory_is_503s_and_the_queue_goes_on_after(
    app_factory: Callable[..., Starlette],
    client_for: Callable[[Starlette], httpx.AsyncClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_S", 0.2)
    app = app_factory(state_dir=str(tmp_path), time_scale=0.005)  # a job runs about 0.7 s
    client = client_for(app)
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()["request_id"]

    async def processing() -> bool:
        return (await client.get(f"/v2/requests/{job}")).json()["status"] == "PROCESSING"

    async def job_met_the_lock() -> bool:
        return f"job {job} waits for the store" in caplog.text

    await until(processing)
    other = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        refused = await client.post("/v1/wan-2.6-i2v", json=BODY)
        assert refused.status_code == 503
        assert refused.json()["error"].startswith("Service temporarily unavailable")
        await until(job_met_the_lock)  # the job ends meanwhile: its worker meets the lock
    finally:
        other.execute("COMMIT")
        other.close()
    assert app.state.emulator.workers.running
    assert (await wait_for(client, f"/v2/requests/{job}", 60)).json()["status"] == "COMPLETED"
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    second = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()["request_id"]
    completed = await wait_for(client, f"/v2/requests/{second}", 60)
    assert completed.json()["status"] == "COMPLETED"


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    """Wait for a condition, not for a guess of how long it takes on a busy machine."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"{check.__name__} still false after {seconds} s"
        await anyio.sleep(0.02)


async def test_a_damaged_job_record_does_not_stop_the_workers(
    app_factory: Callable[..., Starlette],
    client_for: Callable[[Starlette], httpx.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = app_factory()
    client = client_for(app)
    store = app.state.emulator.store
    claim = store.jobs.claim
    damaged = [True]

    async def claim_once_damaged(now: float) -> object:
        if damaged.pop() if damaged else False:
            raise KeyError("cost")  # what a record missing a field raises
        return await claim(now)

    monkeypatch.setattr(store.jobs, "claim", claim_once_damaged)
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()["request_id"]
    assert (await wait_for(client, f"/v2/requests/{job}", 60)).json()["status"] == "COMPLETED"
    assert app.state.emulator.workers.running
