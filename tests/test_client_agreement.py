"""Agreement, property-based: for every body drawn from the contract, the client's verdict
is the emulator's. Valid: the emulator returns a video of the asked duration and size.
Invalid: the client raises before sending, and the emulator answers the same body with 400."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Iterator
from functools import cache
from typing import Any

import av
import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings

from conftest import API_KEY, make_config
from strategies import OPERATION, invalid_bodies, valid_bodies
from wan26.client import AsyncWan26Client, ParameterError, Wan26Client
from wan26.client.params import check
from wan26.mockserver import create_app
from wan26.mockserver.config import MediaConfig
from wan26.mockserver.server.background import running_server

# A new seed of a known image copies encoded segments, so hundreds of examples stay fast.
CONFIG = make_config(media=MediaConfig(offline=True))
DEFAULTS = OPERATION.defaults()
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with running_server(create_app(CONFIG)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(emulator_url: str) -> Iterator[Wan26Client]:
    with Wan26Client(api_key=API_KEY, base_url=emulator_url) as sync_client:
        yield sync_client


@cache
def _media(digest: str, data: bytes) -> tuple[float, int, int, str, bool]:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        return (
            float(video.duration * video.time_base),
            video.codec_context.width,
            video.codec_context.height,
            video.codec_context.name,
            bool(container.streams.audio),
        )


def media_of(data: bytes) -> tuple[float, int, int, str, bool]:
    return _media(hashlib.sha256(data).hexdigest(), data)


def assert_matches_request(data: bytes, body: dict[str, Any]) -> None:
    duration, width, height, codec, has_audio = media_of(data)
    params = {**DEFAULTS, **{k: v for k, v in body.items() if v is not None}}
    assert duration == pytest.approx(params["duration"], abs=1 / 30)
    assert (width, height) == OPERATION.tier_size(params["resolution"])  # 16:9 stand-in
    assert codec == "h264" and has_audio


def split(body: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    rest = dict(body)
    return rest.pop("image"), rest.pop("prompt"), rest


@settings(max_examples=120, deadline=None, suppress_health_check=SLOW_OK)
@given(body=valid_bodies())
def test_valid_bodies_make_the_video_they_ask_for(client: Wan26Client, body: dict) -> None:
    assert check(body)  # the client's verdict
    image, prompt, rest = split(body)
    video = client.generate_sync(image, prompt, **rest)
    assert_matches_request(video.data, body)


@settings(max_examples=120, deadline=None, suppress_health_check=SLOW_OK)
@given(case=invalid_bodies())
def test_invalid_bodies_are_refused_by_both(
    client: Wan26Client, emulator_url: str, case: tuple[dict, str]
) -> None:
    body, field = case
    with pytest.raises(ParameterError) as refused:
        check(body)
    assert f"'{field}'" in str(refused.value)
    image, prompt, rest = split({"image": None, "prompt": None, **body})
    # A keyword left as None means "not given" to the client, so such a body is not one
    # the client can send; the verdict above still covers it.
    if "image" in body and "prompt" in body and None not in rest.values():
        with respx.mock(assert_all_called=False) as router:
            route = router.route().mock(return_value=httpx.Response(500))
            with pytest.raises(ParameterError):
                client.generate_sync(image, prompt, **rest)
            assert route.call_count == 0
    raw = httpx.post(f"{emulator_url}/v1/wan-2.6-i2v", json=body, headers={"x-api-key": API_KEY})
    assert raw.status_code == 400
    assert f"'{field}'" in raw.json()["error"]


@pytest.fixture(scope="module")
def in_process() -> Iterator[tuple[asyncio.Runner, AsyncWan26Client]]:
    """The emulator's ASGI app behind respx, and one event loop for every example."""
    app = create_app(CONFIG)
    with asyncio.Runner() as runner, respx.mock(base_url="http://emulator.test") as router:
        router.route().mock(side_effect=respx.ASGIHandler(app))
        async_client = AsyncWan26Client(api_key=API_KEY, base_url="http://emulator.test")
        yield runner, async_client
        runner.run(async_client.close())


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_OK)
@given(body=valid_bodies())
def test_valid_bodies_in_process_through_respx(in_process, body: dict) -> None:
    runner, async_client = in_process
    image, prompt, rest = split(body)
    video = runner.run(async_client.generate_sync(image, prompt, **rest))
    assert_matches_request(video.data, body)
