"""The output is a real MP4 made from the input: codec, fps, duration, size, sound, shots."""

from __future__ import annotations

import io
import itertools

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import OFFLINE_IMAGE, make_config, probe
from mediafiles import data_uri, image_bytes, tone
from wan26.mockserver import create_app
from wan26.mockserver.config import MediaConfig

pytestmark = pytest.mark.anyio
PNG_16_9 = data_uri(image_bytes(1600, 900), "image/png")


async def generate(client: httpx.AsyncClient, **params) -> httpx.Response:
    return await client.post("/v1/wan-2.6-i2v", json={"prompt": "a scene", **params})


def frames(data: bytes) -> list[np.ndarray]:
    """In gray at 320x180: a cut shows as well as at full size, at a tenth of the cost."""
    with av.open(io.BytesIO(data)) as container:
        return [
            f.reformat(width=320, height=180, format="gray").to_ndarray().astype(np.int16)
            for f in container.decode(video=0)
        ]


def audio_rms(data: bytes, start_s: float, end_s: float) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate(
            [f.to_ndarray().reshape(-1, f.samples) for f in container.decode(stream)], axis=1
        )
        rate = stream.codec_context.sample_rate
    window = samples[:, int(start_s * rate) : int(end_s * rate)]
    return float(np.sqrt(np.mean(np.square(window))))


async def test_documentation_example_makes_a_5s_720p_h264_aac_mp4(
    client: httpx.AsyncClient,
) -> None:
    response = await generate(client, image=OFFLINE_IMAGE, duration=5, resolution="720p")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    video = probe(response.content)
    assert (video.video_codec, video.pixel_format, video.fps) == ("h264", "yuv420p", 30.0)
    assert video.frames == 150
    assert video.duration_s == pytest.approx(5.0, abs=1 / 30)
    assert (video.width, video.height) == (1280, 720)
    assert video.audio_codec == "aac"
    assert video.audio_duration_s == pytest.approx(5.0, abs=1 / 30)
    assert response.content[4:8] == b"ftyp" and b"moov" in response.content[:64]  # index first


@pytest.mark.parametrize(
    ("size", "resolution", "expected"),
    [
        ((1600, 900), "720p", (1280, 720)),
        ((900, 1600), "720p", (720, 1280)),
        ((1000, 1000), "720p", (960, 960)),
        ((1200, 900), "720p", (1108, 832)),
        ((1600, 900), "1080p", (1920, 1080)),
        ((1000, 1000), "1080p", (1440, 1440)),
    ],
)
async def test_size_follows_the_images_aspect_at_the_tiers_pixel_count(
    client: httpx.AsyncClient, size: tuple[int, int], resolution: str, expected: tuple[int, int]
) -> None:
    image = data_uri(image_bytes(*size, fmt="JPEG"), "image/jpeg")
    response = await generate(client, image=image, resolution=resolution, seed=1)
    assert response.status_code == 200
    video = probe(response.content)
    assert (video.width, video.height) == expected


@pytest.mark.parametrize("duration", [5, 10, 15])
@pytest.mark.parametrize(("resolution", "size"), [("720p", (1280, 720)), ("1080p", (1920, 1080))])
async def test_duration_and_size_are_exact(
    client: httpx.AsyncClient, duration: int, resolution: str, size: tuple[int, int]
) -> None:
    response = await generate(
        client, image=PNG_16_9, duration=duration, resolution=resolution, multi_shots=True
    )
    video = probe(response.content)
    assert video.frames == 30 * duration
    assert (video.width, video.height) == size
    assert video.duration_s == pytest.approx(duration, abs=1 / 30)
    assert video.audio_duration_s == pytest.approx(duration, abs=1 / 30)


