"""Sections 7 to 9 of the benchmark: the emulator against anchors in the same run (a respx
stub per test through the pytest plugin, a bare Starlette app on the same uvicorn, and a
known image by URL against the same image as a data URI)."""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image
from tools import KEY, REQUESTS, emulator_command, in_process_client, status_of, wrk

from wan26.mockserver import Config, KeyConfig, create_app
from wan26.mockserver.server.background import free_port, running_command

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
    async with in_process_client(app) as client:

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
