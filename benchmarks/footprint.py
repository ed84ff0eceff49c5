"""Section 10 of the benchmark: how soon `serve` answers after it starts, and its RSS after
3,000 mixed calls (a quarter each: v1 new seeds, 400s, 401s, v2 submit and poll)."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
from tools import KEY, emulator_command, rss_mb

from wan26.mockserver.server.background import free_port

BODY = {"image": "https://example.com/cat.png", "prompt": "a cat"}


def startup_and_mixed_rss(calls: int = 3000) -> tuple[float, float]:
    """Seconds from the start of `serve` to its first health answer; MB of RSS after
    `calls` mixed calls, one at a time."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.Popen(
        emulator_command(port, 0.0),
        env={**os.environ, "SEGMIND_API_KEY": KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        listening = _first_answer(f"{base}/_mock/health", started)
        with httpx.Client(base_url=base, headers={"x-api-key": KEY}, timeout=120) as client:
            for n in range(calls):
                _mixed_call(client, n)
        rss = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    return listening, rss


def _first_answer(url: str, started: float, deadline_s: float = 60) -> float:
    while time.monotonic() - started < deadline_s:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer in {deadline_s} s")


def _mixed_call(client: httpx.Client, n: int) -> None:
    kind = n % 4
    if kind == 0:
        client.post("/v1/wan-2.6-i2v", json={**BODY, "seed": n})
    elif kind == 1:
        client.post("/v1/wan-2.6-i2v", json={**BODY, "duration": 7})
    elif kind == 2:
        client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-api-key": "not-a-key"})
    else:
        job = client.post("/v2/wan-2.6-i2v", json={**BODY, "seed": n}).json()
        client.get(job["status_url"])
