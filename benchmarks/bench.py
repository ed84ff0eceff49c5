"""Speed figures on this machine, at time scale 0.

1. Render time through the whole request path (in-process ASGI): 5 s 720p and
   15 s 1080p, cold (a new image each time) and cached (the same body again).
2. Requests/s on the 400 and 401 paths with wrk, for the emulator on uvicorn
   and for Stoplight Prism 5.16 serving the same openapi.yaml, in the same run.
3. v2 submits/s with wrk (time scale 0), and the emulator's RSS holding 1,000
   live jobs (time scale 1, so they stay QUEUED or PROCESSING).
4. The client's overhead per call: the same calls through `Wan26Client` and
   through bare httpx, against the emulator on a socket at time scale 0.
5. Generations/s at 4 concurrent calls: new images against new seeds of a known
   image (assembled from encoded segments), one 15 s 1080p new seed, the 400 path's
   rate while renders run against its idle rate, and the RSS holding 10,000 v1 calls
   open at time scale 1.
6. By state backend (memory, a state directory, Redis): the 400 path and v2 submits,
   and generations/s with one process against `--workers 2`.
7. Per test through the pytest plugin (`wan26_client`, generated test files run by
   pytest in a subprocess): a 400 test, a v1 new-seed test, a v2 submit/poll/result
   test, against a respx stub answering a static 250 KB MP4 (the anchor).
8. The 400 and 401 paths against a bare one-route Starlette app on the same uvicorn,
   alternated A B A B.
9. New seeds/s of a known 1280x720 JPEG (~200 KB) sent as a data URI and by URL (a
   loopback image server), 4 concurrent.
10. How soon `serve` answers after it starts, and its RSS after 3,000 mixed calls.

Usage: python benchmarks/bench.py [--seconds 8] [--connections 16] [--skip-prism]
Needs wrk (apt-get install wrk); Prism is installed with npm into
benchmarks/.cache/ on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from anchors import (
    bare_starlette_rates,
    image_server,
    known_image_rates,
    photo_jpeg,
    plugin_per_test,
)
from footprint import startup_and_mixed_rss
from PIL import Image
from state_backends import backend_rates, worker_rates
from tools import (
    KEY,
    REQUESTS,
    V2_BODY,
    emulator_command,
    in_process_client,
    rss_mb,
    status_of,
    wrk,
)

from wan26.mockserver import Config, KeyConfig, create_app
from wan26.mockserver.server.background import free_port, running_command

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
PRISM_VERSION = "5.16"
TARGETS = {
    "5s 720p cold": 0.5,
    "15s 1080p cold": 2.5,
    "5s 720p cached": 0.02,
    "15s 1080p cached": 0.02,
}


def image_data_uri(variant: int = 0) -> str:
    import base64

    buffer = io.BytesIO()
    area = (-2.2 + variant * 1e-4, -1.2, 1.0, 1.2)
    Image.effect_mandelbrot((1600, 900), area, 100).convert("RGB").save(buffer, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


async def render_times(cold_runs: int, cached_runs: int) -> dict[str, float]:
    app = create_app(Config(keys=[KeyConfig(key=KEY)], time_scale=0.0))
    image = image_data_uri()
    results: dict[str, float] = {}
    async with in_process_client(app) as client:
        for label, duration, resolution in (("5s 720p", 5, "720p"), ("15s 1080p", 15, "1080p")):
            body = {
                "image": image,
                "prompt": "bench",
                "duration": duration,
                "resolution": resolution,
            }
            cold = []
            for run in range(cold_runs):
                new_image = {**body, "image": image_data_uri(500 + duration * 10 + run)}
                started = time.perf_counter()
                response = await client.post("/v1/wan-2.6-i2v", json={**new_image, "seed": 0})
                cold.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            cached = []
            for _ in range(cached_runs):
                started = time.perf_counter()
                response = await client.post("/v1/wan-2.6-i2v", json={**body, "seed": 0})
                cached.append(time.perf_counter() - started)
                assert response.status_code == 200
            results[f"{label} cold"] = statistics.median(cold)
            results[f"{label} cached"] = statistics.median(cached)
    return results


async def generation_rates(concurrency: int = 4, rounds: int = 5) -> dict[str, float]:
    """Generations/s for new images and for new seeds of a known image; one 15 s 1080p
    new seed's latency."""
    app = create_app(Config(keys=[KeyConfig(key=KEY)], time_scale=0.0))
    results: dict[str, float] = {}
    async with in_process_client(app) as client:

        async def generate(image: str, seed: int, duration: int = 5, tier: str = "720p") -> None:
            body = {"image": image, "prompt": "b", "seed": seed, "duration": duration}
            response = await client.post("/v1/wan-2.6-i2v", json={**body, "resolution": tier})
            assert response.status_code == 200, response.text

        async def rate(calls: list[tuple[str, int]]) -> float:
            started = time.perf_counter()
            for first in range(0, len(calls), concurrency):
                batch = calls[first : first + concurrency]
                await asyncio.gather(*(generate(image, seed) for image, seed in batch))
            return len(calls) / (time.perf_counter() - started)

        await generate(image_data_uri(1000), 0)  # start the worker processes
        count = concurrency * rounds
        images = [image_data_uri(100 + i) for i in range(count)]
        results["new image 5s 720p /s"] = await rate([(image, 1) for image in images])
        known = image_data_uri(999)
        for seed in range(12):  # the image's library fills as seeds come
            await generate(known, 10_000 + seed)
        results["new seed 5s 720p /s"] = await rate([(known, seed) for seed in range(count)])
        for seed in range(12):
            await generate(known, 20_000 + seed, 15, "1080p")
        started = time.perf_counter()
        await generate(known, 30_000, 15, "1080p")
        results["new seed 15s 1080p s"] = time.perf_counter() - started
    return results


