"""Hostile media files: audio and image bombs are refused from their headers, and the
emulator's memory stays bounded while it refuses them."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import httpx
import pytest

from mediafiles import data_uri, image_bytes, tone
from wan26.mockserver.server.background import free_port, running_command

pytestmark = pytest.mark.anyio
PNG = data_uri(image_bytes(640, 360), "image/png")


# ---- hostile files ---------------------------------------------------------------------------


def wav(rate: int, channels: int, samples: int) -> bytes:
    """8-bit PCM silence with whatever header values a test wants."""
    data = bytes(samples * channels)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels, channels, 8)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def mp3_claiming(frames: int, seconds: float) -> bytes:
    """An 8 kHz mp3 of `seconds` whose Info header says it holds `frames` frames (576 samples)."""
    data = bytearray(tone(seconds, "mp3", rate=8000))
    at = data.index(b"Info")
    data[at + 8 : at + 12] = struct.pack(">I", frames)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width` x `height` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


AUDIO_BOMBS = {
    "1 Hz wav": (wav(1, 1, 2000), "Invalid audio: sample rate 1 Hz; it must be 8000-192000 Hz"),
    "384 kHz wav": (
        wav(384_000, 1, 384_000),
        "Invalid audio: sample rate 384000 Hz; it must be 8000-192000 Hz",
    ),
    "64-channel wav": (wav(8000, 64, 8000 * 4), "Invalid audio: 64 channels; it must be 1-8"),
    "mp3 claiming hours": (
        mp3_claiming(10_000_000, 5.0),
        "Invalid audio: 719999.82 s long; it must be 3-30 s",
    ),
    "mp3 claiming 4 s, holding 60": (
        mp3_claiming(60, 60.0),
        "Invalid audio: longer than 30 s; it must be at most 30 s",
    ),
}
IMAGE_BOMBS = {
    "50000x50000 png": (
        png_claiming(50_000, 50_000),
        "Invalid image: the header declares over 89478485 px; each side must be 360-2000 px",
    ),
    "8000x8000 png": (
        png_claiming(8000, 8000),
        "Invalid image: 8000x8000 px; each side must be 360-2000 px",
    ),
}


async def generate(client: httpx.AsyncClient, **params: object) -> httpx.Response:
    return await client.post("/v1/wan-2.6-i2v", json={"prompt": "a scene", **params})


@pytest.mark.parametrize("name", AUDIO_BOMBS)
async def test_audio_bombs_are_refused_from_the_header(
    client: httpx.AsyncClient, name: str
) -> None:
    audio, message = AUDIO_BOMBS[name]
    response = await generate(client, image=PNG, audio=data_uri(audio, "audio/wav"))
    assert response.status_code == 400
    assert response.json() == {"error": message}


@pytest.mark.parametrize("name", IMAGE_BOMBS)
async def test_image_bombs_are_refused_from_the_header(
    client: httpx.AsyncClient, name: str
) -> None:
    image, message = IMAGE_BOMBS[name]
    response = await generate(client, image=data_uri(image, "image/png"))
    assert response.status_code == 400
    assert response.json() == {"error": message}


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), which a spike cannot hide from."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def test_media_bombs_leave_the_emulators_memory_bounded() -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    key = "hostile-media-key"
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    env = {"SEGMIND_API_KEY": key, "WAN26_MOCK_OFFLINE": "1"}
    with (
        running_command(command, f"{base_url}/_mock/health", env) as process,
        httpx.Client(base_url=base_url, headers={"x-api-key": key}, timeout=60) as http,
    ):

        def post(image: bytes, audio: bytes | None = None) -> httpx.Response:
            body = {"prompt": "p", "image": data_uri(image, "image/png")}
            if audio is not None:
                body["audio"] = data_uri(audio, "audio/wav")
            return http.post("/v1/wan-2.6-i2v", json=body)

        # Warm up (imports, codecs) with inputs refused for ordinary reasons.
        assert post(image_bytes(300, 300)).status_code == 400
        assert post(image_bytes(640, 360), tone(2.0)).status_code == 400
        before = peak_rss_mb(process.pid)
        for audio, message in AUDIO_BOMBS.values():
            assert post(image_bytes(640, 360), audio).json() == {"error": message}
        for image, message in IMAGE_BOMBS.values():
            assert post(image).json() == {"error": message}
        growth = peak_rss_mb(process.pid) - before
    assert growth < 50, f"peak RSS grew by {growth:.1f} MB"
