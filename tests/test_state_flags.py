"""`wan26-mock serve` with a state backend that cannot work says so in one line and
exits 2, before it prints its banner or listens."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from wan26.mockserver.cli import _where as where
from wan26.mockserver.config import Config
from wan26.mockserver.server.background import free_port


def serve(*flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(free_port())]
    return subprocess.run(
        [*command, *flags], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--workers", "2"], "--workers 2 needs state the processes share"),
        (["--workers", "0", "--state-dir", "{tmp}/s"], "--workers must be at least 1"),
        (["--state-dir", "{tmp}/a-file"], "state directory"),
        (["--redis-url", "http://127.0.0.1:6379/0"], "redis_url must start with redis://"),
        (["--redis-url", "redis://:hunter2@127.0.0.1:{port}/0"], "is unavailable"),
    ],
    ids=["workers-in-memory", "no-workers", "dir-is-a-file", "not-redis", "redis-unreachable"],
)
def test_a_backend_that_cannot_work_is_one_line_and_exit_2(
    flags: list[str], says: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    port = str(free_port())  # nothing listens there
    result = serve(*(flag.format(tmp=tmp_path, port=port) for flag in flags))
    assert result.returncode == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_the_banner_names_redis_without_its_password() -> None:
    config = Config(redis_url="redis://user:hunter2@redis.internal:6380/2?password=hunter2")
    assert where(config) == "redis redis://redis.internal:6380/2"


def test_ctrl_c_stops_serve_without_a_traceback() -> None:
    port = free_port()
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--offline"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    wait_until_up(f"http://127.0.0.1:{port}/_mock/health")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in output and "Application shutdown complete" in output


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