def bad_request_rate_while_rendering(seconds: int, connections: int) -> tuple[float, float]:
    """The 400 path's req/s idle, then while 4 new-image renders at a time keep going."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers, body = REQUESTS["400 (bad enum)"]
    url = f"{base}/v1/wan-2.6-i2v"
    with running_command(
        emulator_command(port, 0.0), f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}
    ):
        idle = wrk(url, headers, body, seconds, connections)
        stop = time.monotonic() + seconds + 2

        def keep_rendering(worker: int) -> None:
            variant = worker * 1000
            with httpx.Client(headers={"x-api-key": KEY}, timeout=120) as client:
                while time.monotonic() < stop:
                    variant += 1
                    image = image_data_uri(variant)
                    client.post(url, json={"image": image, "prompt": "b", "seed": 1})

        with ThreadPoolExecutor(max_workers=4) as pool:
            for worker in range(4):
                pool.submit(keep_rendering, worker)
            time.sleep(1)
            busy = wrk(url, headers, body, seconds, connections)
    return idle, busy


def rss_with_held_calls(count: int) -> float:
    """MB of RSS while `count` v1 calls wait out their emulated run time (time scale 1)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    body = json.dumps(V2_BODY).encode()
    request = (
        f"POST /v1/wan-2.6-i2v HTTP/1.1\r\nHost: bench\r\nx-api-key: {KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def hold() -> float:
        writers = []
        for _ in range(count):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            writers.append(writer)
        await asyncio.sleep(5)
        held = httpx.get(f"{base}/_mock/state").json()["keys"][0]["held"]
        assert held >= 0.625 * count * 0.99, held
        rss = rss_mb(proc.pid)
        for writer in writers:
            writer.close()
        return rss

    with running_command(
        emulator_command(port, 1.0), f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}
    ) as proc:
        return asyncio.run(hold())


def prism_command() -> list[str]:
    binary = CACHE / "node_modules" / ".bin" / "prism"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--prefix",
                str(CACHE),
                f"@stoplight/prism-cli@{PRISM_VERSION}",
            ],
            check=True,
        )
    return [str(binary), "mock", "-h", "127.0.0.1"]


def throughput(seconds: int, connections: int, skip_prism: bool) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    port = free_port()
    emulator = emulator_command(port, 0.0)
    servers = [("emulator", emulator, port)]
    if not skip_prism:
        prism_port = free_port()
        servers.append(
            (
                "prism",
                [*prism_command(), "-p", str(prism_port), str(ROOT / "openapi.yaml")],
                prism_port,
            )
        )
    for name, command, server_port in servers:
        base = f"http://127.0.0.1:{server_port}"
        with running_command(command, f"{base}/v1/get-user-credits", {"SEGMIND_API_KEY": KEY}):
            for label, (headers, body) in REQUESTS.items():
                url = f"{base}/v1/wan-2.6-i2v"
                status = status_of(url, headers, body)
                rate = wrk(url, headers, body, seconds, connections)
                results.setdefault(label, {})[name] = rate
                results[label][f"{name} status"] = status
    return results


def v2_submit_rate(seconds: int, connections: int) -> tuple[float, int]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    with running_command(
        emulator_command(port, 0.0), f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}
    ):
        url = f"{base}/v2/wan-2.6-i2v"
        status = status_of(url, headers, V2_BODY)
        return wrk(url, headers, V2_BODY, seconds, connections, expect_errors=False), status


