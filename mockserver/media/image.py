"""Decoding and checking the input image, and the offline stand-in for unreachable URLs."""

from __future__ import annotations

import hashlib
import io
import random
import warnings
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from wan26.mockserver.media.errors import MediaError

# Pillow's names for the contract's format names.
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "webp": "WEBP"}
STANDIN_SIZE = (1280, 720)
STANDIN_PICTURES = 8
_standins: dict[int, Image.Image] = {}  # shared by apps on other threads' loops
# Pillow walks PNG chunks and JPEG markers (and each junk byte between them) one Python
# step at a time. A real image takes a few dozen steps; a 10 MB PNG cut into libpng's
# 8 KB IDAT chunks about 1,300. A file that needs more is refused before Pillow sees it.
MAX_SEGMENTS = 10_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UNREADABLE = "Invalid image: not a decodable JPEG, PNG, BMP or WEBP file"


def open_image(data: bytes, rules: dict[str, Any]) -> Image.Image:
    """The image with its header checked against the rules, not yet decoded.

    Decoding waits for `to_rgb`, so a request answered from the render cache
    never pays for it, and by then the sides are known to be within the
    contract's limits: memory is bounded by max_side squared, whatever the
    file's compression. Pillow's own bomb check refuses far larger headers
    before they are even parsed further.
    """
    allowed = {_PILLOW_FORMATS[name] for name in rules["formats"]}
    low, high = rules["min_side"], rules["max_side"]
    if _segments(data) > MAX_SEGMENTS:
        raise MediaError(_UNREADABLE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image_format = image.format
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(
            f"Invalid image: the header declares over {Image.MAX_IMAGE_PIXELS} px; "
            f"each side must be {low}-{high} px"
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise MediaError(_UNREADABLE) from None
    if image_format not in allowed:
        names = ", ".join(name.upper() for name in rules["formats"])
        raise MediaError(f"Invalid image: format {image_format} is not supported (use {names})")
    width, height = image.size  # from the header: nothing is decoded before this check
    if not (low <= width <= high and low <= height <= high):
        raise MediaError(f"Invalid image: {width}x{height} px; each side must be {low}-{high} px")
    if not rules.get("alpha", True) and _has_alpha(image):
        raise MediaError(f"Invalid image: {image_format} with an alpha channel is not supported")
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    try:
        return image.convert("RGB")
    except (OSError, SyntaxError, ValueError):
        raise MediaError("Invalid image: the file is truncated or corrupt") from None


def _segments(data: bytes) -> int:
    """How many steps Pillow's PNG or JPEG parser would take, counted up to one past the cap."""
    if data.startswith(_PNG_SIGNATURE):
        return _png_chunks(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_steps(data)
    return 0


def _png_chunks(data: bytes) -> int:
    count, offset = 0, len(_PNG_SIGNATURE)
    while offset + 8 <= len(data) and count <= MAX_SEGMENTS:
        count += 1
        if data[offset + 4 : offset + 8] == b"IEND":
            break
        offset += 12 + int.from_bytes(data[offset : offset + 4], "big")
    return count


def _jpeg_steps(data: bytes) -> int:
    """Markers, fill and junk bytes up to the first scan (libjpeg reads the rest, in C)."""
    count, offset = 0, 2
    while offset + 4 <= len(data) and count <= MAX_SEGMENTS:
        count += 1
        if data[offset] != 0xFF or data[offset + 1] == 0xFF:
            offset += 1  # junk, or a fill byte before a marker
            continue
        marker = data[offset + 1]
        if marker == 0xDA:
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            offset += 2
        else:
            offset += 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
    return count


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def standin_key(url: str) -> int:
    """Which stand-in picture a URL gets: always the same one. URLs share a few pictures,
    so a new URL's video is seldom a new picture to encode (fuzzers send hundreds)."""
    return int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big") % STANDIN_PICTURES


def standin_image(key: int) -> Image.Image:
    """A deterministic picture, one of `STANDIN_PICTURES`, drawn once."""
    image = _standins.get(key)
    if image is None:  # two threads may draw it; both get the first one kept
        image = _standins.setdefault(key, _draw_standin(key))
    return image


def drawn_standin(key: int) -> Image.Image | None:
    """The stand-in if it was drawn already: a new seed of it needs no thread."""
    return _standins.get(key)


def _draw_standin(key: int) -> Image.Image:
    rng = random.Random(key)
    width, height = STANDIN_SIZE
    top = tuple(rng.randrange(40, 200) for _ in range(3))
    bottom = tuple(rng.randrange(40, 200) for _ in range(3))
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), gradient
    )
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(30, 180)
        colour = tuple(rng.randrange(256) for _ in range(3))
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    return image.filter(ImageFilter.GaussianBlur(2))
