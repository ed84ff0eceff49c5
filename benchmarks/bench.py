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
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

from wan26.mockserver import Config, KeyConfig, create_app
from wan26.mockserver.server.background import free_port, running_command

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
PRISM_VERSION = "5.16"
KEY = "bench-key"
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
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers={"x-api-key": KEY}, timeout=120
    ) as client:
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
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"x-api-key": KEY},
        timeout=120,
    ) as client:

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
        rss = _rss_mb(proc.pid)
        for writer in writers:
            writer.close()
        return rss

    with running_command(
        emulator_command(port, 1.0), f"{base}/_mock/health", {"SEGMIND_API_KEY": KEY}
    ) as proc:
        return asyncio.run(hold())


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


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


REQUESTS = {
    "400 (bad enum)": (
        {"x-api-key": KEY, "content-type": "application/json"},
        {"image": "https://example.com/a.png", "prompt": "p", "duration": 7},
    ),
    "401 (no key)": (
        {"content-type": "application/json"},
        {"image": "https://example.com/a.png", "prompt": "p"},
    ),
}


def wrk(
    url: str,
    headers: dict[str, str],
    body: dict,
    seconds: int,
    connections: int,
    expect_errors: bool = True,
) -> float:
    script = "wrk.method = 'POST'\nwrk.body = " + json.dumps(json.dumps(body)) + "\n"
    script += "".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items()
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match or ("Non-2xx" in output) != expect_errors:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(match.group(1))


def status_of(url: str, headers: dict[str, str], body: dict) -> int:
    return httpx.post(url, headers=headers, content=json.dumps(body), timeout=10).status_code


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


V2_BODY = {"image": "https://example.com/a.png", "prompt": "p", "seed": 1}


def emulator_command(port: int, time_scale: float, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wan26.mockserver",
        "serve",
        "--port",
        str(port),
        "--offline",
        "--time-scale",
        str(time_scale),
        "--log-level",
        "warning",
        *flags,
    ]


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
        return _rss_mb(proc.pid), jobs


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

PLUGIN_TESTS = {
    "400": """
@pytest.mark.anyio
@pytest.mark.parametrize("n", range({count}))
async def test_bad_request(wan26_client, n):
    response = await wan26_client.post("/v1/wan-2.6-i2v", json={{**BODY, "duration": 7}})
    assert response.status_code == 400
""",
    "v1 new seed": """
@pytest.mark.anyio
@pytest.mark.parametrize("n", range({count}))
async def test_v1_new_seed(wan26_client, n):
    response = await wan26_client.post("/v1/wan-2.6-i2v", json={{**BODY, "seed": n}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
""",
    "v2 submit/poll/result": """
@pytest.mark.anyio
@pytest.mark.parametrize("n", range({count}))
async def test_v2_flow(wan26_client, n):
    job = (await wan26_client.post("/v2/wan-2.6-i2v", json={{**BODY, "seed": n}})).json()
    for _ in range(2000):
        status = (await wan26_client.get(job["status_url"])).json()["status"]
        if status == "COMPLETED":
            break
        await anyio.sleep(0.005)
    result = (await wan26_client.get(job["response_url"])).json()
    assert result["status"] == "COMPLETED" and result["output"]
""",
}
PLUGIN_HEADER = """
import anyio
import pytest

BODY = {"image": "https://example.com/cat.png", "prompt": "a cat"}


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""
RESPX_TESTS = """
import httpx
import pytest
import respx

VIDEO = bytes(range(256)) * 1000  # a static ~250 KB answer
BODY = {{"image": "https://example.com/cat.png", "prompt": "a cat"}}
client = httpx.Client(headers={{"x-api-key": "k"}})  # shared by the module


@pytest.fixture
def segmind():
    with respx.mock(base_url="https://api.segmind.com") as router:
        router.post("/v1/wan-2.6-i2v").respond(
            200, content=VIDEO, headers={{"content-type": "video/mp4"}}
        )
        yield router


@pytest.mark.parametrize("n", range({count}))
def test_respx(segmind, n):
    response = client.post("https://api.segmind.com/v1/wan-2.6-i2v", json={{**BODY, "seed": n}})
    assert response.status_code == 200 and len(response.content) == len(VIDEO)
