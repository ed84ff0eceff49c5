"""Each retry rule, proven with respx: retry what was answered and not charged, never re-send
a POST that may have run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from clientfakes import MP4, PARAMS, V1, V2, job_routes, make_async_client, make_client
from wan26.client import (
    BadRequestError,
    InsufficientCreditsError,
    InternalServerError,
    PossiblyChargedError,
    RateLimitError,
    RetryPolicy,
)


@pytest.fixture
def sleeps() -> list[float]:
    """The client's waits, recorded instead of waited."""
    return []


def rate_limited(seconds_ahead: float) -> httpx.Response:
    reset = datetime.now(UTC) + timedelta(seconds=seconds_ahead)
    return httpx.Response(
        429,
        json={"error": "Rate limit exceeded"},
        headers={"x-rate-limit-reset-at-utc": reset.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


@respx.mock
def test_429_then_200_is_retried_after_the_reset_time(sleeps: list[float]) -> None:
    route = respx.post(V1).mock(side_effect=[rate_limited(3), MP4])
    video = make_client(sleeps).generate_sync(**PARAMS)
    assert route.call_count == 2
    assert 1.5 < sleeps[0] <= 3.0
    assert video.cost == 0.625 and video.seed == 7 and video.request_id == "req-1"


@respx.mock
def test_429_with_a_reset_beyond_the_cap_is_raised_at_once(sleeps: list[float]) -> None:
    respx.post(V1).mock(return_value=rate_limited(3600))
    with pytest.raises(RateLimitError) as error:
        make_client(sleeps).generate_sync(**PARAMS)
    assert sleeps == []
    assert error.value.reset_at > datetime.now(UTC) + timedelta(minutes=50)


@respx.mock
def test_retry_after_is_used_when_there_is_no_reset_header(sleeps: list[float]) -> None:
    respx.post(V1).mock(
        side_effect=[
            httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "2"}),
            MP4,
        ]
    )
    make_client(sleeps).generate_sync(**PARAMS)
    assert 1.0 < sleeps[0] <= 2.0


@pytest.mark.parametrize("status", [500, 502, 504])
@respx.mock
def test_answered_server_errors_are_retried_with_backoff(status: int, sleeps: list[float]) -> None:
    error = httpx.Response(status, json={"error": "upstream trouble"})
    route = respx.post(V1).mock(side_effect=[error, error, MP4])
    make_client(sleeps, retry=RetryPolicy(initial_delay_s=1.0, jitter=0.0)).generate_sync(**PARAMS)
    assert route.call_count == 3
    assert sleeps == [1.0, 2.0]


@respx.mock
def test_retries_stop_at_max_retries(sleeps: list[float]) -> None:
    route = respx.post(V1).mock(
        return_value=httpx.Response(500, json={"error": "Server had some issue"})
    )
    with pytest.raises(InternalServerError) as error:
        make_client(sleeps, retry=RetryPolicy(max_retries=2)).generate_sync(**PARAMS)
    assert route.call_count == 3
    assert error.value.message == "Server had some issue"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadError("Connection reset by peer"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
@pytest.mark.parametrize("url", [V1, V2])
@respx.mock
def test_a_paid_post_that_got_no_answer_is_never_retried(
    failure: Exception, url: str, sleeps: list[float]
) -> None:
    route = respx.post(url).mock(side_effect=failure)
    call = make_client(sleeps).generate_sync if url == V1 else make_client(sleeps).submit
    with pytest.raises(PossiblyChargedError, match="may have run and been charged"):
        call(**PARAMS)
    assert route.call_count == 1
    assert sleeps == []


@respx.mock
def test_a_post_that_never_connected_is_retried(sleeps: list[float]) -> None:
    route = respx.post(V1).mock(side_effect=[httpx.ConnectError("refused"), MP4])
    make_client(sleeps).generate_sync(**PARAMS)
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("status", "error"), [(400, BadRequestError), (406, InsufficientCreditsError)]
)
@respx.mock
def test_client_errors_are_not_retried(status: int, error: type, sleeps: list[float]) -> None:
    message = "Not enough credits. Balance: $0.5000, cost: $0.6250" if status == 406 else "bad"
    route = respx.post(V1).mock(return_value=httpx.Response(status, json={"error": message}))
    with pytest.raises(error) as raised:
        make_client(sleeps).generate_sync(**PARAMS)
    assert route.call_count == 1
    if status == 406:
        assert (raised.value.balance, raised.value.cost) == (0.5, 0.625)


@respx.mock
def test_polls_and_downloads_survive_502s_and_dropped_connections(sleeps: list[float]) -> None:
    status, _, download = job_routes()
    bad_gateway = httpx.Response(502, json={"error": "Service temporarily unavailable"})
    status.mock(
        side_effect=[
            bad_gateway,
            httpx.ReadError("reset"),
            httpx.Response(200, json={"status": "PROCESSING"}),
            bad_gateway,
            httpx.Response(200, json={"status": "COMPLETED"}),
        ]
    )
    download.mock(
        side_effect=[
            httpx.RemoteProtocolError("peer closed"),
            bad_gateway,
            httpx.Response(200, content=b"mp4 bytes"),
        ]
    )
    states: list[str] = []
    video = make_client(sleeps, poll_interval_s=0.0).generate(
        **PARAMS, on_progress=lambda progress: states.append(progress.state)
    )
    assert states == ["PROCESSING", "COMPLETED"]
    assert video.data == b"mp4 bytes"
    assert video.generation_time_s == 140.2 and video.cost == 0.625


@pytest.mark.anyio
@respx.mock
async def test_async_client_follows_the_same_rules(sleeps: list[float]) -> None:
    route = respx.post(V1).mock(side_effect=[rate_limited(2), MP4])
    async with make_async_client(sleeps) as async_client:
        video = await async_client.generate_sync(**PARAMS)
        assert video.seed == 7 and route.call_count == 2 and 0.5 < sleeps[0] <= 2.0
        respx.post(V2).mock(side_effect=httpx.ReadError("reset"))
        with pytest.raises(PossiblyChargedError):
            await async_client.submit(**PARAMS)


@pytest.mark.anyio
@respx.mock
async def test_async_polls_survive_502s(sleeps: list[float], tmp_path) -> None:
    status, _, download = job_routes()
    status.mock(
        side_effect=[
            httpx.Response(502, json={"error": "x"}),
            httpx.Response(200, json={"status": "COMPLETED"}),
        ]
    )
    download.mock(return_value=httpx.Response(200, content=b"mp4 bytes"))
    async with make_async_client(sleeps, poll_interval_s=0) as async_client:
        video = await async_client.generate(**PARAMS, path=tmp_path / "out.mp4")
    assert video.path.read_bytes() == b"mp4 bytes" and video.content is None