def rss_with_live_jobs(count: int) -> tuple[float, dict[str, int]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = emulator_command(port, 1.0)
    with running_command(command, f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}) as proc:
        with httpx.Client(base_url=base, headers={"x-api-key": KEY}) as client:
            for seed in range(count):
                response = client.post("/v2/wan-2.6-i2v", json={**V2_BODY, "seed": seed})
                assert response.status_code == 200, response.text
            jobs = client.get("/_mock/state").json()["jobs"]
        return rss_mb(proc.pid), jobs


def client_overhead(calls: int) -> dict[str, tuple[float, float]]:
    """Median seconds per call, client vs bare httpx, for a cheap GET and a cached v1 call."""
    from wan26.client import Wan26Client

    body = {"image": "https://example.com/a.png", "prompt": "p", "seed": 1}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results = {}
    with (
        running_command(
            emulator_command(port, 0.0), f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}
        ),
        Wan26Client(api_key=KEY, base_url=base) as client,
        httpx.Client(headers={"x-api-key": KEY}) as bare,
    ):
        cases = {
            "GET credits": (
                client.get_credits,
                lambda: bare.get(f"{base}/v1/get-user-credits").json(),
            ),
            "v1 generate (cached render)": (
                lambda: client.generate_sync(**body),
                lambda: bare.post(f"{base}/v1/wan-2.6-i2v", json=body).content,
            ),
        }
        for label, (through_client, through_httpx) in cases.items():
            through_client(), through_httpx()  # warm up
            timed = []
            for call in (through_client, through_httpx):
                samples = []
                for _ in range(calls):
                    started = time.perf_counter()
                    call()
                    samples.append(time.perf_counter() - started)
                timed.append(statistics.median(samples))
            results[label] = (timed[0], timed[1])
    return results


# --- Plugin per test, against a respx stub ------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--cached-runs", type=int, default=20)
    parser.add_argument("--skip-prism", action="store_true")
    parser.add_argument("--plugin-tests", type=int, default=100, help="tests per plugin case")
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        action="append",
        help="run only these sections (repeatable; default: all)",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk, then run again")
        return 1
    for section in args.only or SECTIONS:
        SECTIONS[section](args)
    return 0


def renders(args: argparse.Namespace) -> None:
    print("\nrender time through the request path (median, time scale 0)")
    for label, seconds in asyncio.run(render_times(args.cold_runs, args.cached_runs)).items():
        target = TARGETS[label]
        verdict = "ok" if seconds <= target else "OVER TARGET"
        print(
            f"  {label:18} {seconds * 1000:8.1f} ms   target <= {target * 1000:.0f} ms  {verdict}"
        )


def error_paths(args: argparse.Namespace) -> None:
    print(f"\nrequests/s, wrk -t1 -c{args.connections} -d{args.seconds}s, same request to both")
    for label, row in throughput(args.seconds, args.connections, args.skip_prism).items():
        line = f"  {label:16} emulator {row['emulator']:8.0f} (HTTP {row['emulator status']})"
        if "prism" in row:
            ratio = row["emulator"] / row["prism"]
            verdict = "ok" if ratio >= 2 else "UNDER TARGET"
            line += (
                f"   prism {row['prism']:8.0f} (HTTP {row['prism status']})"
                f"   ratio {ratio:4.2f}x  target >= 2x  {verdict}"
            )
        print(line)


def queue(args: argparse.Namespace) -> None:
    rate, status = v2_submit_rate(args.seconds, args.connections)
    verdict = "ok" if rate >= 1000 else "UNDER TARGET"
    print(f"\nv2 submits/s (HTTP {status}, time scale 0): {rate:8.0f}   target >= 1000  {verdict}")
    rss, jobs = rss_with_live_jobs(1000)
    verdict = "ok" if rss <= 300 else "OVER TARGET"
    print(f"RSS with 1,000 live jobs {jobs}: {rss:.0f} MB   target <= 300 MB  {verdict}")


def footprint(args: argparse.Namespace) -> None:
    listening, rss = startup_and_mixed_rss()
    verdict = "ok" if listening <= 1.5 else "OVER TARGET"
    print(f"\nserve answers {listening:.2f} s after it starts   target <= 1.5 s  {verdict}")
    verdict = "ok" if rss <= 400 else "OVER TARGET"
    print(f"RSS after 3,000 mixed calls: {rss:.0f} MB   target <= 400 MB  {verdict}")