async def test_picture_is_the_input_image_in_motion(client: httpx.AsyncClient) -> None:
    red = Image.new("RGB", (1280, 720), (200, 30, 30))
    red.paste((20, 200, 20), (300, 200, 900, 500))
    buffer = io.BytesIO()
    red.save(buffer, format="PNG")
    response = await generate(client, image=data_uri(buffer.getvalue(), "image/png"), seed=5)
    with av.open(io.BytesIO(response.content)) as container:
        decoded = list(container.decode(video=0))
    first, last = (f.to_ndarray(format="rgb24").astype(np.int16) for f in (decoded[0], decoded[-1]))
    assert first[..., 0].mean() > first[..., 2].mean() + 40  # mostly red, as the input
    assert first[360, 640, 1] > 150  # the green block is in the middle
    assert np.abs(last - first).mean() > 3  # and it moves


async def test_multi_shots_with_expansion_cut_into_two_or_three_shots(
    client: httpx.AsyncClient,
) -> None:
    def cuts(data: bytes) -> int:
        gray = frames(data)
        jumps = [np.abs(b - a).mean() for a, b in itertools.pairwise(gray)]
        return sum(1 for jump in jumps if jump > 8 * (np.median(jumps) + 0.5))

    textured = data_uri(image_bytes(1600, 900), "image/png")
    multi = await generate(client, image=textured, seed=11, multi_shots=True)
    assert 1 <= cuts(multi.content) <= 2
    single = await generate(
        client, image=textured, seed=11, multi_shots=True, enable_prompt_expansion=False
    )
    assert cuts(single.content) == 0


async def test_without_audio_there_is_a_sound_bed(client: httpx.AsyncClient) -> None:
    response = await generate(client, image=PNG_16_9, seed=2)
    assert audio_rms(response.content, 0.5, 4.5) > 0.01


async def test_long_audio_is_cut_to_the_duration(client: httpx.AsyncClient) -> None:
    audio = data_uri(tone(8.0, "wav"), "audio/wav")
    response = await generate(client, image=PNG_16_9, audio=audio)
    assert response.status_code == 200
    video = probe(response.content)
    assert video.audio_duration_s == pytest.approx(5.0, abs=1 / 30)
    assert audio_rms(response.content, 4.0, 4.9) > 0.2  # the tone goes on to the end


async def test_one_audio_file_fits_each_duration_it_is_sent_with(
    client: httpx.AsyncClient,
) -> None:
    """The fitted track is cached by file and duration: the 10 s video of an audio file
    first sent with a 5 s one gets 10 s of sound, not the 5 s track again."""
    audio = data_uri(tone(12.0, "wav", frequency=330.0), "audio/wav")
    for duration in (5, 10):
        response = await generate(client, image=PNG_16_9, audio=audio, duration=duration)
        assert response.status_code == 200
        video = probe(response.content)
        assert video.audio_duration_s == pytest.approx(video.duration_s, abs=1 / 30)


async def test_short_audio_is_padded_with_silence(client: httpx.AsyncClient) -> None:
    audio = data_uri(tone(3.5, "mp3"), "audio/mpeg")
    response = await generate(client, image=PNG_16_9, audio=audio)
    assert response.status_code == 200
    assert probe(response.content).audio_duration_s == pytest.approx(5.0, abs=1 / 30)
    assert audio_rms(response.content, 0.5, 3.0) > 0.2
    assert audio_rms(response.content, 3.8, 4.9) < 0.01


async def test_same_body_and_seed_give_identical_bytes_across_emulators(client_for) -> None:
    body = {"image": PNG_16_9, "prompt": "p", "seed": 99, "multi_shots": True}
    first = await client_for(create_app(make_config())).post("/v1/wan-2.6-i2v", json=body)
    second = await client_for(create_app(make_config(seed=777))).post("/v1/wan-2.6-i2v", json=body)
    assert first.content == second.content
    assert first.headers["x-seed-value"] == second.headers["x-seed-value"] == "99"
    other = await client_for(create_app(make_config())).post(
        "/v1/wan-2.6-i2v", json={**body, "seed": 100}
    )
    assert other.content != first.content


async def test_random_seed_is_reported_and_reproduces_the_video(client: httpx.AsyncClient) -> None:
    one = await generate(client, image=PNG_16_9)
    two = await generate(client, image=PNG_16_9)
    assert one.headers["x-seed-value"] != two.headers["x-seed-value"]
    again = await generate(client, image=PNG_16_9, seed=int(one.headers["x-seed-value"]))
    assert again.content == one.content


