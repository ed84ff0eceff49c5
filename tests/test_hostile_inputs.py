"""Hostile and careless input (issue 8): never a 500 or a dropped connection, always the
real API's `{"error": ...}` naming the problem; money exact; one 405; a useful journal."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from conftest import API_KEY, OFFLINE_IMAGE, make_config
from wan26.mockserver import KeyConfig, create_app
from wan26.mockserver.core import generation
from wan26.mockserver.server.background import running_server
from wan26.mockserver.testing.handle import MockHandle

V1, V2 = "/v1/wan-2.6-i2v", "/v2/wan-2.6-i2v"
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 7}
DEEP = b"[" * 10_000 + b"]" * 10_000
JSON = {"content-type": "application/json"}


@pytest.fixture
def served() -> Iterator[Callable[..., tuple[Starlette, httpx.Client]]]:
    """An app on a real uvicorn and one keep-alive client for it."""
    stack: list[tuple[object, httpx.Client]] = []

    def serve(**overrides: object) -> tuple[Starlette, httpx.Client]:
        app = create_app(make_config(**overrides))
        server = running_server(app)
        client = httpx.Client(
            base_url=server.__enter__(), headers={"x-api-key": API_KEY}, timeout=60
        )
        stack.append((server, client))
        return app, client

    yield serve
    for server, client in stack:
        client.close()
        server.__exit__(None, None, None)  # type: ignore[attr-defined]


def _connection(response: httpx.Response) -> tuple[str, int]:
    return response.extensions["network_stream"].get_extra_info("client_addr")


def assert_refused(
    client: httpx.Client, response: httpx.Response, status: int, fragment: str
) -> None:
    """The status, a JSON error naming the problem, and the same connection answers again."""
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    again = client.get("/_mock/health")
    assert again.status_code == 200
    assert _connection(again) == _connection(response)


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", V1, {}),
        ("POST", V2, {}),
        ("PUT", "/_mock/keys/k", {}),
    ],
)
def test_json_nested_10000_deep_is_400(served, method: str, path: str, headers: dict) -> None:
    _, client = served()
    response = client.request(method, path, content=DEEP, headers={**JSON, **headers})
    assert_refused(client, response, 400, "nested more than 32 levels deep")


def test_forced_insufficient_credits_with_a_deep_body_is_the_normal_406(served) -> None:
    _, client = served()
    response = client.post(
        V1, content=DEEP, headers={**JSON, "x-mock-scenario": "insufficient-credits"}
    )
    assert_refused(client, response, 406, "Not enough credits. Balance: $1000000, cost: $0.625")


def test_a_seed_of_5000_digits_is_400(served) -> None:
    _, client = served()
    raw = b'{"image": "%s", "prompt": "p", "seed": %s}' % (OFFLINE_IMAGE.encode(), b"9" * 5000)
    response = client.post(V1, content=raw, headers=JSON)
    assert_refused(client, response, 400, "an integer of 5000 digits is out of range")


def test_a_scenario_repeated_1e999_times_is_400(served) -> None:
    _, client = served()
    raw = b'{"outcome": "server-error", "times": 1e999}'
    response = client.post("/_mock/scenarios", content=raw, headers=JSON)
    assert_refused(client, response, 400, "the number '1e999' is out of range")
    assert client.get("/_mock/scenarios").json()["queued"] == []


def test_an_unexpected_exception_is_a_json_500_on_a_connection_that_stays_open(
    served, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = served()

    async def broken(headers: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.emulator, "authenticate", broken)
    response = client.get("/v1/get-user-credits")
    assert_refused(client, response, 500, "Server had some issue")
    assert MockHandle(app.state.emulator).journal()[-1]["error"] == "Server had some issue"


def test_a_v1_call_sharing_a_render_with_a_job_that_reset_cancels_still_gets_its_video(
    served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The v2 job started the render, the v1 call waits on it; reset cancels the job. The
    render goes on for the v1 call (a reset must not fail someone else's call), which answers
    200; before the fix it got uvicorn's plain-text 500."""
    assemble = generation.assemble_mp4

    def slow_assembly(*args: Any) -> bytes:  # a window wide enough on a busy machine
        time.sleep(1.0)
        return assemble(*args)

    monkeypatch.setattr(generation, "assemble_mp4", slow_assembly)
    app, client = served()
    cache = app.state.emulator.models["wan-2.6-i2v"].generator.cache
    assert client.post(V2, json=BODY).status_code == 200
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=str(client.base_url), headers=client.headers, timeout=120) as v1:
        waiter = threading.Thread(target=lambda: answers.append(v1.post(V1, json=BODY)))
        waiter.start()
        deadline = time.monotonic() + 60
        while cache.hits == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.hits == 1 and cache.misses == 1  # the v1 call waits on the job's render
        assert client.post("/_mock/reset").status_code == 200
        waiter.join(120)
        assert answers[0].status_code == 200
        assert answers[0].headers["content-type"] == "video/mp4"
        assert v1.get("/_mock/health").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (b'{"credits": "nan"}', "Invalid parameter 'credits': must be of type number"),
        (b'{"credits": 1e999}', "the number '1e999' is out of range"),
        (b'{"credits": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"credits": NaN}', "NaN is not valid JSON"),
        (b'{"credits": -5}', "Invalid parameter 'credits': must be at least 0"),
        (b'{"free_credits": 1e12}', "Invalid parameter 'free_credits': must be at most"),
        (b'{"plan": true}', "Invalid parameter 'plan': must be string or integer >= 0"),
        (b'{"plan": -1}', "Invalid parameter 'plan'"),
        (b'{"models": "abc"}', "Invalid parameter 'models': must be of type array"),
        (b'{"models": [1]}', "Invalid parameter 'models.0': must be of type string"),
        (b'{"colour": "red"}', "Unknown parameter 'colour'"),
    ],
)
def test_control_plane_refuses_nonsense_keys_and_stores_nothing(
    served, change: bytes, field: str
) -> None:
    _, client = served()
    response = client.put(f"/_mock/keys/{API_KEY}", content=change, headers=JSON)
    assert_refused(client, response, 400, field)
    state = client.get("/_mock/state")
    assert state.status_code == 200
    assert [k["credits"] for k in state.json()["keys"]] == [1_000_000]
    assert client.put("/_mock/keys/other", content=change, headers=JSON).status_code == 400
    assert len(client.get("/_mock/state").json()["keys"]) == 1


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        (
            "/_mock/chaos",
            b'{"rates": {"server-error": 2}}',
            "'rates.server-error': must be at most 1",
        ),
        ("/_mock/chaos", b'{"rates": {"server-error": "x"}}', "must be of type number"),
        ("/_mock/chaos", b'{"rates": [], "seed": 1}', "'rates': must be of type object"),
        ("/_mock/chaos", b'{"seed": -1}', "'seed': must be at least 0"),
        ("/_mock/scenarios", b'{"outcome": 5}', "'outcome': must be of type string"),
        ("/_mock/scenarios", b"{}", "Missing required parameter 'outcome'"),
        ("/_mock/scenarios", b'{"outcome": "server-error", "times": 1.5}', "'times'"),
    ],
)
def test_control_plane_bodies_follow_its_spec(served, path: str, raw: bytes, field: str) -> None:
    _, client = served()
    method = "PUT" if path == "/_mock/chaos" else "POST"
    response = client.request(method, path, content=raw, headers=JSON)
    assert_refused(client, response, 400, field)


