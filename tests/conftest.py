from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import av
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from redisserver import REDIS_SERVER, redis_server
from wan26.mockserver import Config, KeyConfig, create_app, running
from wan26.mockserver.config import LatencyConfig, MediaConfig
from wan26.mockserver.server.background import running_server

pytest_plugins = ["pytester"]

API_KEY = "wan26-test-key"
OFFLINE_IMAGE = "https://segmind-resources.s3.amazonaws.com/output/example.webp"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server for the session (`.ci/run` installs Debian's package); tests
    keep apart by key prefix. Without the program the Redis tests are skipped, visibly."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def make_config(**overrides: Any) -> Config:
    """A config for tests: one unlimited key, no delays, no internet, local media allowed."""
    media = overrides.pop("media", MediaConfig(offline=True, allow_private_addresses=True))
    return Config(
        keys=overrides.pop("keys", [KeyConfig(key=API_KEY)]),
        time_scale=overrides.pop("time_scale", 0.0),
        seed=overrides.pop("seed", 1234),
        media=media,
        latency=overrides.pop("latency", LatencyConfig()),
        **overrides,
    )


BACKENDS = ["memory", "sqlite", "redis"]


@pytest.fixture
def state_backend() -> str:
    """Where the apps of `app_factory` keep state: memory, unless a test is marked
    `every_state_backend` (then it runs once on each)."""
    return "memory"


# The slow tier: files whose tests start servers in subprocesses, browsers or Redis
# outages, install packages, run mypy, linters or schemathesis, or render many videos.
# `pytest -m "not slow"` leaves them out: the fast tier for the edit-test loop (under a
# minute on 2 cores); the full suite runs both.
SLOW_FILES = {
    "test_cassette.py",
    "test_cassette_trust.py",
    "test_cli_text.py",
    "test_client_agreement.py",
    "test_client_cli.py",
    "test_contract_drift.py",
    "test_contracts_cli.py",
    "test_contracts_robustness.py",
    "test_dashboard.py",
    "test_dashboard_api.py",
    "test_docs.py",
    "test_fuzz_all_operations.py",
    "test_generated_client.py",
    "test_hostile_inputs.py",
    "test_install.py",
    "test_learning.py",
    "test_media.py",
    "test_official_sdk.py",
    "test_pytest_plugin.py",
    "test_readme.py",
    "test_recording_across_processes.py",
    "test_redis_outage.py",
    "test_render_library.py",
    "test_report.py",
    "test_report_dashboard.py",
    "test_report_plugin.py",
    "test_schemathesis_cli.py",
    "test_server.py",
    "test_shared_state.py",
    "test_slow_clients_and_shutdown.py",
    "test_spec_lint.py",
    "test_state_dir.py",
    "test_state_flags.py",
    "test_store_outage.py",
    "test_store_redis.py",
    "test_typing.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker("every_state_backend")
    if marked and "state_backend" in metafunc.fixturenames:
        metafunc.parametrize("state_backend", BACKENDS)


@pytest.fixture
def app_factory(
    state_backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[..., Starlette]:
    """Apps for a test, each with state of its own on the test's backend."""

    def backend() -> dict[str, Any]:
        if state_backend == "sqlite":
            return {"state_dir": str(tmp_path_factory.mktemp("state"))}
        if state_backend == "redis":
            prefix = f"wan26-test-{uuid.uuid4().hex[:12]}:"
            return {"redis_url": request.getfixturevalue("redis_url"), "redis_prefix": prefix}
        return {}

    return lambda **overrides: create_app(make_config(**{**backend(), **overrides}))


class LifespanTransport(httpx.ASGITransport):
    """httpx's in-process transport, once the app's lifespan (its v2 workers) has started."""

    def __init__(self, app: Starlette, started: anyio.Event) -> None:
        super().__init__(app=app)
        self.started = started

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.started.wait()
        return await super().handle_async_request(request)


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[Starlette], httpx.AsyncClient]]:
    """In-process clients (no socket) for any app a test builds. Each app's lifespan runs in
    a task of its own while the test runs, and ends (the emulator closed) after it."""
    stop = anyio.Event()
    clients: list[httpx.AsyncClient] = []

    async def serve(app: Starlette, started: anyio.Event) -> None:
        async with running(app):
            started.set()
            await stop.wait()

    async with anyio.create_task_group() as group:

        def open_client(app: Starlette) -> httpx.AsyncClient:
            started = anyio.Event()
            group.start_soon(serve, app, started)
            client = httpx.AsyncClient(
                transport=LifespanTransport(app, started),
                base_url="http://emulator.localhost",
                headers={"x-api-key": API_KEY},
                timeout=60,
            )
            clients.append(client)
            return client

        yield open_client
        for client in clients:
            await client.aclose()
        stop.set()


@pytest.fixture
async def client(
    client_for: Callable[[Starlette], httpx.AsyncClient], app_factory: Callable[..., Starlette]
) -> httpx.AsyncClient:
    return client_for(app_factory())


@dataclass
class MediaServer:
    """A local HTTP server for input fixtures: `url_for(bytes)` publishes a file."""

    base_url: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def url_for(self, data: bytes, content_type: str = "application/octet-stream") -> str:
        name = f"file{len(self.files)}"
        self.files[name] = (data, content_type)
        return f"{self.base_url}/{name}"


@pytest.fixture(scope="session")
def media_server() -> Iterator[MediaServer]:
    server = MediaServer()

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "redirect-home":
            return Response(status_code=302, headers={"location": "http://127.0.0.1:9/x"})
        if name == "slow":
            await anyio.sleep(float(request.query_params.get("seconds", "5")))
            return Response(b"late", media_type="image/png")
        if name not in server.files:
            return Response("missing", status_code=404)
        data, content_type = server.files[name]
        return Response(data, media_type=content_type)

    with running_server(Starlette(routes=[Route("/{name}", serve)])) as base_url:
        server.base_url = base_url
        yield server


@dataclass(frozen=True)
class Probe:
    """What a decoded MP4 holds."""

    video_codec: str
    pixel_format: str
    fps: float
    frames: int
    width: int
    height: int
    duration_s: float
    audio_codec: str | None
    audio_duration_s: float | None


def probe(data: bytes) -> Probe:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        audio = container.streams.audio[0] if container.streams.audio else None
        return Probe(
            video_codec=video.codec_context.name,
            pixel_format=video.codec_context.pix_fmt,
            fps=float(video.average_rate),
            frames=frames,
            width=video.codec_context.width,
            height=video.codec_context.height,
            duration_s=float(video.duration * video.time_base),
            audio_codec=audio.codec_context.name if audio else None,
            audio_duration_s=float(audio.duration * audio.time_base) if audio else None,
        )
