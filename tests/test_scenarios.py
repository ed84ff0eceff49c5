"""Forcing outcomes: `X-Mock-Scenario: <name>` and Prism-style `Prefer: code=<status>`."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import OFFLINE_IMAGE
from wan26.mockserver.config import LatencyConfig
from wan26.mockserver.core.errors import CATALOGUE

# Every test here runs on each state backend (memory, a state directory, Redis).
pytestmark = [pytest.mark.anyio, pytest.mark.every_state_backend]
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 3}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
async def test_every_catalogue_scenario_answers_its_status_and_shape(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-mock-scenario": name})
    failure = CATALOGUE[name]
    assert response.status_code == failure.status
    if failure.status == 405:
        assert response.headers["content-type"].startswith("text/html")
    else:
        body = response.json()
        assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    if failure.status == 429:
        assert "x-rate-limit-reset-at-utc" in response.headers


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (400, "Invalid parameters or request format"),
        (401, "User authentication failed"),
        (403, "Access to model wan-2.6-i2v is not allowed for this API key"),
        (404, "Model wan-2.6-i2v not found"),
        (406, "Not enough credits."),
        (429, "Rate limit exceeded"),
        (500, "Server had some issue"),
        (502, "Service temporarily unavailable"),
        (504, "Request timed out"),
    ],
)
async def test_prefer_code_forces_each_documented_status(
    client: httpx.AsyncClient, code: int, message: str
) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"Prefer": f"code={code}"})
    assert response.status_code == code
    assert response.json()["error"].startswith(message)


async def test_forced_insufficient_credits_names_the_requests_price(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/wan-2.6-i2v",
        json={**BODY, "duration": 15, "resolution": "1080p"},
        headers={"x-mock-scenario": "insufficient-credits"},
    )
    assert "cost: $2.8125" in response.json()["error"]


async def test_success_and_code_200_take_the_normal_path(client: httpx.AsyncClient) -> None:
    for headers in ({"x-mock-scenario": "success"}, {"Prefer": "code=200"}):
        response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-mock-scenario": "meteor-strike"}, "Unknown X-Mock-Scenario 'meteor-strike'"),
        ({"Prefer": "code=418"}, "Prefer: code=418 is not an outcome this API has"),
        ({"Prefer": "code=abc"}, "Prefer: code='abc' is not a status code"),
        *(
            (
                {"X-Mock-Scenario": f"{name}; seconds={value}"},
                f"X-Mock-Scenario seconds='{value}' must be a number of seconds from 0 to 3600",
            )
            for name in ("slow-body", "gateway-timeout")
            for value in ("1e999", "inf", "nan", "-1", "3601", "soon")
        ),
    ],
)
async def test_unknown_scenarios_are_a_clear_400(
    client: httpx.AsyncClient, headers: dict, expected: str
) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"].startswith(expected)


async def test_scenarios_reach_the_credits_endpoint(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/get-user-credits", headers={"Prefer": "code=502"})
    assert response.status_code == 502


async def test_forced_gateway_timeout_waits_for_the_scaled_timeout(app_factory, client_for) -> None:
    client = client_for(app_factory(time_scale=0.001, latency=LatencyConfig(gateway_timeout_s=300)))
    started = time.monotonic()
    response = await client.post(
        "/v1/wan-2.6-i2v", json=BODY, headers={"x-mock-scenario": "gateway-timeout"}
    )
    assert response.status_code == 504
    assert time.monotonic() - started >= 0.3


async def test_forced_gateway_timeout_can_say_how_long_to_wait(app_factory, client_for) -> None:
    client = client_for(app_factory(time_scale=1.0))
    started = time.monotonic()
    response = await client.post(
        "/v1/wan-2.6-i2v", json=BODY, headers={"x-mock-scenario": "gateway-timeout; seconds=0.2"}
    )
    assert response.status_code == 504
    assert 0.2 <= time.monotonic() - started < 60


async def test_run_over_the_gateway_timeout_is_504_and_not_charged(app_factory, client_for) -> None:
    client = client_for(app_factory(latency=LatencyConfig(gateway_timeout_s=100)))
    before = (await client.get("/v1/get-user-credits")).json()["credits"]
    response = await client.post("/v1/wan-2.6-i2v", json={**BODY, "duration": 15})
    assert response.status_code == 504
    assert response.json() == {"error": "Request timed out"}
    assert (await client.get("/v1/get-user-credits")).json()["credits"] == before


async def test_message_overrides_from_config(app_factory, client_for) -> None:
    client = client_for(app_factory(messages={"server-error": "Upstream exploded"}))
    response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"Prefer": "code=500"})
    assert response.json() == {"error": "Upstream exploded"}


def test_every_forced_outcome_is_described_exactly_once() -> None:
    """`Forced` is the one list of scenarios: each member is an HTTP failure of the
    catalogue, a network fault or a job outcome, and nothing else is."""
    from wan26.mockserver.core.errors import CATALOGUE
    from wan26.mockserver.core.outcomes import Forced
    from wan26.mockserver.core.scenarios import JOB_OUTCOMES, NETWORK_FAULTS, known_outcomes

    kinds = [set(CATALOGUE), set(NETWORK_FAULTS), set(JOB_OUTCOMES)]
    assert set().union(*kinds) == set(Forced)
    assert sum(len(kind) for kind in kinds) == len(Forced)
    assert set(known_outcomes()) == {"success", *Forced}
