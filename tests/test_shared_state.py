"""Several emulator processes on one state: a state directory (one host) or Redis (any
number of hosts). Credits stay exact whichever process answers, and a job submitted to
one process is polled and downloaded from another."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path

import anyio
import httpx
import pytest

from conftest import OFFLINE_IMAGE
from wan26.mockserver.server.background import free_port, running_command

KEY = "shared-key"
HEADERS = {"x-api-key": KEY}
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 3}
PRICE = Decimal("0.625")

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "redis"])


@pytest.fixture
def state_flags(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    """Where the processes of one test keep their state."""
    if backend == "sqlite":
        return ["--state-dir", str(tmp_path / "state")]
    url = request.getfixturevalue("redis_url")
    prefix = f"wan26-test-{uuid.uuid4().hex[:12]}:"
    (tmp_path / "prefix.yaml").write_text(f"redis_prefix: '{prefix}'\n")
    return ["--redis-url", url]


def write_config(folder: Path, credits: Decimal) -> Path:
    config = folder / "emulator.yaml"
    prefix = folder / "prefix.yaml"
    extra = prefix.read_text() if prefix.exists() else ""
    config.write_text(f"keys: [{{key: {KEY}, credits: {credits}}}]\ntime_scale: 0\n{extra}")
    return config


@contextmanager
def emulator(
    config: Path, state_flags: list[str], *more: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    command += ["--config", str(config), "--offline", "--log-level", "warning", *state_flags]
    base = f"http://127.0.0.1:{port}"
    log = config.parent / f"emulator-{port}.log"
    with log.open("wb") as output:
        try:
            with running_command(
                [*command, *more], f"{base}/_mock/health", output=output.fileno()
            ) as process:
                yield base, process
        except BaseException:
            print(f"--- {log.name}:\n{log.read_text(errors='replace')[-4000:]}")
            raise


async def call_everywhere(bases: list[str], calls: int) -> list[int]:
    """`calls` v1 calls at once, spread over the processes; their statuses."""
    statuses: list[int] = []
    # A connection per call: a kept-alive one that the server closes as idle just as the
    # pool sends on it is a ReadError for the client (a race of HTTP/1.1, not a defect).
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(headers=HEADERS, timeout=120, limits=limits) as client:

        async def call(n: int) -> None:
            answer = await client.post(f"{bases[n % len(bases)]}/v1/wan-2.6-i2v", json=BODY)
            statuses.append(answer.status_code)

        async with anyio.create_task_group() as group:
            for n in range(calls):
                group.start_soon(call, n)
    return statuses


def balance(base: str) -> Decimal:
    answer = httpx.get(f"{base}/v1/get-user-credits", headers=HEADERS, timeout=10).json()
    return Decimal(str(answer["credits"])) + Decimal(str(answer["free-credits"]))


def test_credits_are_exact_across_two_processes(
    backend: str, state_flags: list[str], tmp_path: Path
) -> None:
    affordable = 40
    config = write_config(tmp_path, affordable * PRICE)
    with ExitStack() as stack:
        bases = [stack.enter_context(emulator(config, state_flags))[0] for _ in range(2)]
        statuses = anyio.run(call_everywhere, bases, 200)
        assert statuses.count(200) == affordable
        assert statuses.count(406) == 200 - affordable  # the API's "insufficient credits"
        assert balance(bases[0]) == balance(bases[1]) == 0


def test_a_job_submitted_to_one_process_is_answered_by_the_other(
    backend: str, state_flags: list[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path, Decimal(10))
    with emulator(config, state_flags) as (one, _), emulator(config, state_flags) as (two, _):
        submitted = httpx.post(f"{one}/v2/wan-2.6-i2v", json=BODY, headers=HEADERS).json()
        job_id = submitted["request_id"]
        deadline = time.monotonic() + 60
        while True:
            result = httpx.get(f"{two}/v2/requests/{job_id}", headers=HEADERS).json()
            if result["status"] == "COMPLETED" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert result["status"] == "COMPLETED", result
        output = result["output"]
        assert output.startswith(two)  # the other process's link, served by it
        video = httpx.get(output)
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert balance(one) == balance(two) == 10 - PRICE
        # A reset through one process is a reset for the other.
        assert httpx.post(f"{one}/_mock/reset").status_code == 200
        assert balance(two) == 10
        gone = httpx.get(f"{two}/v2/requests/{job_id}", headers=HEADERS)
        assert gone.status_code == 404


def test_workers_share_one_port_and_one_state(
    backend: str, state_flags: list[str], tmp_path: Path
) -> None:
    affordable = 30
    config = write_config(tmp_path, affordable * PRICE)
    with emulator(config, state_flags, "--workers", "2") as (base, process):
        statuses = anyio.run(call_everywhere, [base], 300)
        assert statuses.count(200) == affordable
        assert balance(base) == 0
        assert len(worker_processes(process.pid)) == 2


def worker_processes(parent: int) -> list[int]:
    """The parent's children that serve (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
