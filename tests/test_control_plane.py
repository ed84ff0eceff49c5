"""The /_mock control plane over HTTP: journal, state, scenarios, chaos, and who may use it."""

from __future__ import annotations

import socket

import httpx
import pytest
import uvicorn

from conftest import API_KEY, OFFLINE_IMAGE, make_config
from wan26.contracts.core.access import fingerprint
from wan26.mockserver import cli, create_app
from wan26.mockserver.config import ControlConfig, KeyConfig

# Every test here runs on each state backend (memory, a state directory, Redis).
pytestmark = [pytest.mark.anyio, pytest.mark.every_state_backend]
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 5}


async def test_journal_records_requests_with_the_key_redacted(client: httpx.AsyncClient) -> None:
    await client.post("/v1/wan-2.6-i2v", json=BODY)
    await client.post("/v1/wan-2.6-i2v", json={**BODY, "duration": 7})
    await client.get("/v1/get-user-credits", headers={"x-mock-scenario": "bad-gateway"})
    entries = (await client.get("/_mock/journal")).json()["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/v1/wan-2.6-i2v", 200),
        ("POST", "/v1/wan-2.6-i2v", 400),
        ("GET", "/v1/get-user-credits", 502),
    ]
    first = entries[0]
    assert first["headers"]["x-api-key"] == fingerprint(API_KEY)
    assert API_KEY not in str(entries)
    assert '"prompt": "a cat"' in first["body"] or '"prompt":"a cat"' in first["body"]
    assert first["charged_usd"] == 0.625 and first["duration_ms"] >= 0
    assert entries[1]["charged_usd"] == 0 and entries[2]["outcome"] == "bad-gateway"


async def test_journal_keeps_the_answers_headers(client: httpx.AsyncClient) -> None:
    """What the caller read (cost, balance, request id, seed) is in its entry as sent."""
    answer = await client.post("/v1/wan-2.6-i2v", json=BODY)
    entry = (await client.get("/_mock/journal")).json()["entries"][0]
    names = ["x-cost", "x-remaining-credits", "x-request-id", "x-seed-value", "x-generation-time"]
    for name in [*names, "content-type"]:
        assert entry["response_headers"][name] == answer.headers[name]


async def test_journal_filters_and_clear(client: httpx.AsyncClient) -> None:
    await client.post("/v1/wan-2.6-i2v", json=BODY)
    await client.post("/v1/wan-2.6-i2v", json={})
    await client.get("/v1/get-user-credits")
    journal = "/_mock/journal"
    assert (await client.get(journal, params={"method": "get"})).json()["count"] == 1
    assert (await client.get(journal, params={"status": 400})).json()["count"] == 1
    assert (await client.get(journal, params={"path": "/v1/wan"})).json()["count"] == 2
    assert (await client.get(journal, params={"charged": "true"})).json()["count"] == 1
    assert (await client.get(journal, params={"key": API_KEY})).json()["count"] == 3
    assert (await client.get(journal, params={"key": "someone-else"})).json()["count"] == 0
    assert (await client.get(journal, params={"limit": 1})).json()["entries"][0]["method"] == "GET"
    assert (await client.get(journal, params={"status": "x"})).status_code == 400
    assert (await client.delete(journal)).status_code == 200
    assert (await client.get(journal)).json()["count"] == 0


async def test_data_uris_are_elided_from_the_journal(client: httpx.AsyncClient) -> None:
    image = "data:image/png;base64," + "A" * 5000
    await client.post("/v1/wan-2.6-i2v", json={**BODY, "image": image})
    body = (await client.get("/_mock/journal")).json()["entries"][0]["body"]
    assert "data:image/png;base64,<3750 bytes, sha256 " in body
    assert "AAAAAAAAAAAAAAAAAAAA" not in body


async def test_keys_credits_and_plans_are_set_at_run_time(client: httpx.AsyncClient) -> None:
    created = await client.put("/_mock/keys/new-team-key", json={"credits": 0.7, "plan": 1})
    assert created.status_code == 200
    assert created.json()["credits"] == 0.7 and created.json()["key"] == fingerprint("new-team-key")
    team = {"x-api-key": "new-team-key"}
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY, headers=team)).status_code == 200
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY, headers=team)).status_code == 429
    await client.put("/_mock/keys/new-team-key", json={"plan": "unlimited", "credits": 0.1})
    poor = await client.post("/v1/wan-2.6-i2v", json=BODY, headers=team)
    assert poor.status_code == 406
    keys = (await client.get("/_mock/state")).json()["keys"]
    assert {k["key"]: k["credits"] for k in keys}[fingerprint("new-team-key")] == 0.1
    assert (await client.delete("/_mock/keys/new-team-key")).status_code == 200
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY, headers=team)).status_code == 401
    assert (await client.delete("/_mock/keys/new-team-key")).status_code == 404


@pytest.mark.parametrize(
    "settings",
    [{"credits": "lots"}, {"plan": "platinum"}, {"colour": "red"}, {"models": 3}],
)
async def test_bad_key_settings_are_400(client: httpx.AsyncClient, settings: dict) -> None:
    response = await client.put("/_mock/keys/k2", json=settings)
    assert response.status_code == 400
    assert response.json()["error"]