"""


def pytest_ms_per_test(source: str) -> float:
    """Mean ms per test (setup, call and teardown, from pytest's JUnit report) of a test
    file run by pytest in a subprocess; the first test, which pays the session's one-off
    costs (imports, worker processes), is left out."""
    import xml.etree.ElementTree as ElementTree

    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as folder:
        path = Path(folder) / "test_bench.py"
        path.write_text(source)
        report = Path(folder) / "report.xml"
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:xdist",
                "-p",
                "no:cacheprovider",
                "-q",
                "-x",
                f"--junitxml={report}",
                str(path),
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            env={**os.environ, "SEGMIND_API_KEY": KEY},
        )
        if completed.returncode != 0:
            raise RuntimeError(f"the generated tests failed:\n{completed.stdout[-3000:]}")
        times = [float(case.get("time", 0)) for case in ElementTree.parse(report).iter("testcase")]
    return statistics.mean(times[1:]) * 1000


def plugin_per_test(count: int, anchor_count: int) -> dict[str, float]:
    results = {"respx": pytest_ms_per_test(RESPX_TESTS.format(count=anchor_count))}
    for label, test in PLUGIN_TESTS.items():
        results[label] = pytest_ms_per_test(PLUGIN_HEADER + test.format(count=count))
    return results


# --- The 400 and 401 paths against a bare Starlette app -------------------------------

# The anchor's app, given KEY (benchmarks/inprocess.py drives it without a server).
BARE_ROUTE = """
import json
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

DURATIONS = (5, 10, 15)


async def model(request):
    if request.headers.get("x-api-key") != KEY:
        return JSONResponse({"error": "Unauthorized: missing or invalid API key"}, 401)
    body = json.loads(await request.body())
    if body.get("duration") not in DURATIONS:
        return JSONResponse(
            {"error": "Invalid parameter 'duration': must be one of 5, 10, 15 (got 7)"}, 400
        )
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/v1/{slug}", model, methods=["POST"])])
"""
BARE_APP = f"""
import sys
from wan26.mockserver.server.serving import make_server

KEY = sys.argv[2]
{BARE_ROUTE}
make_server(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning").run()
"""


def bare_starlette_rates(seconds: int, connections: int, rounds: int = 2) -> dict[str, list]:
    """req/s of the emulator and of a one-route Starlette app on the same uvicorn (the
    emulator's `make_server`), alternated A B A B, for the 400 and the 401 request."""
    results: dict[str, list] = {}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(BARE_APP)
    try:
        for _ in range(rounds):
            for name in ("emulator", "bare"):
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                command = (
                    emulator_command(port, 0.0)
                    if name == "emulator"
                    else [sys.executable, handle.name, str(port), KEY]
                )
                with running_command(command, f"{base}/", {"SEGMIND_API_KEY": KEY}):
                    for label, (headers, body) in REQUESTS.items():
                        url = f"{base}/v1/wan-2.6-i2v"
                        status = status_of(url, headers, body)
                        rate = wrk(url, headers, body, seconds, connections)
                        results.setdefault(f"{label} {name}", []).append((rate, status))
    finally:
        os.unlink(handle.name)
    return results


# --- New seeds of a known image: as a data URI, and by URL -----------------------------


def photo_jpeg() -> bytes:
    """A 1280x720 JPEG of about 200 KB (a noisy fractal: it does not compress away)."""
    import numpy as np

    picture = Image.effect_mandelbrot((1280, 720), (-2.2, -1.2, 1.0, 1.2), 100).convert("RGB")
    noise = np.random.default_rng(7).integers(0, 32, (720, 1280, 3))
    pixels = (np.asarray(picture).astype(int) + noise).clip(0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@contextmanager
def image_server(data: bytes) -> Iterator[str]:
    """A loopback HTTP server answering every GET with the JPEG."""
    from starlette.responses import Response as StarletteResponse

    from wan26.mockserver.server.background import running_server

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await StarletteResponse(data, media_type="image/jpeg")(scope, receive, send)

    with running_server(app) as base:
        yield f"{base}/photo.jpg"


async def known_image_rates(
    data: bytes, url: str, concurrency: int = 4, rounds: int = 6
) -> dict[str, float]:
    """New seeds/s (5 s 720p, `concurrency` at a time) of one image sent as a data URI,
    then by URL; each way warms up first (the image's segment library fills)."""
    import base64

    from wan26.mockserver.config import MediaConfig

    media = MediaConfig(allow_private_addresses=True)
    app = create_app(Config(keys=[KeyConfig(key=KEY)], time_scale=0.0, media=media))
    uri = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    results: dict[str, float] = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"x-api-key": KEY},
        timeout=120,
    ) as client:

        async def generate(image: str, seed: int) -> None:
            body = {"image": image, "prompt": "b", "seed": seed, "duration": 5}
            response = await client.post("/v1/wan-2.6-i2v", json=body)
            assert response.status_code == 200, response.text

        for label, image, base_seed in (("data URI", uri, 0), ("URL", url, 50_000)):
            for seed in range(12):  # the image's library fills as seeds come
                await generate(image, base_seed + seed)
            count = concurrency * rounds
            started = time.perf_counter()
            for first in range(0, count, concurrency):
                seeds = range(base_seed + 1000 + first, base_seed + 1000 + first + concurrency)
                await asyncio.gather(*(generate(image, seed) for seed in seeds))
            results[label] = count / (time.perf_counter() - started)
    return results


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
}


if __name__ == "__main__":
    sys.exit(main())
