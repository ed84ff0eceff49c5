"""What only the Redis backend promises: a server that goes away or cannot be used answers
StoreUnavailable quickly and the same store works again once a server is back; processes on
separate interpreters share one balance; keys stay under the store's prefix; closing never
fails and leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import anyio
import anyio.abc
import pytest
import redis.asyncio as aioredis
from redis.exceptions import (
    DataError,
    NoPermissionError,
    OutOfMemoryError,
    RedisError,
    ResponseError,
)

from redisserver import REDIS_SERVER, free_port, redis_process
from test_store_backends import entry, job
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.core.scenarios import Outcome, QueuedScenario
from wan26.mockserver.store.base import Account, Chaos, Hold, StoreUnavailable
from wan26.mockserver.store.redis import RedisStore, link

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def account(key: str = "k", credits: str = "10") -> Account:
    return Account(key, Decimal(credits), Decimal(0), None, ["*"])


def store_at(
    url: str, prefix: str = "wan26:", owner: str = "p1", outputs_dir: Path | None = None
) -> RedisStore:
    return RedisStore(
        url,
        journal_size=10,
        output_ttl_s=60,
        outputs_dir=outputs_dir,
        owner=owner,
        prefix=prefix,
    )


@pytest.mark.anyio
async def test_a_lost_server_is_unavailable_quickly_and_a_new_one_is_used(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with redis_process(tmp_path / "first", port) as (url, process):
        store = store_at(url)
        await store.start()
        await store.reset([account()])
        assert isinstance(await store.accounts.hold("k", Decimal(1), store.owner), Hold)
        # A paused server accepts connections and never answers: the timeouts end each call,
        # and callers beyond the bounded pool wait no longer than for a connection.
        process.send_signal(signal.SIGSTOP)
        try:
            began = time.monotonic()
            with anyio.fail_after(10):
                calls = [store.accounts.hold("k", Decimal(1), store.owner) for _ in range(100)]
                results = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(r, StoreUnavailable) for r in results), results[:3]
            assert time.monotonic() - began < 6
            assert f"Redis at redis://127.0.0.1:{port}/0 is unavailable" in str(results[0])
        finally:
            process.send_signal(signal.SIGCONT)
        # The holds sent to the paused server run when it resumes, though no caller got
        # them: the next beat cancels them, whichever comes first.
        await store.beat()
        got = await store.accounts.get("k")  # the same store, on a fresh connection
        assert got is not None and got.held == 1
    # The server is gone: refused at once.
    with anyio.fail_after(5), pytest.raises(StoreUnavailable, match=str(port)):
        await store.accounts.hold("k", Decimal(1), store.owner)
    with pytest.raises(StoreUnavailable):
        await store.beat()
    with redis_process(tmp_path / "second", port):
        await store.start()  # the new server knows no scripts: they are loaded again
        await store.reset([account()])
        hold = await store.accounts.hold("k", Decimal("0.625"), store.owner)
        assert isinstance(hold, Hold)
        assert await store.accounts.charge(hold) == Decimal("9.375")
        await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("settle", ["next hold", "beat"])
async def test_a_hold_whose_release_met_no_server_is_released_once_one_is_back(
    tmp_path: Path, settle: str
) -> None:
    port = free_port()
    with redis_process(tmp_path, port, durable=True) as (url, process):
        store = store_at(url)
        await store.start()
        await store.reset([account("k", "1.25")])
        hold = await store.accounts.hold("k", Decimal("0.625"), store.owner)
        assert isinstance(hold, Hold)
        process.terminate()
        process.wait(10)
        with pytest.raises(StoreUnavailable):
            await store.accounts.release(hold)  # a failed v1 call gives its hold back: no Redis
    with redis_process(tmp_path, port, durable=True):  # back, with the data it had
        # This process lives on, so no one reaps its hold: it gives it back itself.
        if settle == "beat":
            await store.beat()
            got = await store.accounts.get("k")
            assert got is not None and got.held == 0
        got = await store.accounts.get("k")
        assert got is not None and got.balance == Decimal("1.25")
        assert isinstance(await store.accounts.hold("k", Decimal("1.25"), store.owner), Hold)
        await store.aclose()


@pytest.mark.anyio
async def test_the_unavailable_message_never_shows_a_password() -> None:
    port = free_port()  # nothing listens there
    store = store_at(f"redis://user:s3cret@127.0.0.1:{port}/0?password=s3cret")
    with pytest.raises(StoreUnavailable) as raised:
        await store.accounts.get("k")
    message = str(raised.value)
    assert "s3cret" not in message and "user" not in message
    assert f"redis://127.0.0.1:{port}/0" in message and "\n" not in message
    await store.aclose()  # never raises


WORKER = """
import asyncio, json, sys
from decimal import Decimal
from wan26.mockserver.store.base import Hold
from wan26.mockserver.store.redis import RedisStore

