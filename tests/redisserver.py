"""A real `redis-server` (Debian's package) on a free loopback port, for the Redis tests."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wan26.mockserver.server.background import free_port

REDIS_SERVER = shutil.which("redis-server")


@contextmanager
def redis_process(
    folder: Path, port: int | None = None, durable: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throwaway server: its URL and its process, which a test may stop or pause. `port`
    starts a server where an earlier one was; `durable` keeps every write in `folder`
    (append-only file, fsync always), so a server started again there has the data.
    Stopped and waited for on exit."""
    assert REDIS_SERVER is not None
    port = port or free_port()
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if durable else "no",
            "--appendfsync",
            "always",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.send_signal(signal.SIGCONT)  # a paused server would not see the SIGTERM
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def redis_server(folder: Path, port: int | None = None) -> Iterator[str]:
    """A throwaway server's URL."""
    with redis_process(folder, port) as (url, _):
        yield url
