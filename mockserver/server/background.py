"""Servers for tests and benchmarks: an ASGI app on uvicorn in a thread, or a server process."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from wan26.mockserver.http.asgi import ASGIApp
from wan26.mockserver.server.serving import make_server


@contextmanager
def running_server(app: ASGIApp, host: str = "127.0.0.1", timeout_s: float = 30.0) -> Iterator[str]:
    """Yield the base URL of `app` served on a free port; stop the server on exit."""
    server = make_server(app, host=host, port=0, log_level="warning")
    thread = threading.Thread(target=server.run, name="uvicorn-background", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the background uvicorn server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_command(
    command: list[str],
    ready_url: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    output: int = subprocess.DEVNULL,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until `ready_url` answers anything, stop it on exit."""
    process = subprocess.Popen(
        command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(ready_url, timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(30)
