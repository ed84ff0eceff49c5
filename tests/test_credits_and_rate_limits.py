"""Price, credits and rate limits: only a 200 is charged; plans cap requests per minute."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from conftest import API_KEY, OFFLINE_IMAGE
from wan26.mockserver.config import KeyConfig

# Every test here runs on each state backend (memory, a state directory, Redis).
pytestmark = [pytest.mark.anyio, pytest.mark.every_state_backend]
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 7}  # one seed: renders are cached


async def balance(client: httpx.AsyncClient) -> float:
    response = await client.get("/v1/get-user-credits")
    assert response.status_code == 200
    body = response.json()
    return body["credits"] + body["free-credits"]


@pytest.mark.parametrize(
    ("duration", "resolution", "price"),
    [
        (5, "720p", "0.625"),
        (10, "720p", "1.25"),
        (15, "720p", "1.875"),
        (5, "1080p", "0.9375"),
        (15, "1080p", "2.8125"),
    ],
)
async def test_price_is_duration_times_the_tiers_rate(
    app_factory, client_for, duration: int, resolution: str, price: str
) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, credits=10.0)]))
    response = await client.post(
        "/v1/wan-2.6-i2v", json={**BODY, "duration": duration, "resolution": resolution}
    )
    assert response.status_code == 200
    assert response.headers["x-cost"] == price
    remaining = 10.0 - float(price)
    assert float(response.headers["x-remaining-credits"]) == pytest.approx(remaining)
    assert await balance(client) == pytest.approx(remaining)


async def test_price_is_configurable(app_factory, client_for) -> None:
    client = client_for(app_factory(pricing_per_second={"720p": 0.2}))
    response = await client.post("/v1/wan-2.6-i2v", json=BODY)
    assert response.headers["x-cost"] == "1"


async def test_credits_endpoint_reports_paid_and_free(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, credits=2.5, free_credits=1.0)]))
    assert (await client.get("/v1/get-user-credits")).json() == {
        "credits": 2.5,
        "free-credits": 1.0,
    }
    await client.post("/v1/wan-2.6-i2v", json=BODY)
    assert (await client.get("/v1/get-user-credits")).json() == {
        "credits": 2.5,
        "free-credits": 0.375,
    }


async def test_balance_below_price_is_406_naming_balance_and_cost(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, credits=0.5)]))
    response = await client.post("/v1/wan-2.6-i2v", json=BODY)
    assert response.status_code == 406
    message = response.json()["error"]
    assert message.startswith("Not enough credits")
    assert "Balance: $0.5, cost: $0.625" in message
    assert await balance(client) == 0.5


async def test_only_a_200_is_charged(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, credits=5.0)]))
    await client.post("/v1/wan-2.6-i2v", json={**BODY, "duration": 7})  # 400
    await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-mock-scenario": "server-error"})
    await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"Prefer": "code=502"})
    await client.post("/v1/wan-2.6-i2v", json={**BODY, "image": "data:image/png;base64,AAAA"})
    assert await balance(client) == 5.0
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    assert await balance(client) == pytest.approx(4.375)


async def test_last_affordable_call_then_406(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, credits=1.25)]))
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 406
    assert await balance(client) == pytest.approx(0.0)


@pytest.mark.parametrize(("plan", "allowed"), [("free", 5), (3, 3)])
async def test_requests_over_the_plan_are_429_with_reset_header(
    app_factory, client_for, plan: str | int, allowed: int
) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, plan=plan)]))
    statuses = [
        (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code for _ in range(allowed)
    ]
    assert statuses == [200] * allowed
    refused = await client.post("/v1/wan-2.6-i2v", json=BODY)
    assert refused.status_code == 429
    reset = datetime.strptime(refused.headers["x-rate-limit-reset-at-utc"], "%Y-%m-%dT%H:%M:%SZ")
    seconds_left = (reset.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    assert 0 < seconds_left <= 61
    assert "retry-after" not in refused.headers
    assert refused.json()["error"].startswith("Rate limit exceeded")


async def test_rate_window_resets(app_factory, client_for) -> None:
    app = app_factory(keys=[KeyConfig(key=API_KEY, plan=1)])
    now = [1_000_000.0]
    app.state.emulator.clock = lambda: now[0]
    client = client_for(app)
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    now[0] += 59
    refused = await client.post("/v1/wan-2.6-i2v", json=BODY)
    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-reset-at-utc"] == "1970-01-12T13:47:40Z"
    now[0] += 1
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200


async def test_invalid_bodies_do_not_use_up_the_plan(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, plan=1)]))
    for _ in range(3):
        assert (await client.post("/v1/wan-2.6-i2v", json={})).status_code == 400
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200


async def test_pro_plan_is_50_per_minute(app_factory, client_for) -> None:
    app = app_factory(keys=[KeyConfig(key=API_KEY, plan="pro")])
    await app.state.emulator.start()
    account = await app.state.emulator.store.accounts.get(API_KEY)
    assert account.requests_per_minute == 50
    await app.state.emulator.aclose()


async def test_keys_are_separate_accounts(app_factory, client_for) -> None:
    client = client_for(
        app_factory(
            keys=[
                KeyConfig(key=API_KEY, credits=3.0, plan=1),
                KeyConfig(key="other", credits=7.0, plan=1),
            ]
        )
    )
    await client.post("/v1/wan-2.6-i2v", json=BODY)
    other = (await client.get("/v1/get-user-credits", headers={"x-api-key": "other"})).json()
    assert other["credits"] == 7.0
    second = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-api-key": "other"})
    assert second.status_code == 200
