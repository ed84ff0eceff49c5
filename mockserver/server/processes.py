"""`wan26-mock serve --workers N`: N emulator processes answering on one socket.

The parent binds the socket and starts the processes (spawned, so each has its own
event loop, render pool and connection to the shared store); the kernel spreads
connections between them. A process that dies is started again; SIGTERM or Ctrl-C
stops them all, each answering its in-flight calls as a single process would.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess

from wan26.mockserver.config import Config

logger = logging.getLogger("wan26.mockserver")
CHECK_EVERY_S = 0.5
STARTUP_S = 5.0  # a worker that ends sooner than this after its start could not start


def serve_processes(config: Config, listener: socket.socket, count: int, log_level: str) -> int:
    """Run `count` processes until a signal; 0 once they have all stopped, 1 if one could
    not start (its error is in the log above: starting it again would fail the same way)."""
    if config.media.render_processes is None:  # the cores shared out, not each taking them all
        share = max(1, (os.cpu_count() or 1) // count)
        config = dataclasses.replace(
            config, media=dataclasses.replace(config.media, render_processes=share)
        )
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    started_at: dict[int, float] = {}

    def start() -> BaseProcess:
        process = context.Process(
            target=_serve_one,
            args=(config, listener, log_level, os.getpid()),
            name="wan26-mock-worker",
        )
        process.start()
        started_at[id(process)] = time.monotonic()
        return process

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes = [start() for _ in range(count)]
    failed = False
    while not stopping.wait(CHECK_EVERY_S):
        for index, process in enumerate(processes):
            if process.is_alive():
                continue
            if time.monotonic() - started_at[id(process)] < STARTUP_S:
                logger.error(
                    "wan26-mock: a worker process could not start (exit code %s); stopping",
                    process.exitcode,
                )
                failed = True
                stopping.set()
                break
            logger.warning(
                "worker process %s ended (%s); starting another", process.pid, process.exitcode
            )
            processes[index] = start()
    for process in processes:
        if process.pid is not None and process.is_alive():
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(config.shutdown_timeout_s + 10)
        if process.is_alive():
            process.kill()
    return 1 if failed else 0


def _serve_one(config: Config, listener: socket.socket, log_level: str, parent: int) -> None:
    """One worker process: the app, on the parent's socket, with its own lifespan. It stops
    (as on SIGTERM) if the parent dies, rather than serving on as an orphan."""
    from wan26.contracts.core.access import MaskSecretsFilter
    from wan26.mockserver.http.app import create_app
    from wan26.mockserver.media.workers import WORKERS
    from wan26.mockserver.server.serving import exit_after_sigterm, make_server

    for name in ("uvicorn.access", "uvicorn.error", "wan26.mockserver"):
        logging.getLogger(name).addFilter(MaskSecretsFilter())
    server = make_server(create_app(config), log_level=log_level)
    signal.signal(signal.SIGTERM, exit_after_sigterm)
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    try:
        server.run(sockets=[listener])
    finally:
        WORKERS.close()


def _stop_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(CHECK_EVERY_S)
    os.kill(os.getpid(), signal.SIGTERM)
