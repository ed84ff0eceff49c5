"""Run an ASGI app on a real uvicorn server in a background thread (port 0), for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from mockserver.faults import FaultableProtocol


@contextmanager
def running_server(app: ASGIApp, host: str = "127.0.0.1", timeout_s: float = 30.0) -> Iterator[str]:
    """Yield the base URL of `app` served on a free port; stop the server on exit."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=0, log_level="warning", http=FaultableProtocol)
    )
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