async def main(url: str, prefix: str, owner: str) -> None:
    store = RedisStore(url, journal_size=10, output_ttl_s=60, outputs_dir=None, owner=owner,
                       prefix=prefix)
    await store.start()
    print("ready", flush=True)
    sys.stdin.readline()
    tries = [store.accounts.hold("k", Decimal("0.625"), owner) for _ in range(25)]
    granted = [r for r in await asyncio.gather(*tries) if isinstance(r, Hold)]
    balances = await asyncio.gather(*(store.accounts.charge(hold) for hold in granted))
    print(json.dumps({"granted": len(granted), "charged": sum(b is not None for b in balances)}))
    await store.aclose()

asyncio.run(main(*sys.argv[1:]))
"""


def test_two_processes_share_one_balance_exactly(redis_url: str) -> None:
    prefix = f"wan26-test-{uuid.uuid4().hex[:8]}:"

    async def reset() -> None:
        store = store_at(redis_url, prefix, owner="parent")
        await store.reset([account("k", "10")])
        await store.aclose()

    async def final() -> Account | None:
        store = store_at(redis_url, prefix, owner="parent")
        try:
            return await store.accounts.get("k")
        finally:
            await store.aclose()

    asyncio.run(reset())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, prefix, f"worker-{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:  # both start at once
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    assert [w.returncode for w in workers] == [0, 0]
    assert sum(r["granted"] for r in reports) == 16  # 16 x 0.625 = 10
    assert sum(r["charged"] for r in reports) == 16
    got = asyncio.run(final())
    assert got is not None and (got.balance, got.held) == (Decimal(0), Decimal(0))


@pytest.mark.anyio
async def test_a_reset_deletes_only_keys_under_its_own_prefix(redis_url: str) -> None:
    # Glob characters in the prefix are matched literally, not as a pattern.
    tag = uuid.uuid4().hex[:8]
    mine = store_at(redis_url, f"wan26-{tag}[1]*:")
    neighbour = store_at(redis_url, f"wan26-{tag}1-:")
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.set(f"unrelated-{tag}", "kept")
        await neighbour.reset([account("theirs")])
        await mine.reset([account("mine")])
        await mine.reset([])
        assert await mine.accounts.all() == []
        assert [a.key for a in await neighbour.accounts.all()] == ["theirs"]
        assert await raw.get(f"unrelated-{tag}") == b"kept"
        assert all(key.startswith(b"wan26-") for key in await raw.keys(f"wan26-{tag}*"))
    finally:
        await raw.delete(f"unrelated-{tag}")
        await raw.aclose()
        await mine.aclose()
        await neighbour.aclose()


@pytest.mark.anyio
async def test_outputs_in_a_shared_folder_are_served_by_every_process(
    redis_url: str, tmp_path: Path
) -> None:
    prefix = f"wan26-test-{uuid.uuid4().hex[:8]}:"
    one = store_at(redis_url, prefix, "p1", outputs_dir=tmp_path)
    two = store_at(redis_url, prefix, "p2", outputs_dir=tmp_path)
    try:
        name = await one.outputs.put(b"\x00video")
        assert await two.outputs.put(b"\x00video") == name
        path = await two.outputs.path(name)
        assert path == tmp_path / name and path.read_bytes() == b"\x00video"
        assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left
        assert await two.outputs.path(name.upper()) is None
        await two.reset([])
        assert await one.outputs.path(name) is None
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.anyio
async def test_a_job_claimed_by_a_process_that_closes_is_claimable_again(redis_url: str) -> None:
    from test_store_backends import job

    prefix = f"wan26-test-{uuid.uuid4().hex[:8]}:"
    leaving, staying = (
        store_at(redis_url, prefix, "leaving"),
        store_at(redis_url, prefix, "staying"),
    )
    try:
        await leaving.start()
        await staying.start()
        await leaving.reset([account()])
        v1 = await leaving.accounts.hold("k", Decimal(2), leaving.owner)
        job_hold = await leaving.accounts.hold("k", Decimal(3), "job:j")
        assert isinstance(v1, Hold) and isinstance(job_hold, Hold)
        await leaving.jobs.add(job("j", job_hold))
        claimed = await leaving.jobs.claim(1500.0)
        assert claimed is not None and await staying.jobs.claim(1501.0) is None
        await leaving.aclose()
        got = await staying.accounts.get("k")
        assert got is not None and got.held == 3
        resumed = await staying.jobs.claim(1502.0)
        assert resumed is not None and (resumed.worker, resumed.started_at) == ("staying", 1500.0)
    finally:
        await staying.aclose()


@pytest.mark.anyio
async def test_a_reset_leaves_alone_a_store_whose_prefix_starts_with_its_own(
    redis_url: str,
) -> None:
    tag = uuid.uuid4().hex[:8]
    mine = store_at(redis_url, f"p{tag}:", "mine")
    team2 = store_at(redis_url, f"p{tag}:team2:", "team2")
    try:
        await team2.start()
        await team2.reset([account("theirs")])
        hold = await team2.accounts.hold("theirs", Decimal(1), "job:j")
        assert isinstance(hold, Hold)
        await team2.jobs.add(job("j", hold))
        await team2.scenarios.add(QueuedScenario(Outcome(Forced.SERVER_ERROR), 1))
        await team2.scenarios.set_chaos(Chaos({"server-error": 0.5}, 1))
        theirs = entry()
        await team2.journal.start(theirs)
        name = await team2.outputs.put(b"their video")
        await mine.reset([account("mine")])
        assert [a.key for a in await mine.accounts.all()] == ["mine"]
        assert [a.key for a in await team2.accounts.all()] == ["theirs"]
        assert [j.id for j in await team2.jobs.all()] == ["j"]
        assert len(await team2.scenarios.all()) == 1
        assert await team2.scenarios.chaos() == Chaos({"server-error": 0.5}, 1)
        assert [e.id for e in await team2.journal.entries()] == [theirs.id]
        path = await team2.outputs.path(name)
        assert path is not None and path.read_bytes() == b"their video"
        assert await team2.accounts.charge(hold) == Decimal(9)  # the hold was kept too
    finally:
        await mine.aclose()
        await team2.aclose()


async def answer_like_http(stream: anyio.abc.SocketStream) -> None:
    async with stream:
        await stream.receive()
        await stream.send(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")


@pytest.mark.anyio
async def test_a_redis_that_cannot_be_used_is_unavailable_in_one_line(redis_url: str) -> None:
    user = f"weak-{uuid.uuid4().hex[:8]}"  # may read accounts, not run scripts
    raw = aioredis.Redis.from_url(redis_url)
    await raw.acl_setuser(
        user, enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+hgetall"]
    )
    host = redis_url.removeprefix("redis://").split("/")[0]
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    http_port = listener.extra(anyio.abc.SocketAttribute.local_port)
    cases = {
        f"redis://{host}/99": "ResponseError: DB index is out of range",
        f"redis://{user}:wrong-s3cret@{host}/0": "AuthenticationError",
        f"redis://{user}:s3cret@{host}/0": "NoPermissionError",
        f"redis://127.0.0.1:{http_port}/0": "InvalidResponse",  # not a Redis at all
    }
    try:
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, answer_like_http)
            for url, says in cases.items():
                store = store_at(url)
                with anyio.fail_after(10), pytest.raises(StoreUnavailable) as raised:
                    await store.start()
                message = str(raised.value)
                where = "redis://" + url.removeprefix("redis://").split("@")[-1]
                assert message.startswith(f"Redis at {where} is unavailable: "), message
                assert says in message, message
                assert "s3cret" not in message and "\n" not in message
                await store.aclose()
            group.cancel_scope.cancel()
    finally:
        await raw.acl_deluser(user)
        await raw.aclose()


SCRIPT = "script: 8f477a44a0fc3d8b8640b53fb08b3d0be800e4b8, on @user_script:4."


@pytest.mark.parametrize(
    ("error", "unusable"),
    [
        (ResponseError("DB index is out of range"), True),
        (ResponseError("BUSY Redis is busy running a script. You can only call SCRIPT KILL"), True),
        (ResponseError(f"MISCONF Redis is configured to save RDB snapshots {SCRIPT}"), True),
        (ResponseError("unknown command 'EVALSHA', with args beginning with: "), True),
        (OutOfMemoryError(f"command not allowed when used memory > 'maxmemory'. {SCRIPT}"), True),
        (NoPermissionError("this user has no permissions to run the 'evalsha' command"), True),
        # The server ran the script and it failed: a bug here, kept visible (a 500).
        (
            ResponseError(f"user_script:4: attempt to perform arithmetic on a nil value {SCRIPT}"),
            False,
        ),
        (ResponseError(f"value is not an integer or out of range {SCRIPT}"), False),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), False),
        (DataError("Invalid input of type: 'NoneType'."), False),
    ],
)
def test_an_error_is_told_apart_as_the_servers_or_a_bug_here(
    error: RedisError, unusable: bool
) -> None:
    assert link.unusable(error) is unusable


@pytest.mark.anyio
async def test_a_key_of_the_wrong_type_under_the_prefix_is_not_taken_for_an_outage(
    redis_url: str,
) -> None:
    prefix = f"wan26-test-{uuid.uuid4().hex[:8]}:"
    store = store_at(redis_url, prefix)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.set(f"{prefix}accounts", "not a set")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await store.accounts.all()
    finally:
        await raw.aclose()
        await store.aclose()


@pytest.mark.anyio
async def test_closing_never_fails_and_leaves_no_client_or_folder_behind(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="wan26.mockserver")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    # Redis unreachable at start: no folder is made, and closing is a warning.
    lost = store_at(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable):
        await lost.start()
    assert list(temp.iterdir()) == []
    await lost.aclose()
    assert "is unavailable" in caplog.text and "closing without giving back" in caplog.text
    caplog.clear()
    # A user that may keep and fetch outputs but not run scripts: closing cannot give back.
    user = f"outputs-only-{uuid.uuid4().hex[:8]}"
    raw = aioredis.Redis.from_url(redis_url)
    commands = ["+set", "+get", "+exists"]
    await raw.acl_setuser(user, enabled=True, passwords=["+s3cret"], keys=["*"], commands=commands)
    host = redis_url.removeprefix("redis://").split("/")[0]
    store = store_at(f"redis://{user}:s3cret@{host}/0", f"wan26-test-{uuid.uuid4().hex[:8]}:")
    try:
        name = await store.outputs.put(b"video")
        assert list(temp.iterdir()) == []  # made on the first fetch, not before
        path = await store.outputs.path(name)
        assert path is not None and path.parent.parent == temp
        with pytest.raises(StoreUnavailable, match="NoPermissionError"):
            await store.accounts.hold("k", Decimal(1), store.owner)
        await store.aclose()
        assert "NoPermissionError" in caplog.text and "s3cret" not in caplog.text
        assert list(temp.iterdir()) == []
        with anyio.fail_after(5):
            while any(client["user"] == user for client in await raw.client_list()):
                await anyio.sleep(0.02)
    finally:
        await raw.acl_deluser(user)
        await raw.aclose()


def test_an_outputs_dir_must_be_a_writable_folder(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    folders = [tmp_path / "missing", tmp_path / "a-file"]
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "read-only").mkdir(mode=0o500)
        folders.append(tmp_path / "read-only")
    for folder in folders:
        with pytest.raises(StoreUnavailable) as raised:
            store_at("redis://127.0.0.1:1/0", outputs_dir=folder)
        message = str(raised.value)
        assert re.match(
            rf"outputs folder {re.escape(str(folder))} is not a writable folder: ", message
        )
        assert "\n" not in message