def test_money_is_exact_no_negative_zero(served) -> None:
    _, client = served(
        keys=[KeyConfig(key=API_KEY, credits=0.3)], pricing_per_second={"720p": 0.02}
    )
    left = [client.post(V1, json=BODY).headers["x-remaining-credits"] for _ in range(3)]
    assert left == ["0.2", "0.1", "0"]
    refused = client.post(V1, json=BODY)
    assert_refused(client, refused, 406, "Not enough credits. Balance: $0, cost: $0.1")
    assert client.get("/v1/get-user-credits").json() == {"credits": 0, "free-credits": 0}
    assert client.get("/_mock/state").json()["keys"][0]["credits"] == 0


def test_no_slack_a_balance_a_billionth_short_cannot_buy_the_call(served) -> None:
    _, client = served(keys=[KeyConfig(key=API_KEY, credits=0.624999999)])
    refused = client.post(V1, json=BODY)
    assert_refused(client, refused, 406, "Balance: $0.624999, cost: $0.625")
    client.put(f"/_mock/keys/{API_KEY}", json={"credits": 0.625})
    paid = client.post(V1, json=BODY)
    assert (paid.headers["x-cost"], paid.headers["x-remaining-credits"]) == ("0.625", "0")


def test_waiting_until_the_rate_limit_reset_time_is_enough(served) -> None:
    _, client = served(rate_limit_window_s=2.0)
    assert client.post(V1, json=BODY).status_code == 200  # renders once: later calls are quick
    client.put(f"/_mock/keys/{API_KEY}", json={"plan": 1})
    assert client.post(V1, json=BODY).status_code == 200
    limited = client.post(V1, json=BODY)
    assert_refused(client, limited, 429, "Rate limit exceeded")
    stamp = limited.headers["x-rate-limit-reset-at-utc"]
    reset_at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, reset_at - time.time()) + 0.02)
    assert client.post(V1, json=BODY).status_code == 200


