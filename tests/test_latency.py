"""Run times: seeded lognormal around the documented 139.37 s, scaled, reported, waited for."""

from __future__ import annotations

import random
import statistics
import time

import httpx
import pytest

from conftest import OFFLINE_IMAGE
from wan26.mockserver.config import LatencyConfig
from wan26.mockserver.core.latency import LatencyModel

DOCUMENTED = 139.37


def model(seed: int = 1, time_scale: float = 1.0, **config) -> LatencyModel:
    return LatencyModel(LatencyConfig(**config), DOCUMENTED, time_scale, random.Random(seed))


def test_median_is_the_documented_time_for_5s_720p() -> None:
    draws = [model(seed).draw(5, "720p").emulated_s for seed in range(400)]
    assert statistics.median(draws) == pytest.approx(DOCUMENTED, rel=0.03)
    assert min(draws) >= DOCUMENTED * 0.7 and max(draws) <= DOCUMENTED * 1.5
    assert statistics.pstdev(draws) > 5  # it varies, as the real service does


def test_scales_with_duration_and_resolution() -> None:
    latency = model()
    assert latency.median_for(15, "720p") == pytest.approx(3 * DOCUMENTED)
    assert latency.median_for(5, "1080p") == pytest.approx(1.5 * DOCUMENTED)


def test_same_seed_same_draws_and_time_scale_applies() -> None:
    one, two = model(9, 0.01), model(9, 0.01)
    first = [one.draw(10, "1080p") for _ in range(5)]
    again = [two.draw(10, "1080p") for _ in range(5)]
    assert first == again
    assert len(set(first)) == 5
    assert first[0].wall_s == pytest.approx(first[0].emulated_s * 0.01)
    assert model(9, 0.0).draw(5, "720p").wall_s == 0.0


def test_configured_median_overrides_the_documented_one() -> None:
    assert model(median_s=60).median_for(5, "720p") == 60


@pytest.mark.anyio
async def test_response_waits_the_scaled_time_and_reports_the_emulated_one(
    app_factory, client_for
) -> None:
    client: httpx.AsyncClient = client_for(app_factory(time_scale=0.005))
    started = time.monotonic()
    response = await client.post(
        "/v1/wan-2.6-i2v", json={"image": OFFLINE_IMAGE, "prompt": "p", "seed": 1}
    )
    elapsed = time.monotonic() - started
    emulated = float(response.headers["x-generation-time"])
    assert DOCUMENTED * 0.7 <= emulated <= DOCUMENTED * 1.5
    assert elapsed >= emulated * 0.005 * 0.95
