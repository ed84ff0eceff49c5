"""Redis going away under a running emulator: clear 503s, no money lost or made, and the
same emulator answering again once Redis is back."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from redisserver import REDIS_SERVER, redis_process
from test_shared_state import BODY, HEADERS, PRICE, balance, emulator, write_config
from wan26.mockserver.server.background import free_port

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def test_redis_going_away_is_a_503_and_nothing_is_half_charged(tmp_path: Path) -> None:
    folder, port = tmp_path / "redis", free_port()
    folder.mkdir()
    config = write_config(tmp_path, Decimal(10))
    with redis_process(folder, port, durable=True) as (url, server):
        flags = ["--redis-url", url]
        with emulator(config, flags) as (base, _):
            calls = [
                httpx.post(f"{base}/v1/wan-2.6-i2v", json=BODY, headers=HEADERS, timeout=60)
                for _ in range(2)
            ]
            assert [c.status_code for c in calls] == [200, 200]
            server.terminate()
            server.wait(10)
            started = time.monotonic()
            lost = httpx.post(f"{base}/v1/wan-2.6-i2v", json=BODY, headers=HEADERS, timeout=60)
            assert lost.status_code == 503 and time.monotonic() - started < 10
            assert lost.json()["error"].startswith("Service temporarily unavailable")
            assert "retry-after" in lost.headers
            poll = httpx.get(f"{base}/v2/requests/anything", headers=HEADERS, timeout=60)
            assert poll.status_code == 503
            with redis_process(folder, port, durable=True):
                # The same emulator recovers once Redis is back, with the money as it was.
                assert balance(base) == 10 - 2 * PRICE
                again = httpx.post(f"{base}/v1/wan-2.6-i2v", json=BODY, headers=HEADERS)
                assert again.status_code == 200
                assert balance(base) == 10 - 3 * PRICE
