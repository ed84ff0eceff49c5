"""A state directory outlives the emulator: `kill -9` in the middle of charges and jobs,
start again on the same folder, and everything that was answered is still there."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx

from conftest import OFFLINE_IMAGE
from wan26.mockserver.server.background import free_port, running_command

KEY = "crash-test-key"
HEADERS = {"x-api-key": KEY}
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat"}
PRICE = Decimal("0.625")  # 5 s at 720p


@contextmanager
def emulator(
    state: Path, config: Path, *more: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    command += ["--config", str(config), "--state-dir", str(state), "--offline", *more]
    base = f"http://127.0.0.1:{port}"
    with running_command(command, f"{base}/_mock/health") as process:
        yield base, process


def wait_for(base: str, job_id: str, state: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = httpx.get(f"{base}/v2/requests/{job_id}", headers=HEADERS, timeout=10).json()
        if answer["status"] == state:
            return answer
        assert time.monotonic() < deadline, answer
        time.sleep(0.05)


def wait_until_unanswered(base: str, path: str, timeout_s: float = 60) -> None:
    """Until the journal shows a call to `path` that has arrived and is not answered yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        entries = httpx.get(f"{base}/_mock/journal", timeout=10).json()["entries"]
        if any(e["path"] == path and e["status"] is None for e in entries):
            return
        assert time.monotonic() < deadline, entries
        time.sleep(0.02)


def credits(base: str, key: str = KEY) -> Decimal:
    answer = httpx.get(f"{base}/v1/get-user-credits", headers={"x-api-key": key}, timeout=10)
    return Decimal(str(answer.json()["credits"]))


def test_kill_9_loses_only_what_was_not_answered(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "emulator.yaml"
    config.write_text(
        f"keys: [{{key: {KEY}, credits: 50}}]\ntime_scale: 0\nqueue: {{workers: 1}}\n"
    )
    with emulator(state, config) as (base, process):
        put = httpx.put(f"{base}/_mock/keys/made-at-run-time", json={"credits": 7})
        assert put.status_code == 200
        answered = [
            httpx.post(f"{base}/v1/wan-2.6-i2v", json={**BODY, "seed": n}, headers=HEADERS)
            for n in range(3)
        ]
        assert [a.status_code for a in answered] == [200, 200, 200]
        submit = httpx.post(f"{base}/v2/wan-2.6-i2v", json={**BODY, "seed": 9}, headers=HEADERS)
        done = submit.json()["request_id"]
        finished = wait_for(base, done, "COMPLETED")
        video = httpx.get(finished["output"]).content
        # From now on every generation runs for seconds: these are in flight at the kill.
        httpx.put(f"{base}/_mock/settings", json={"time_scale": 0.015})
        running_job, queued_job = (
            httpx.post(f"{base}/v2/wan-2.6-i2v", json={**BODY, "seed": n}, headers=HEADERS).json()[
                "request_id"
            ]
            for n in (10, 11)
        )
        wait_for(base, running_job, "PROCESSING")
        in_flight = threading.Thread(target=_call_cut_off, args=(base,))
        in_flight.start()
        wait_until_unanswered(base, "/v1/wan-2.6-i2v")
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        in_flight.join(30)

    with emulator(state, config) as (base, _):
        # Keys made at run time, charges of every 200 (3 v1 calls and a job), and nothing
        # for the v1 call cut off by the kill.
        assert credits(base, "made-at-run-time") == 7
        assert credits(base) == 50 - 4 * PRICE
        finished_again = wait_for(base, done, "COMPLETED")
        assert httpx.get(finished_again["output"]).content == video
        # The jobs in flight resume under their ids, finish and are charged once each.
        for job_id in (running_job, queued_job):
            result = wait_for(base, job_id, "COMPLETED")
            assert httpx.get(result["output"]).headers["content-type"] == "video/mp4"
        assert credits(base) == 50 - 6 * PRICE
        state_now = httpx.get(f"{base}/_mock/state").json()
        [account] = [k for k in state_now["keys"] if k["credits"] == float(50 - 6 * PRICE)]
        assert account["held"] == 0
        journal = httpx.get(f"{base}/_mock/journal", params={"charged": "true"}).json()
        assert journal["count"] == 6  # the journal of the first run is there too
        assert sum(Decimal(str(e["charged_usd"])) for e in journal["entries"]) == 6 * PRICE


def _call_cut_off(base: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the kill cuts it off
        httpx.post(f"{base}/v1/wan-2.6-i2v", json=BODY, headers=HEADERS, timeout=60)


def test_worker_processes_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    config = tmp_path / "emulator.yaml"
    config.write_text(f"keys: [{{key: {KEY}, credits: 50}}]\ntime_scale: 0\n")
    with emulator(tmp_path / "state", config, "--workers", "2") as (base, parent):
        children = [
            int(pid)
            for pid in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
        ]
        assert httpx.get(f"{base}/_mock/health").status_code == 200
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in children):
            assert time.monotonic() < deadline, "a worker process outlived its parent"
            time.sleep(0.2)
        with contextlib.suppress(httpx.TransportError):
            assert httpx.get(f"{base}/_mock/health", timeout=2).status_code != 200


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True
