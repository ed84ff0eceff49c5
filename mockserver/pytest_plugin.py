"""pytest fixtures for testing code that calls the Wan 2.6 API against the emulator.

Registered through the `pytest11` entry point, so installing the package is
enough. Override `wan26_config` in a conftest to change any setting.

- `wan26_app`: the ASGI app, in-process;
- `wan26_client`: an `httpx.AsyncClient` wired to it (no socket; anyio tests);
- `wan26_server`: the same app on a real uvicorn at 127.0.0.1, port 0: its base URL;
- `wan26_mock`: a handle to force outcomes and read the journal and accounts.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from mockserver.app import create_app
from mockserver.background import running_server
from mockserver.config import Config, MediaConfig
from mockserver.emulator import Emulator
from mockserver.scenarios import QueuedScenario, parse_outcome


@dataclass
class MockHandle:
    """What a test says to the emulator: "the next call gets 429", "one charged call"."""

    emulator: Emulator

    @property
    def api_key(self) -> str:
        return self.emulator.config.keys[0].key

    def fail_next(
        self,
        outcome: str,
        times: int = 1,
        *,
        key: str | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Force an outcome (a scenario name, e.g. "rate-limited" or "job-failed; message=x")."""
        forced = parse_outcome(outcome)
        if forced is None:
            raise ValueError("'success' needs no scenario")
        self.emulator.scenarios.queue(QueuedScenario(forced, times, key, path, method))

    def chaos(self, rates: dict[str, float], seed: int | None = 0) -> None:
        self.emulator.scenarios.set_chaos(rates, seed)

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        return self.emulator.journal.find(**filters)

    def charged_calls(self) -> list[dict[str, Any]]:
        return self.emulator.journal.find(charged=True)

    def set_key(self, key: str | None = None, **settings: Any) -> None:
        """Create a key or change its credits, free_credits, plan or models."""
        self.emulator.state.configure(key or self.api_key, settings)

    def balance(self, key: str | None = None) -> float:
        account = self.emulator.state.account(key or self.api_key)
        if account is None:
            raise KeyError("no such key")
        return account.balance

    def reset(self) -> None:
        self.emulator.reset()


@pytest.fixture
def wan26_config() -> Config:
    """No delays and no internet (every URL gets the stand-in); the key is
    `$SEGMIND_API_KEY` or `wan26-mock-key`."""
    return Config(time_scale=0.0, media=MediaConfig(offline=True)).with_default_key(os.environ)


@pytest.fixture
def wan26_app(wan26_config: Config) -> Iterator[Starlette]:
    app = create_app(wan26_config)
    yield app
    app.state.emulator.outputs.close()


@pytest.fixture
async def wan26_client(wan26_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
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
    with running_server(wan26_app) as base_url:
        yield base_url


@pytest.fixture
def wan26_mock(wan26_app: Starlette) -> MockHandle:
    return MockHandle(wan26_app.state.emulator)
