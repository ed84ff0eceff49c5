"""Input media made on the fly: images with Pillow, sound with PyAV."""

from __future__ import annotations

import base64
import io

import av
import numpy as np
from PIL import Image, ImageDraw


def image_bytes(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    image = Image.new(mode, (width, height), (30, 90, 160) if mode == "RGB" else (30, 90, 160, 128))
    draw = ImageDraw.Draw(image)
    for i in range(0, width, max(1, width // 8)):
        draw.rectangle((i, 0, i + width // 16, height), fill=(200, 120 + i % 100, 40))
    draw.ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(240, 240, 60))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def tone(seconds: float, fmt: str = "wav", rate: int = 44_100, frequency: float = 440.0) -> bytes:
    """A sine tone as wav (pcm_s16le) or mp3 (libmp3lame)."""
    codec = {"wav": "pcm_s16le", "mp3": "libmp3lame", "flac": "flac"}[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        total = int(seconds * rate)
        samples = (0.5 * np.sin(2 * np.pi * frequency * np.arange(total) / rate)).astype(np.float32)
        sample_format = stream.codec_context.format.name
        step = stream.codec_context.frame_size or 1024
        for start in range(0, total, step):
            chunk = samples[start : start + step]
            if sample_format.startswith("s16"):
                chunk = (chunk * 32767).astype(np.int16)
            elif sample_format.startswith("s32"):
                chunk = (chunk * 2**31 - 1).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format=sample_format, layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