async def test_repeated_request_is_served_from_the_cache(app_factory, client_for) -> None:
    app = app_factory()
    client = client_for(app)
    cache = app.state.emulator.models["wan-2.6-i2v"].generator.cache
    first = await generate(client, image=PNG_16_9, seed=4)
    second = await generate(client, image=PNG_16_9, seed=4)
    assert first.content == second.content
    assert (cache.misses, cache.hits) == (1, 1)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (data_uri(image_bytes(300, 600), "image/png"), "300x600 px; each side must be 360-2000 px"),
        (data_uri(image_bytes(2100, 900), "image/png"), "2100x900 px; each side must be 360-2000"),
        (data_uri(image_bytes(640, 480, "GIF"), "image/gif"), "format GIF is not supported"),
        (data_uri(image_bytes(640, 480, "PNG", "RGBA"), "image/png"), "alpha channel"),
        (data_uri(b"definitely not an image", "image/png"), "not a decodable JPEG, PNG, BMP"),
        (data_uri(image_bytes(640, 480, "PNG")[:200], "image/png"), "Invalid image"),
        ("data:image/png;base64,@@@@", "must be an http(s) URL or a base64 data URI"),
        ("data:image/png;base64,AAA", "then padded base64 with no whitespace"),
        ("data:image/png;base64,AA\nAA", "then padded base64 with no whitespace"),
        ("data:text/plain;base64,AAAA", "data URI declares type text/plain; expected image/"),
        ("data:image/png," + "A" * 10, "must be an http(s) URL or a base64 data URI"),
    ],
)
async def test_unusable_images_are_400(
    client: httpx.AsyncClient, image: str, expected: str
) -> None:
    response = await generate(client, image=image)
    assert response.status_code == 400
    assert expected in response.json()["error"]


@pytest.mark.parametrize("fmt", ["BMP", "WEBP", "JPEG", "PNG"])
async def test_every_documented_image_format_is_accepted(
    client: httpx.AsyncClient, fmt: str
) -> None:
    image = data_uri(image_bytes(640, 360, fmt), f"image/{fmt.lower()}")
    response = await generate(client, image=image, seed=1)
    assert response.status_code == 200, response.text


async def test_image_over_10_mb_is_400(client: httpx.AsyncClient) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (1900, 1900, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="BMP")  # about 10.8 MB
    assert len(buffer.getvalue()) > 10 * 1024 * 1024
    response = await generate(client, image=data_uri(buffer.getvalue(), "image/bmp"))
    assert response.status_code == 400
    assert "larger than 10 MB" in response.json()["error"]


@pytest.mark.parametrize(
    ("audio", "expected"),
    [
        (tone(2.0, "wav"), "2.00 s long; it must be 3-30 s"),
        (tone(31.0, "mp3"), "it must be 3-30 s"),
        (tone(5.0, "flac"), "only wav/mp3 files are accepted"),
        (b"RIFF....WAVEjunk", "Invalid audio"),
    ],
)
async def test_unusable_audio_is_400(
    client: httpx.AsyncClient, audio: bytes, expected: str
) -> None:
    response = await generate(client, image=PNG_16_9, audio=data_uri(audio, "audio/wav"))
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith("Invalid audio") and expected in message


async def test_audio_over_15_mb_is_400(client: httpx.AsyncClient) -> None:
    audio = data_uri(b"\0" * (15 * 1024 * 1024 + 10), "audio/wav")
    response = await generate(client, image=PNG_16_9, audio=audio)
    assert response.status_code == 400
    assert "larger than 15 MB" in response.json()["error"]


def local_media_client(client_for, **media) -> httpx.AsyncClient:
    config = make_config(media=MediaConfig(**{"allow_private_addresses": True, **media}))
    return client_for(create_app(config))


