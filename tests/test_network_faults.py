"""Network faults, WireMock-style: over a real socket the connection really misbehaves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import API_KEY, OFFLINE_IMAGE, make_config
from wan26.mockserver import create_app
from wan26.mockserver.server.background import running_server

BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 5}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(create_app(make_config())) as base_url:
        yield base_url


def post(server: str, scenario: str) -> httpx.Response:
    return httpx.post(
        f"{server}/v1/wan-2.6-i2v",
        json=BODY,
        timeout=30,
        headers={"x-api-key": API_KEY, "x-mock-scenario": scenario},
    )


def charged_calls(server: str) -> int:
    journal = httpx.get(f"{server}/_mock/journal", params={"charged": "true"}).json()
    return journal["count"]


def test_connection_reset_after_the_call_was_processed(server: str) -> None:
    before = charged_calls(server)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        post(server, "connection-reset")
    assert charged_calls(server) == before + 1  # the work was done and billed: never blindly retry


def test_empty_response(server: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        httpx.get(
            f"{server}/v1/get-user-credits",
            headers={"x-api-key": API_KEY, "x-mock-scenario": "empty-response"},
        )


def test_truncated_body_promises_more_than_it_sends(server: str) -> None:
    with httpx.stream(
        "POST",
        f"{server}/v1/wan-2.6-i2v",
        json=BODY,
        timeout=30,
        headers={"x-api-key": API_KEY, "x-mock-scenario": "truncated-body"},
    ) as response:
        assert response.status_code == 200
        promised = int(response.headers["content-length"])
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                received.extend(chunk)
    assert 0 < len(received) < promised


def test_slow_body_dribbles_the_whole_response(server: str) -> None:
    started = time.monotonic()
    response = post(server, "slow-body; seconds=1")
    assert time.monotonic() - started >= 0.9
    assert response.status_code == 200
    assert len(response.content) == int(response.headers["content-length"])


def test_faults_as_chaos_on_polls(server: str) -> None:
    chaos = {"seed": 3, "rates": {"empty-response": 1.0}}
    assert httpx.put(f"{server}/_mock/chaos", json=chaos).status_code == 200
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{server}/v1/get-user-credits", headers={"x-api-key": API_KEY})
    finally:
        httpx.delete(f"{server}/_mock/chaos")
    assert httpx.get(f"{server}/v1/get-user-credits", headers={"x-api-key": API_KEY}).is_success


def test_download_of_an_output_can_be_faulted(server: str) -> None:
    headers = {"x-api-key": API_KEY}
    job = httpx.post(f"{server}/v2/wan-2.6-i2v", json=BODY, headers=headers).json()
    deadline = time.monotonic() + 30
    while httpx.get(job["status_url"], headers=headers).json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    output = httpx.get(job["response_url"], headers=headers).json()["output"]
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(output, headers={"x-mock-scenario": "connection-reset"})
    assert httpx.get(output).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scenario", "error"),
    [
        ("connection-reset", httpx.ReadError),
        ("empty-response", httpx.RemoteProtocolError),
        ("truncated-body", httpx.RemoteProtocolError),
    ],
)
async def test_in_process_faults_raise_what_a_client_would_see(
    client: httpx.AsyncClient, scenario: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-mock-scenario": scenario})
