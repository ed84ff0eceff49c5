"""From validated parameters to MP4 bytes: fetch and check the inputs, then a cached render."""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, TypeVarTuple

import anyio
import httpx
import numpy as np
from PIL import Image

from wan26.contracts.core.spec import ModelOperation
from wan26.mockserver.config import MediaConfig
from wan26.mockserver.core.drift import DriftConfig
from wan26.mockserver.core.shared import known_images, segment_library, sound_cache
from wan26.mockserver.media import audio as audio_track
from wan26.mockserver.media.cache import RenderCache
from wan26.mockserver.media.errors import MediaError, Unreachable
from wan26.mockserver.media.fetch import decode_data_uri, fetch_client, fetch_url
from wan26.mockserver.media.image import (
    drawn_standin,
    open_image,
    standin_image,
    standin_key,
    to_rgb,
)
from wan26.mockserver.media.known import KnownImage
from wan26.mockserver.media.render import (
    VideoSpec,
    assemble_mp4,
    encode_bed,
    encode_sound,
    output_size,
    plan_segments,
)
from wan26.mockserver.media.segments import Picture
from wan26.mockserver.media.target import check_url
from wan26.mockserver.media.workers import WORKERS, Ahead

# Whole videos get a quarter of `cache_bytes`, segments all of it: a video is made again
# from its segments in a few ms, and 1,000 new videos would otherwise hold 250 MB.
VIDEO_CACHE_SHARE = 4
_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


@dataclass
class Inputs:
    image: Image.Image
    image_digest: str
    audio: np.ndarray | None = None
    audio_digest: str | None = None
    standins: list[str] = field(default_factory=list)  # fields replaced by a stand-in


@dataclass(frozen=True)
class Video:
    data: bytes
    spec: VideoSpec
    key: str  # in the render cache, which the dashboard's player reads it from