WRONG_METHODS = ["TRACE", "OPTIONS", "PATCH", "DELETE", "PUT", "BREW"]


@pytest.mark.parametrize("method", WRONG_METHODS)
@pytest.mark.parametrize(
    ("path", "allow"),
    [
        (V1, "POST"),
        (V2, "POST"),
        ("/v1/get-user-credits", "GET, HEAD"),
        ("/v2/requests/abc/status", "GET, HEAD"),
        ("/v2/requests/abc", "GET, HEAD"),
        ("/v1/requests/abc", "GET, HEAD"),
    ],
)
@pytest.mark.anyio
async def test_every_wrong_method_is_401_then_405_html_with_allow(
    app_factory, client_for, method: str, path: str, allow: str
) -> None:
    client = client_for(app_factory())
    keyless = await client.request(method, path, headers={"x-api-key": ""})
    assert keyless.status_code == 401
    assert keyless.json() == {"error": "Missing Authorization or x-api-key in header"}
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("method", WRONG_METHODS)
@pytest.mark.anyio
async def test_wrong_methods_on_outputs_and_control_plane_carry_allow(
    app_factory, client_for, method: str
) -> None:
    client = client_for(app_factory())
    output = await client.request(method, "/outputs/x.mp4")
    assert (output.status_code, output.headers["allow"]) == (405, "GET, HEAD")
    control = await client.request(method, "/_mock/state")
    assert (control.status_code, control.headers["allow"]) == (405, "GET, HEAD")
    assert control.json() == {"error": "Method Not Allowed"}


def test_trace_over_a_real_connection_is_the_same_405(served) -> None:
    _, client = served()
    response = client.request("TRACE", V1)
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    again = client.get("/_mock/health")
    assert _connection(again) == _connection(response)


def test_journal_keeps_the_error_and_every_field_beside_a_data_uri(served) -> None:
    _, client = served()
    image = bytes(range(256)) * 40_000  # 10 MB
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    client.post(V1, json={**BODY, "image": uri, "negative_prompt": "blur", "duration": 7})
    entry = client.get("/_mock/journal").json()["entries"][-1]
    assert entry["status"] == 400
    assert entry["error"] == "Invalid parameter 'duration': must be one of 5, 10, 15 (got 7)"
    body = json.loads(entry["body"])
    digest = hashlib.sha256(image).hexdigest()[:12]
    assert body == {
        **BODY,
        "image": f"data:image/png;base64,<{len(image)} bytes, sha256 {digest}>",
        "negative_prompt": "blur",
        "duration": 7,
    }
    ok = client.get("/v1/get-user-credits")
    assert ok.status_code == 200
    assert client.get("/_mock/journal").json()["entries"][-1]["error"] is None