def load(args: argparse.Namespace) -> None:
    print("\ngenerations at 4 concurrent calls (time scale 0)")
    rates = asyncio.run(generation_rates())
    ratio = rates["new seed 5s 720p /s"] / rates["new image 5s 720p /s"]
    for label, value in rates.items():
        print(f"  {label:24} {value:8.3f}")
    print(f"  new seed / new image: {ratio:.1f}x   target >= 8x, new seed >= 15/s")
    verdict = "ok" if rates["new seed 15s 1080p s"] <= 0.15 else "OVER TARGET"
    print(f"  15 s 1080p new seed target <= 0.150 s  {verdict}")
    idle, busy = bad_request_rate_while_rendering(args.seconds, args.connections)
    verdict = "ok" if busy >= idle / 2 else "UNDER TARGET"
    print(
        f"400 path idle {idle:.0f} req/s, while rendering {busy:.0f} req/s "
        f"({busy / idle:.0%})   target >= 50%  {verdict}"
    )
    rss = rss_with_held_calls(10_000)
    verdict = "ok" if rss <= 1024 else "OVER TARGET"
    print(f"RSS holding 10,000 v1 calls at time scale 1: {rss:.0f} MB   target <= 1024  {verdict}")


def backends(args: argparse.Namespace) -> None:
    print(f"\nby state backend, wrk -t1 -c{args.connections} -d{args.seconds}s, time scale 0")
    for backend, row in backend_rates(args.seconds, args.connections).items():
        print(
            f"  {backend:10} 400 path {row['400 path']:8.0f} req/s"
            f"   v2 submits {row['v2 submits']:8.0f}/s"
        )
    print("generations/s (a cached v1 call), one process against --workers 2")
    for backend, rates in worker_rates(args.seconds, args.connections).items():
        print(
            f"  {backend:10} 1 process {rates[1]:8.0f}/s   2 processes {rates[2]:8.0f}/s"
            f"   ({rates[2] / rates[1]:.2f}x)"
        )


def client(args: argparse.Namespace) -> None:
    print("\nclient overhead per call (median of 200, time scale 0)")
    for label, (with_client, bare) in client_overhead(200).items():
        print(
            f"  {label:28} client {with_client * 1000:6.2f} ms   bare httpx {bare * 1000:6.2f} ms"
            f"   overhead {(with_client - bare) * 1000:+6.2f} ms"
        )


def plugin(args: argparse.Namespace) -> None:
    count = args.plugin_tests
    print(f"\nper test through the pytest plugin ({count} tests each; respx: 300), ms")
    results = plugin_per_test(count, 300)
    anchor = results.pop("respx")
    print(f"  {'respx stub (anchor)':24} {anchor:8.2f} ms")
    for label, target in (("400", 3), ("v1 new seed", 10), ("v2 submit/poll/result", 10)):
        ratio = results[label] / anchor
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(
            f"  {label:24} {results[label]:8.2f} ms   {ratio:5.1f}x respx"
            f"   target <= {target}x  {verdict}"
        )


def bare(args: argparse.Namespace) -> None:
    print(
        f"\nrequests/s against a bare Starlette app on the same uvicorn, "
        f"wrk -t1 -c{args.connections} -d{args.seconds}s, A B A B"
    )
    results = bare_starlette_rates(args.seconds, args.connections)
    for label in REQUESTS:
        emulator = [rate for rate, _ in results[f"{label} emulator"]]
        starlette = [rate for rate, _ in results[f"{label} bare"]]
        statuses = {status for _, status in results[f"{label} emulator"] + results[f"{label} bare"]}
        share = sum(emulator) / sum(starlette)
        verdict = "ok" if share >= 0.65 else "UNDER TARGET"
        print(
            f"  {label:16} emulator {' / '.join(f'{r:.0f}' for r in emulator)}"
            f"   bare {' / '.join(f'{r:.0f}' for r in starlette)}   (HTTP {sorted(statuses)})"
            f"   emulator {share:.0%} of bare   target >= 65%  {verdict}"
        )


def known_image(args: argparse.Namespace) -> None:
    print("\nnew seeds of a known 1280x720 JPEG, 5 s 720p, 4 concurrent (time scale 0)")
    data = photo_jpeg()
    with image_server(data) as url:
        rates = asyncio.run(known_image_rates(data, url))
    ratio = rates["data URI"] / rates["URL"]
    verdict = "ok" if ratio >= 0.7 and rates["data URI"] >= 30 else "UNDER TARGET"
    print(
        f"  image of {len(data) / 1024:.0f} KB: as a data URI {rates['data URI']:6.1f}/s"
        f"   by URL {rates['URL']:6.1f}/s   ratio {ratio:.0%}"
        f"   target >= 70% and >= 30/s  {verdict}"
    )


SECTIONS = {
    "renders": renders,
    "error-paths": error_paths,
    "queue": queue,
    "load": load,
    "client": client,
    "backends": backends,
    "plugin": plugin,
    "bare": bare,
    "known-image": known_image,
    "footprint": footprint,
}


if __name__ == "__main__":
    sys.exit(main())