class Generator:
    def __init__(
        self, operation: ModelOperation, media: MediaConfig, drift: DriftConfig | None = None
    ) -> None:
        self.operation = operation
        self.media = media
        self.drift = drift or DriftConfig()
        self.cache = RenderCache(media.cache_bytes // VIDEO_CACHE_SHARE)
        self.sounds = sound_cache()  # these two are the process's, shared by every app
        self.segments = segment_library(media.cache_bytes, media.encoding_processes)
        self._limiter = anyio.CapacityLimiter(max(1, media.render_threads))
        self._http: httpx.AsyncClient | None = None  # made at the first fetch: few apps fetch

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def check(self, params: dict[str, Any]) -> None:
        """Raises `MediaError` (a 400 at submit, v1 and v2 alike) for whatever the request
        itself shows to be invalid: a URL's syntax, an IP address the policy refuses, a data
        URI that is not base64, declares another kind of file, is too large or holds no
        readable image or sound. Only what a URL serves is left to the run.

        URLs are checked inline (cheap); data URIs are decoded in a thread of anyio's
        default pool, so a submit never waits behind a render."""
        for field_name, spec in self.operation.properties.items():
            source = params.get(field_name)
            if "x-media" not in spec or not source:
                continue
            if source.startswith("data:"):
                rules = self.operation.media_rules(field_name)
                if field_name == "image" and known_images().get(source, _rules_key(rules)):
                    continue  # checked when it was first seen
                await anyio.to_thread.run_sync(_check_data_uri, field_name, source, rules)
            else:
                check_url(source, field_name, self.media.allow_private_addresses)

    async def load_inputs(self, params: dict[str, Any]) -> Inputs:
        """Raises `MediaError` (a 400) when an input breaks the contract's media rules."""
        image_rules = self.operation.media_rules("image")
        source = params["image"]
        rules_key = _rules_key(image_rules)
        known = known_images().get(source, rules_key) if source.startswith("data:") else None
        if known is not None:
            inputs = Inputs(known.open(), known.digest)
        elif (raw := await self._bytes_of("image", source, image_rules["max_bytes"])) is None:
            key = standin_key(source)
            image = drawn_standin(key)
            if image is None:
                image = await self._in_thread(standin_image, key)
            inputs = Inputs(image, _digest(f"standin:{key}".encode()), standins=["image"])
        else:
            inputs = Inputs(await self._in_thread(open_image, raw, image_rules), _digest(raw))
            if source.startswith("data:"):
                known_images().put(source, rules_key, KnownImage(raw, inputs.image_digest))
        if params.get("audio"):
            audio_rules = self.operation.media_rules("audio")
            raw = await self._bytes_of("audio", params["audio"], audio_rules["max_bytes"])
            if raw is None:
                inputs.standins.append("audio")
            else:
                inputs.audio = await self._in_thread(audio_track.decode_audio, raw, audio_rules)
                inputs.audio_digest = _digest(raw)
        return inputs

    async def render(self, params: dict[str, Any], seed: int, inputs: Inputs) -> Video:
        """Raises `MediaError` if the image turns out corrupt when it is decoded."""
        spec = self.spec_for(params, seed, inputs.image.size)
        key = _digest(
            json.dumps(
                [spec.__dict__, inputs.image_digest, inputs.audio_digest], sort_keys=True
            ).encode()
        )

        async def encode() -> bytes:
            async def spool() -> Picture:
                return await self._in_thread(_spool, inputs.image, inputs.image_digest)

            walk = plan_segments(spec)
            segments = await self.segments.segments(spool, inputs.image_digest, spec, walk)
            return await self._in_thread(assemble_mp4, segments, await self._sound(inputs, spec))

        return Video(await self.cache.get_or_render(key, encode), spec, key)

    async def _sound(self, inputs: Inputs, spec: VideoSpec) -> bytes:
        """The encoded sound track, cached: the given audio fitted to the duration, or one
        of a few sound beds chosen by the seed."""
        duration, audio = spec.duration_s, inputs.audio
        make: Callable[[], np.ndarray]
        if audio is not None:
            key = f"audio:{inputs.audio_digest}:{duration}"
            make = functools.partial(audio_track.fit_to, audio, duration)
        else:
            bed = spec.seed % audio_track.SOUND_BEDS
            key, make = _bed_key(bed, duration), lambda: audio_track.sound_bed(duration, bed)

        async def encode() -> bytes:
            ahead = await WORKERS.encoded_ahead(key)
            if ahead is not None:
                return ahead
            if audio is None:
                self._encode_other_beds(duration, bed)
            return await self._in_thread(lambda: encode_sound(make()))

        return await self.sounds.get_or_render(key, encode)

    def _encode_other_beds(self, duration: int, bed: int) -> None:
        """A second sound bed of a duration: the others are encoded ahead (a program that
        made two videos of one length will likely make more)."""
        keys = [_bed_key(other, duration) for other in range(audio_track.SOUND_BEDS)]
        if all(self._missing_sound(key) for key in keys[:bed] + keys[bed + 1 :]):
            return
        parts = [
            Ahead(
                key,
                encode_bed,
                (duration, other),
                functools.partial(self.sounds.put, key),
                functools.partial(self._missing_sound, key),
            )
            for other, key in enumerate(keys)
            if other != bed and key not in WORKERS.encoding_ahead and self._missing_sound(key)
        ]
        WORKERS.ahead(self.segments.processes, parts)

    def _missing_sound(self, key: str) -> bool:
        return self.sounds.peek(key) is None

    def spec_for(self, params: dict[str, Any], seed: int, image_size: tuple[int, int]) -> VideoSpec:
        width, height = output_size(image_size, self.operation.tier_size(params["resolution"]))
        multi = params["multi_shots"] and params["enable_prompt_expansion"]
        shots = random.Random(seed).choice((2, 3)) if multi else 1
        if self.drift.video_size:
            width, height = self.drift.video_size
        duration = max(1, int(params["duration"]) - self.drift.video_seconds_short)
        return VideoSpec(width, height, int(self.operation.output["fps"]), duration, shots, seed)

    async def _bytes_of(self, field_name: str, source: str, max_bytes: int) -> bytes | None:
        """The input's bytes; None when the URL is unreachable and the mode allows a stand-in."""
        if source.startswith("data:"):
            return await self._in_thread(decode_data_uri, source, field_name, max_bytes)
        try:
            if self.media.offline:
                check_url(source, field_name, self.media.allow_private_addresses)
                raise Unreachable("offline mode fetches no URL")
            if self._http is None:
                self._http = fetch_client(self.media.fetch_timeout_s)
            return await fetch_url(
                self._http,
                source,
                field=field_name,
                max_bytes=max_bytes,
                timeout_s=self.media.fetch_timeout_s,
                allow_private=self.media.allow_private_addresses,
            )
        except Unreachable as exc:
            if self.media.mode == "strict":
                raise MediaError(f"Could not fetch {field_name} from URL: {exc}") from None
            return None

    async def _in_thread(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)


def _check_data_uri(field_name: str, source: str, rules: dict[str, Any]) -> None:
    """An image checked here is known from then on, so the render does not decode it again."""
    raw = decode_data_uri(source, field_name, rules["max_bytes"])
    if rules["kind"] == "image":
        open_image(raw, rules)
        known_images().put(source, _rules_key(rules), KnownImage(raw, _digest(raw)))
    else:
        audio_track.decode_audio(raw, rules)


def _bed_key(bed: int, duration: int) -> str:
    return f"bed:{bed}:{duration}"


def _spool(image: Image.Image, digest: str) -> Picture:
    return Picture.spool(to_rgb(image), digest)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rules_key(rules: dict[str, Any]) -> str:
    """Known images are kept per rule set: another model may have other limits."""
    return json.dumps(rules, sort_keys=True)
