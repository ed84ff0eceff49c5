"""The 400 and 401 paths in process: the emulator against the bare Starlette anchor.

Each app is driven N times straight through ASGI (a hand-made scope, receive and send;
no sockets, no server), and the CPU time per request (`time.process_time`, best of R
runs) is printed with the emulator's share of the anchor's rate. Without the server's
cost both apps share, the share is lower than wrk's (`bench.py --only bare`); it is
steady on a busy machine, so it shows what a change to the request path is worth.

With `--calls-only APP`, it only makes N calls of one path through one app, untimed: under
`valgrind --tool=callgrind` the difference between N and 0 calls is the path's count of
instructions, the same whatever else the machine is doing.

Usage: python benchmarks/inprocess.py [-n 5000] [--runs 5] [--profile 400|401]
       python benchmarks/inprocess.py -n 4000 --calls-only emulator|bare [--path 400|401]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from collections.abc import Callable, Coroutine
from typing import Any

from anchors import BARE_ROUTE
from starlette.applications import Starlette
from tools import KEY, REQUESTS

from wan26.mockserver import Config, KeyConfig, create_app, running
from wan26.mockserver.config import MediaConfig

Message = dict[str, Any]
SORT, ROWS = "tottime", 25


def emulator_app() -> Starlette:
    """The app `serve --offline --time-scale 0` builds, with the benchmark's key."""
    return create_app(
        Config(keys=[KeyConfig(key=KEY)], time_scale=0, media=MediaConfig(offline=True))
    )


def bare_app() -> Starlette:
    namespace: dict[str, Any] = {"KEY": KEY}
    exec(BARE_ROUTE, namespace)
    app: Starlette = namespace["app"]
    return app


def caller(app: Starlette, label: str) -> Callable[[], Coroutine[Any, Any, int]]:
    """One request as uvicorn hands it over; returns the status answered."""
    headers, body = REQUESTS[label]
    content = json.dumps(body).encode()
    raw_headers = [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(content)).encode())]
    raw_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
    never = asyncio.Event()

    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/wan-2.6-i2v",
            "raw_path": b"/v1/wan-2.6-i2v",
            "query_string": b"",
            "root_path": "",
            "headers": list(raw_headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": content, "more_body": False}
            await never.wait()  # the client stays: like uvicorn, block until it leaves
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    return call


async def seconds_per_request(
    call: Callable[[], Coroutine[Any, Any, int]], count: int, profile: cProfile.Profile | None
) -> float:
    """One run of `count` requests, in CPU seconds per request."""
    if profile is not None:
        profile.enable()
    start = time.process_time()
    for _ in range(count):
        await call()
    seconds = (time.process_time() - start) / count
    if profile is not None:
        profile.disable()
    return seconds


async def measure(count: int, runs: int, profiled: str | None) -> None:
    print(f"in-process ASGI, {count} requests a run, best of {runs} (CPU µs per request)")
    for label in REQUESTS:
        profile = cProfile.Profile() if profiled and label.startswith(profiled) else None
        async with running(emulator_app()) as emulator:
            calls = {"emulator": caller(emulator, label), "bare": caller(bare_app(), label)}
            statuses = {name: await call() for name, call in calls.items()}
            best = dict.fromkeys(calls, float("inf"))
            for _ in range(runs):  # alternated, so that both meet the machine's same moods
                for name, call in calls.items():
                    run_profile = profile if name == "emulator" else None
                    seconds = await seconds_per_request(call, count, run_profile)
                    best[name] = min(best[name], seconds)
        print(
            f"  {label:16} emulator {best['emulator'] * 1e6:7.1f} µs (HTTP {statuses['emulator']})"
            f"   bare {best['bare'] * 1e6:7.1f} µs (HTTP {statuses['bare']})"
            f"   emulator at {best['bare'] / best['emulator']:.0%} of bare's rate"
        )
        if profile is not None:
            pstats.Stats(profile).sort_stats(SORT).print_stats(ROWS)


async def calls_only(app_name: str, path: str, count: int) -> None:
    label = next(label for label in REQUESTS if label.startswith(path))
    if app_name == "bare":
        call = caller(bare_app(), label)
        for _ in range(20 + count):
            await call()
        return
    async with running(emulator_app()) as emulator:
        call = caller(emulator, label)
        for _ in range(20 + count):  # 20 to warm up, as with 0
            await call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="requests a run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", choices=("400", "401"), help="cProfile this path")
    parser.add_argument("--calls-only", choices=("emulator", "bare"), help="untimed calls")
    parser.add_argument("--path", choices=("400", "401"), default="400")
    args = parser.parse_args()
    if args.calls_only:
        asyncio.run(calls_only(args.calls_only, args.path, args.n))
    else:
        asyncio.run(measure(args.n, args.runs, args.profile))


if __name__ == "__main__":
    main()
