"""The client against the emulator: every error status maps to its exception with the
server's message; generation in three lines, sync over a socket and async in process."""

from __future__ import annotations

from typing import get_args

import httpx
import pytest
import respx

from mediafiles import image_bytes, tone
from wan26.client import (
    APIStatusError,
    AsyncWan26Client,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    GatewayTimeoutError,
    GenerationFailedError,
    InsufficientCreditsError,
    InternalServerError,
    InvalidContentTypeError,
    MissingAPIKeyError,
    NotFoundError,
    ParameterError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    Wan26Client,
)
from wan26.client.params import build_body, media_value, sniff_mime
from wan26.client.types import Duration, Resolution
from wan26.contracts.core.spec import default_contract
from wan26.mockserver.core.errors import CATALOGUE
from wan26.mockserver.http.app import running
from wan26.mockserver.testing.handle import MockHandle

IMAGE = "https://example.com/cat.png"
EXPECTED = {
    "bad-request": BadRequestError,
    "missing-key": AuthenticationError,
    "invalid-key": AuthenticationError,
    "forbidden": PermissionDeniedError,
    "not-found": NotFoundError,
    "invalid-content-type": InvalidContentTypeError,
    "insufficient-credits": InsufficientCreditsError,
    "rate-limited": RateLimitError,
    "server-error": InternalServerError,
    "bad-gateway": BadGatewayError,
    "gateway-timeout": GatewayTimeoutError,
    "method-not-allowed": APIStatusError,
}


@pytest.fixture
def sdk(wan26_server: str, wan26_mock: MockHandle) -> Wan26Client:
    return Wan26Client(
        api_key=wan26_mock.api_key,
        base_url=wan26_server,
        retry=RetryPolicy(max_retries=0),
        poll_interval_s=0.02,
    )


def test_generate_in_three_lines(wan26_server: str, wan26_mock: MockHandle, tmp_path) -> None:
    client = Wan26Client(api_key=wan26_mock.api_key, base_url=wan26_server, poll_interval_s=0.05)
    video = client.generate(image=IMAGE, prompt="a cat", duration=10)
    video.save(tmp_path / "cat.mp4")
    assert (tmp_path / "cat.mp4").read_bytes()[4:8] == b"ftyp"
    assert video.cost == 1.25 and video.generation_time_s > 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_emulated_error_maps_to_its_exception(
    sdk: Wan26Client, wan26_mock: MockHandle, name: str
) -> None:
    wan26_mock.fail_next(name)
    with pytest.raises(EXPECTED[name]) as raised:
        sdk.generate_sync(image=IMAGE, prompt="p", duration=15)
    error = raised.value
    assert error.status_code == CATALOGUE[name].status
    if error.status_code != 405:
        assert error.message == error.response.json()["error"]
    if name == "insufficient-credits":
        assert error.cost == 1.875 and error.balance is not None
    if name == "rate-limited":
        assert error.reset_at is not None


def test_failed_job_raises_generation_failed(sdk: Wan26Client, wan26_mock: MockHandle) -> None:
    wan26_mock.fail_next("job-failed; message=Content policy violation", path="/v2/")
    job = sdk.submit(image=IMAGE, prompt="p")
    with pytest.raises(GenerationFailedError) as failed:
        job.wait(timeout=30)
    assert failed.value.message == "Content policy violation"
    assert failed.value.request_id == job.request_id
    assert job.status() == "FAILED"


def test_real_balance_in_insufficient_credits(sdk: Wan26Client, wan26_mock: MockHandle) -> None:
    wan26_mock.set_key(credits=0.5)
    with pytest.raises(InsufficientCreditsError) as error:
        sdk.generate_sync(image=IMAGE, prompt="p")
    assert (error.value.balance, error.value.cost) == (0.5, 0.625)
    assert sdk.get_credits().balance == 0.5


def test_missing_key_is_refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError):
        Wan26Client()
    monkeypatch.setenv("SEGMIND_API_KEY", "from-env")
    assert Wan26Client().settings.api_key == "from-env"


@respx.mock
def test_bad_parameters_raise_before_anything_is_sent() -> None:
    route = respx.route().mock(return_value=httpx.Response(500))
    client = Wan26Client(api_key="k", base_url="https://api.test")
    for bad in (
        {"duration": 8},
        {"resolution": "4k"},
        {"seed": -1},
        {"colour": "red"},
        {"negative_prompt": "x" * 501},
    ):
        with pytest.raises(ParameterError):
            client.generate_sync(image=IMAGE, prompt="p", **bad)
    with pytest.raises(ParameterError, match="neither an http"):
        client.submit(image="no/such/file.png", prompt="p")
    assert route.call_count == 0


def test_literal_types_match_the_contract() -> None:
    operation = default_contract().models()["wan-2.6-i2v"]
    assert list(get_args(Duration)) == operation.enum("duration")
    assert list(get_args(Resolution)) == operation.enum("resolution")


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (image_bytes(400, 400, "JPEG"), "image/jpeg"),
        (image_bytes(400, 400, "PNG"), "image/png"),
        (image_bytes(400, 400, "WEBP"), "image/webp"),
        (image_bytes(400, 400, "BMP"), "image/bmp"),
        (tone(3.5, "wav"), "audio/wav"),
        (tone(3.5, "mp3"), "audio/mpeg"),
        (b"plain text", "application/octet-stream"),
    ],
)
def test_local_media_is_sent_as_a_data_uri_with_the_sniffed_type(
    tmp_path, data: bytes, mime: str
) -> None:
    assert sniff_mime(data) == mime
    misleading = tmp_path / "named-wrongly.gif"
    misleading.write_bytes(data)
    assert media_value("image", misleading).startswith(f"data:{mime};base64,")
    assert media_value("image", data).startswith(f"data:{mime};base64,")


def test_only_given_parameters_are_sent() -> None:
    assert build_body(IMAGE, "p", duration=10, seed=None) == {
        "image": IMAGE,
        "prompt": "p",
        "duration": 10,
    }


@pytest.mark.anyio
async def test_async_client_in_process_through_respx(wan26_app, wan26_mock: MockHandle) -> None:
    async with running(wan26_app):  # respx runs no lifespan: the v2 workers start here
        with respx.mock(base_url="http://emulator.test") as router:
            router.route().mock(side_effect=respx.ASGIHandler(wan26_app))
            async with AsyncWan26Client(
                api_key=wan26_mock.api_key, base_url="http://emulator.test", poll_interval_s=0.02
            ) as client:
                image = image_bytes(900, 1600, "PNG")
                video = await client.generate_sync(image=image, prompt="p", resolution="1080p")
                assert video.seed is not None and video.cost == 0.9375
                job = await client.submit(image=image, prompt="p", seed=3)
                result = await job.wait(timeout=30)
                assert result["status"] == "COMPLETED"
                wan26_mock.fail_next("rate-limited", path="/v1/get-user-credits")
                with pytest.raises(RateLimitError):
                    await AsyncWan26Client(
                        api_key=wan26_mock.api_key,
                        base_url="http://emulator.test",
                        retry=RetryPolicy(max_retries=0),
                    ).get_credits()
    entries = wan26_mock.journal(path="/v1/wan-2.6-i2v")
    assert entries[0]["body"].startswith('{"image":"data:image/png;base64,<')
