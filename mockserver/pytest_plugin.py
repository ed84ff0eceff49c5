"""pytest fixtures for testing code that calls the Wan 2.6 API against the emulator.

Registered through the `pytest11` entry point, so installing the package is
enough. Every pytest run of a project that has the client installed loads this
file, so it imports the emulator only inside the fixtures that use it.

- `wan26_config`: the settings (override it to change any);
- `wan26_app`: the ASGI app, in-process;
- `wan26_client`: an `httpx.AsyncClient` wired to it (no socket; anyio tests);
- `wan26_server`: the same app on a real uvicorn at 127.0.0.1, port 0: its base URL;
- `wan26_mock`: a handle to force outcomes and read the journal and accounts.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from wan26.mockserver.extras import require

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from wan26.mockserver.config import Config
    from wan26.mockserver.testing import MockHandle


@pytest.fixture
def wan26_config() -> Config:
    """No delays and no internet (every URL gets the stand-in); the key is
    `$SEGMIND_API_KEY` or `wan26-mock-key`. To change a setting, override it and
    start from this one: `def wan26_config(wan26_config): return wan26_config.replace(...)`."""
    require("mock")
    from wan26.mockserver.config import Config, MediaConfig

    return Config(time_scale=0.0, media=MediaConfig(offline=True))


@pytest.fixture
def wan26_app(wan26_config: Config) -> Iterator[Starlette]:
    from wan26.mockserver.app import create_app

    app = create_app(wan26_config.with_default_key(os.environ))
    yield app
    app.state.emulator.outputs.close()


@pytest.fixture
async def wan26_client(wan26_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    key = wan26_app.state.emulator.config.keys[0].key
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wan26_app),
        base_url="http://wan26.test",
        headers={"x-api-key": key},
        timeout=120,
    ) as client:
        yield client


@pytest.fixture
def wan26_server(wan26_app: Starlette) -> Iterator[str]:
    from wan26.mockserver.background import running_server

    with running_server(wan26_app) as base_url:
        yield base_url


@pytest.fixture
def wan26_mock(wan26_app: Starlette) -> MockHandle:
    from wan26.mockserver.testing import MockHandle

    return MockHandle(wan26_app.state.emulator)
