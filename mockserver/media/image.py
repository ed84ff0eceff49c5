"""Decoding and checking the input image, and the offline stand-in for unreachable URLs."""

from __future__ import annotations

import functools
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
        raise MediaError("Invalid image: not a decodable JPEG, PNG, BMP or WEBP file") from None
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


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


@functools.lru_cache(maxsize=32)
def standin_image(url: str) -> Image.Image:
    """A deterministic picture made from the URL: same URL, same picture, no network."""
    rng = random.Random(hashlib.sha256(url.encode()).digest())
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
