"""uvicorn, set up the emulator's way: deadlines on slow requests, a limit on their headers,
and a prompt shutdown."""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from wan26.mockserver.config import Config
from wan26.mockserver.http.asgi import ASGIApp
from wan26.mockserver.http.faults import FaultableProtocol
from wan26.mockserver.server.deadlines import Deadlines


class EmulatorServer(uvicorn.Server):
    """Tells the app a shutdown has begun before uvicorn waits for in-flight requests.

    uvicorn sends the lifespan shutdown only after every connection is done, too
    late for calls that would run for minutes.
    """

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.on_shutdown is not None:
            self.on_shutdown()
        await super().shutdown(sockets=sockets)


def make_server(app: ASGIApp, **options: Any) -> EmulatorServer:
    """A server for `app`; an emulator app brings its own deadlines and shutdown timeout.

    `options` are uvicorn.Config's (host, port, log_level, ...).
    """
    emulator = getattr(getattr(app, "state", None), "emulator", None)
    config: Config = emulator.config if emulator is not None else Config()
    protocol = functools.partial(
        FaultableProtocol,
        deadlines=Deadlines.of(config),
        max_header_bytes=config.max_header_bytes,
    )
    server_config = uvicorn.Config(
        app,
        http=protocol,  # type: ignore[arg-type]
        timeout_graceful_shutdown=config.shutdown_timeout_s,  # type: ignore[arg-type]
        **options,
    )
    return EmulatorServer(server_config, emulator.in_flight.close if emulator else None)


def exit_after_sigterm(signum: int, frame: object) -> None:
    """uvicorn shuts down gracefully, then raises SIGTERM again: exit through Python, so
    the encoding worker processes are stopped as well."""
    raise SystemExit(128 + signum)
