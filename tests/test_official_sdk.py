"""Segmind's own Python SDK runs unchanged against the emulator: only `base_url` differs."""

from __future__ import annotations

import io
import time

import av
import httpx
import pytest
from segmind import SegmindClient
from segmind.exceptions import SegmindError
from segmind.v2 import InferenceFailed

from wan26.mockserver.config import Config, MediaConfig, QueueConfig

SLUG = "wan-2.6-i2v"
PARAMS = {
    "image": "https://segmind-resources.s3.amazonaws.com/output/example.webp",
    "prompt": "a chase in the rain",
    "duration": 5,
    "resolution": "720p",
    "seed": 11,
}


@pytest.fixture
def wan26_config() -> Config:
    """One GPU worker and a small time scale, so QUEUED and PROCESSING can be seen."""
    return Config(
        time_scale=0.004, media=MediaConfig(offline=True), queue=QueueConfig(workers=1)
    ).with_default_key({})


@pytest.fixture
def sdk(wan26_server: str, wan26_mock) -> SegmindClient:
    return SegmindClient(api_key=wan26_mock.api_key, base_url=f"{wan26_server}/v1")


def assert_playable_5s_720p(data: bytes) -> None:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert float(video.duration * video.time_base) == pytest.approx(5.0, abs=1 / 30)
        assert container.streams.audio
        assert sum(1 for _ in container.decode(video=0)) == 150


def test_run_sync_returns_the_v1_video_bytes(sdk: SegmindClient) -> None:
    response = sdk.run_sync(SLUG, **PARAMS)
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["x-cost"] == "0.625"
    assert_playable_5s_720p(response.content)


def test_run_submits_to_v2_and_returns_the_completed_body(sdk: SegmindClient, wan26_mock) -> None:
    result = sdk.run(SLUG, **PARAMS)
    assert result["status"] == "COMPLETED" and result["error"] is None
    assert result["metrics"]["inference_time"] > 0
    assert_playable_5s_720p(httpx.get(result["output"]).content)
    assert [e["path"] for e in wan26_mock.charged_calls()] == [f"/v2/{SLUG}"]


def test_submit_async_then_wait_passes_through_queued_and_processing(
    sdk: SegmindClient,
) -> None:
    first = sdk.submit_async(SLUG, **PARAMS)
    second = sdk.submit_async(SLUG, **{**PARAMS, "seed": 12})
    seen = [second.status()["status"]]
    deadline = time.monotonic() + 60
    while seen[-1] != "PROCESSING":
        assert time.monotonic() < deadline
        state = second.status()["status"]
        if state != seen[-1]:
            seen.append(state)
        time.sleep(0.02)
    assert seen == ["QUEUED", "PROCESSING"]
    assert first.wait(timeout=60, interval=0.05)["status"] == "COMPLETED"
    result = second.wait(timeout=60, interval=0.05)
    assert result["status"] == "COMPLETED"
    assert_playable_5s_720p(httpx.get(result["output"]).content)


def test_forced_job_failure_raises_inference_failed(sdk: SegmindClient, wan26_mock) -> None:
    wan26_mock.fail_next("job-failed; message=Content policy violation", path="/v2/")
    with pytest.raises(InferenceFailed) as failed:
        sdk.run(SLUG, **PARAMS)
    assert failed.value.detail == "Content policy violation"
    assert failed.value.status_body["status"] == "FAILED"
    assert wan26_mock.charged_calls() == []


def test_bad_key_is_a_segmind_error_401(wan26_server: str) -> None:
    sdk = SegmindClient(api_key="not-a-key", base_url=f"{wan26_server}/v1")
    with pytest.raises(SegmindError) as error:
        sdk.run_sync(SLUG, **PARAMS)
    assert (error.value.status, error.value.detail) == (401, "User authentication failed")


def test_bad_parameter_is_a_segmind_error_400(sdk: SegmindClient) -> None:
    with pytest.raises(SegmindError) as error:
        sdk.run(SLUG, **{**PARAMS, "duration": 7})
    assert error.value.status == 400
    assert "'duration': must be one of 5, 10, 15" in error.value.detail


def test_insufficient_credits_is_a_segmind_error_406(sdk: SegmindClient, wan26_mock) -> None:
    wan26_mock.set_key(credits=0.5)
    with pytest.raises(SegmindError) as error:
        sdk.run_sync(SLUG, **PARAMS)
    assert error.value.status == 406
    assert "Balance: $0.5, cost: $0.625" in error.value.detail


def test_rate_limit_is_a_segmind_error_429(sdk: SegmindClient, wan26_mock) -> None:
    wan26_mock.set_key(plan="free")
    for _ in range(5):
        sdk.submit_async(SLUG, **PARAMS)
    with pytest.raises(SegmindError) as error:
        sdk.submit_async(SLUG, **PARAMS)
    assert error.value.status == 429
    assert error.value.detail.startswith("Rate limit exceeded")
