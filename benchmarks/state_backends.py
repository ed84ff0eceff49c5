"""Section 6 of the benchmark: the 400 path and v2 submits by state backend (memory, a state
directory, Redis), and generations/s with one process against `--workers 2`."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tools import KEY, REQUESTS, V2_BODY, emulator_command, status_of, wrk

from wan26.mockserver.server.background import free_port, running_command


@contextmanager
def redis_url() -> Iterator[str]:
    """A throwaway redis-server (Debian's package) on a free loopback port."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = subprocess.Popen(
        [*command, "--appendonly", "no", "--dir", folder], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def backend_flags(backend: str, redis: str) -> list[str]:
    """Each measurement starts on empty state: a new folder, or Redis under a new prefix
    (the emulator's config has no prefix flag, so the Redis is flushed instead)."""
    if backend == "state-dir":
        return ["--state-dir", tempfile.mkdtemp(prefix="bench-state-")]
    if backend == "redis":
        subprocess.run(["redis-cli", "-u", redis, "flushall"], check=True, capture_output=True)
        return ["--redis-url", redis]
    return []


def backend_rates(seconds: int, connections: int) -> dict[str, dict[str, float]]:
    """400-path req/s and v2 submits/s on each state backend."""
    results: dict[str, dict[str, float]] = {}
    headers, body = REQUESTS["400 (bad enum)"]
    submit_headers = {"x-api-key": KEY, "content-type": "application/json"}
    with redis_url() as redis:
        for backend in ("memory", "state-dir", "redis"):
            row = results.setdefault(backend, {})
            for label, (path, request_headers, request, errors) in {
                "400 path": ("/v1/wan-2.6-i2v", headers, body, True),
                "v2 submits": ("/v2/wan-2.6-i2v", submit_headers, V2_BODY, False),
            }.items():
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                command = emulator_command(port, 0.0, *backend_flags(backend, redis))
                with running_command(command, f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}):
                    url = f"{base}{path}"
                    row[label] = wrk(url, request_headers, request, seconds, connections, errors)
    return results


def worker_rates(seconds: int, connections: int) -> dict[str, dict[int, float]]:
    """Generations/s (200s with an MP4) with one process and with `--workers 2`, on each
    shared backend: the same cached v1 call, so the request path is what is measured."""
    results: dict[str, dict[int, float]] = {}
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    with redis_url() as redis:
        for backend in ("state-dir", "redis"):
            for workers in (1, 2):
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                flags = [*backend_flags(backend, redis), "--workers", str(workers)]
                command = emulator_command(port, 0.0, *flags)
                with running_command(command, f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}):
                    url = f"{base}/v1/wan-2.6-i2v"
                    for _ in range(4):  # every process renders it once, then has it cached
                        assert status_of(url, headers, V2_BODY) == 200
                    rate = wrk(url, headers, V2_BODY, seconds, connections, expect_errors=False)
                    results.setdefault(backend, {})[workers] = rate
    return results
