"""pytest fixtures for testing code that calls the Wan 2.6 API against the emulator.

Registered through the `pytest11` entry point, so installing the package is
enough. Every pytest run of a project that has the client installed loads this
file, so it imports the emulator only inside the fixtures that use it.

- `wan26_config`: the settings (override it to change any);
- `wan26_app`: the ASGI app, in-process;
- `wan26_client`: an `httpx.AsyncClient` wired to it (no socket; anyio tests);
- `wan26_server`: the same app on a real uvicorn at 127.0.0.1, port 0: its base URL;
- `wan26_mock`: a handle to force outcomes and read the journal and accounts;
- `wan26_cassette`: the cassette the emulator answers from: `--wan26-replay DIR`
  (CI) or `--wan26-record DIR` (a developer, with `$SEGMIND_API_KEY`); off by default.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from wan26.contracts.core.extras import require

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from wan26.mockserver.config import CassetteConfig, Config
    from wan26.mockserver.testing.handle import MockHandle

IN_PROCESS_HOST = "wan26.test"  # wan26_client's base URL: no socket, no DNS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wan26", "Wan 2.6 emulator")
    group.addoption("--wan26-replay", metavar="DIR", help="answer from the cassette in DIR")
    group.addoption(
        "--wan26-record", metavar="DIR", help="forward unrecorded calls upstream, keep them in DIR"
    )
    group.addoption("--wan26-upstream", metavar="URL", help="where --wan26-record forwards")
    group.addoption(
        "--wan26-max-spend-usd", type=float, help="--wan26-record's budget (default 0: free only)"
    )
    group.addoption(
        "--wan26-on-miss", choices=("emulate", "error"), help="replay: an unrecorded call"
    )


@pytest.fixture
def wan26_cassette(request: pytest.FixtureRequest) -> CassetteConfig:
    """From the command-line options; override it to pin a cassette in a conftest."""
    require("mock")
    from wan26.mockserver.config import CassetteConfig

    option = request.config.getoption
    replay, record = option("--wan26-replay"), option("--wan26-record")
    if replay and record:
        raise pytest.UsageError("--wan26-replay and --wan26-record exclude each other")
    if not (replay or record):
        return CassetteConfig()
    settings = {
        "upstream": option("--wan26-upstream"),
        "max_spend_usd": option("--wan26-max-spend-usd"),
        "on_miss": option("--wan26-on-miss"),
    }
    return CassetteConfig(
        mode="replay" if replay else "record",
        dir=replay or record,
        **{name: value for name, value in settings.items() if value is not None},
    )


@pytest.fixture
def wan26_config(wan26_cassette: CassetteConfig) -> Config:
    """No delays and no internet (a URL the media rules accept gets the stand-in; as
    against the real service, loopback and private addresses are a 400 unless
    `media.allow_private_addresses` is set); the key is `$SEGMIND_API_KEY` or
    `wan26-mock-key`. To change a setting, override it and start from this one:
    `def wan26_config(wan26_config): return wan26_config.replace(...)`."""
    require("mock")
    from wan26.mockserver.config import Config, MediaConfig

    return Config(time_scale=0.0, media=MediaConfig(offline=True), cassette=wan26_cassette)


@pytest.fixture
def wan26_app(wan26_config: Config) -> Iterator[Starlette]:
    from wan26.mockserver.http.app import create_app
    from wan26.mockserver.store.memory import MemoryStore

    control = wan26_config.control  # `/_mock` answers wan26_client's made-up host too
    hosts = [*control.allowed_hosts, IN_PROCESS_HOST]
    config = wan26_config.replace(control=dataclasses.replace(control, allowed_hosts=hosts))
    app = create_app(config.with_default_key(os.environ))
    yield app
    if isinstance(app.state.emulator.store, MemoryStore):
        app.state.emulator.store.outputs.close()


@pytest.fixture
async def wan26_client(wan26_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    from wan26.mockserver.http.app import running

    key = wan26_app.state.emulator.config.keys[0].key
    async with (
        running(wan26_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=wan26_app),
            base_url=f"http://{IN_PROCESS_HOST}",
            headers={"x-api-key": key},
            timeout=120,
        ) as client,
    ):
        yield client


@pytest.fixture
def wan26_server(wan26_app: Starlette) -> Iterator[str]:
    from wan26.mockserver.server.background import running_server

    with running_server(wan26_app) as base_url:
        yield base_url


@pytest.fixture
def wan26_mock(wan26_app: Starlette) -> MockHandle:
    from wan26.mockserver.testing.handle import MockHandle

    return MockHandle(wan26_app.state.emulator)