async def test_reset_restores_the_configured_state(client: httpx.AsyncClient) -> None:
    await client.put(f"/_mock/keys/{API_KEY}", json={"credits": 1})
    await client.post("/_mock/scenarios", json={"outcome": "server-error", "times": 5})
    await client.post("/v2/wan-2.6-i2v", json=BODY)
    assert (await client.post("/_mock/reset")).json() == {"reset": True}
    assert (await client.get("/v1/get-user-credits")).json()["credits"] == 1_000_000
    state = (await client.get("/_mock/state")).json()
    assert sum(state["jobs"].values()) == 0
    assert (await client.get("/_mock/scenarios")).json()["queued"] == []
    assert (await client.get("/_mock/journal")).json()["count"] == 1  # the credits call above


async def test_queued_scenarios_hit_the_next_n_matching_requests(client: httpx.AsyncClient) -> None:
    queued = await client.post(
        "/_mock/scenarios", json={"outcome": "rate-limited", "times": 2, "path": "/v1/wan"}
    )
    assert queued.json()["queued"][0]["times"] == 2
    assert (await client.get("/v1/get-user-credits")).status_code == 200  # path does not match
    statuses = [(await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    journal = (await client.get("/_mock/journal", params={"outcome": "rate-limited"})).json()
    assert journal["count"] == 2


async def test_queued_scenarios_per_key(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY), KeyConfig(key="other-key")]))
    await client.post("/_mock/scenarios", json={"outcome": "server-error", "key": "other-key"})
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    other = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-api-key": "other-key"})
    assert other.status_code == 500


async def test_request_header_wins_over_queued_scenarios(client: httpx.AsyncClient) -> None:
    await client.post("/_mock/scenarios", json={"outcome": "server-error"})
    response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"Prefer": "code=200"})
    assert response.status_code == 200
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 500


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"outcome": "meteor"}, "Unknown X-Mock-Scenario 'meteor'"),
        ({"outcome": "server-error", "times": 0}, "Invalid parameter 'times': must be at least 1"),
        ({"outcome": "server-error", "colour": 1}, "Unknown parameter 'colour'"),
        ({"outcome": "success"}, "'success' needs no scenario"),
    ],
)
async def test_bad_scenarios_are_400(client: httpx.AsyncClient, spec: dict, message: str) -> None:
    response = await client.post("/_mock/scenarios", json=spec)
    assert response.status_code == 400
    assert message in response.json()["error"]


async def chaos_run(client: httpx.AsyncClient, seed: int) -> list[int]:
    rates = {"bad-gateway": 0.2, "server-error": 0.1}
    assert (
        await client.put("/_mock/chaos", json={"seed": seed, "rates": rates})
    ).status_code == 200
    return [(await client.get("/v1/get-user-credits")).status_code for _ in range(60)]


async def test_chaos_reproduces_exactly_with_the_same_seed(app_factory, client_for) -> None:
    first = await chaos_run(client_for(app_factory()), seed=42)
    again = await chaos_run(client_for(app_factory()), seed=42)
    other = await chaos_run(client_for(app_factory()), seed=43)
    assert first == again != other
    assert first.count(502) > 3 and first.count(500) > 1 and first.count(200) > 30


async def test_chaos_can_be_cleared_and_checked(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/chaos", json={"seed": 1, "rates": {"server-error": 1.0}})
    assert (await client.get("/v1/get-user-credits")).status_code == 500
    view = (await client.delete("/_mock/chaos")).json()
    assert view["chaos"] == {"seed": None, "rates": {}}
    assert (await client.get("/v1/get-user-credits")).status_code == 200
    bad = await client.put(
        "/_mock/chaos", json={"rates": {"server-error": 0.7, "bad-gateway": 0.5}}
    )
    assert bad.status_code == 400 and "more than 1" in bad.json()["error"]


async def test_token_protects_the_control_plane(app_factory, client_for) -> None:
    client = client_for(app_factory(control=ControlConfig(token="s3cret")))
    assert (await client.get("/_mock/state")).status_code == 401
    allowed = await client.get("/_mock/state", headers={"x-mock-token": "s3cret"})
    assert allowed.status_code == 200
    assert (await client.get("/v1/get-user-credits")).status_code == 200  # the API needs none


async def test_without_a_token_only_loopback_clients_may_use_it() -> None:
    app = create_app(make_config())
    remote = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=remote, base_url="http://localhost") as client:
        refused = await client.get("/_mock/state")
    assert refused.status_code == 403
    await app.state.emulator.aclose()


async def test_disabled_control_plane_is_not_there(app_factory, client_for) -> None:
    client = client_for(app_factory(control=ControlConfig(enabled=False)))
    assert (await client.get("/_mock/journal")).status_code == 404


def test_serving_on_a_public_address_without_a_token_turns_the_control_plane_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = {}

    def run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        served.update(app=server.config.app, host=sockets[0].getsockname()[0])
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert served["app"].state.emulator.config.control.enabled is False
    assert served["host"] == "0.0.0.0"
    assert cli.main(["serve", "--host", "127.0.0.1", "--port", "0"]) == 0
    assert served["app"].state.emulator.config.control.enabled is True