async def test_image_and_audio_urls_are_fetched(client_for, media_server) -> None:
    client = local_media_client(client_for)
    image_url = media_server.url_for(image_bytes(900, 1600, "WEBP"), "image/webp")
    audio_url = media_server.url_for(tone(4.0, "mp3"), "audio/mpeg")
    response = await generate(client, image=image_url, audio=audio_url, seed=8)
    assert response.status_code == 200, response.text
    assert "x-mock-standin" not in response.headers
    video = probe(response.content)
    assert (video.width, video.height) == (720, 1280)
    assert audio_rms(response.content, 0.5, 3.5) > 0.2


async def test_url_answering_an_error_is_400(client_for, media_server) -> None:
    client = local_media_client(client_for)
    response = await generate(client, image=f"{media_server.base_url}/no-such-file")
    assert response.status_code == 400
    assert response.json() == {"error": "Could not fetch image from URL: HTTP 404"}


async def test_url_downloads_stop_at_the_size_cap(client_for, media_server) -> None:
    client = local_media_client(client_for)
    url = media_server.url_for(b"\0" * (10 * 1024 * 1024 + 1), "image/png")
    response = await generate(client, image=url)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid image: larger than 10 MB"}


async def test_slow_url_times_out_as_unreachable(client_for, media_server) -> None:
    slow = f"{media_server.base_url}/slow?seconds=5"
    lenient = local_media_client(client_for, fetch_timeout_s=0.3)
    response = await generate(lenient, image=slow, seed=1)
    assert response.status_code == 200
    assert response.headers["x-mock-standin"] == "image"
    strict = local_media_client(client_for, fetch_timeout_s=0.3, mode="strict")
    refused = await generate(strict, image=slow)
    assert refused.status_code == 400
    assert "timed out after 0.3 s" in refused.json()["error"]


async def test_private_addresses_are_refused_unless_allowed(client_for, media_server) -> None:
    client = local_media_client(client_for, allow_private_addresses=False)
    image_url = media_server.url_for(image_bytes(640, 360), "image/png")
    response = await generate(client, image=image_url)
    assert response.status_code == 400
    assert (
        "resolves to 127.0.0.1 (loopback address), which is not fetched" in response.json()["error"]
    )
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.8/a.png"):
        refused = await generate(client, image=url)
        assert refused.status_code == 400
        assert "is not fetched" in refused.json()["error"]


async def test_redirects_are_checked_hop_by_hop(client_for, media_server) -> None:
    client = local_media_client(client_for)
    response = await generate(client, image=f"{media_server.base_url}/redirect-home")
    assert response.status_code == 200
    assert response.headers["x-mock-standin"] == "image"  # port 9 refuses: unreachable


async def test_unreachable_url_gets_a_deterministic_stand_in(client_for) -> None:
    client = local_media_client(client_for, offline=True)
    one = await generate(client, image=OFFLINE_IMAGE, seed=1)
    two = await generate(client, image=OFFLINE_IMAGE, seed=1)
    other = await generate(client, image=OFFLINE_IMAGE + "?v=2", seed=1)
    assert one.status_code == 200
    assert one.headers["x-mock-standin"] == "image"
    assert one.content == two.content != other.content


async def test_unreachable_audio_url_falls_back_to_the_sound_bed(client_for) -> None:
    client = local_media_client(client_for, offline=True)
    response = await generate(client, image=PNG_16_9, audio="https://example.invalid/a.mp3")
    assert response.headers["x-mock-standin"] == "audio"
    assert audio_rms(response.content, 0.5, 4.5) > 0.01


async def test_strict_mode_answers_the_real_400(client_for) -> None:
    client = local_media_client(client_for, offline=True, mode="strict")
    response = await generate(client, image=OFFLINE_IMAGE)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Could not fetch image from URL")


async def test_connection_refused_counts_as_unreachable(client_for) -> None:
    client = local_media_client(client_for)
    response = await generate(client, image="http://127.0.0.1:9/closed.png", seed=1)
    assert response.status_code == 200
    assert response.headers["x-mock-standin"] == "image"
    strict = local_media_client(client_for, mode="strict")
    assert (await generate(strict, image="http://127.0.0.1:9/closed.png")).status_code == 400
