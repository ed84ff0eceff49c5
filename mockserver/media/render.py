"""The MP4 renderer: the input image in seeded slow motion, cut into shots, with sound.

A video is a walk over a small library of one-second segments per image and
size (see `segments.py`): each second pans from one anchor of its shot's framing
to another, and a cut changes the framing. The seed chooses the walk, so a new
seed of a known image copies already encoded packets and encodes only its sound;
a new image encodes the segments its walk needs, in worker processes, once.
H.264 (libx264 ultrafast, yuv420p) and AAC in MP4 with the index first, the same
bytes for the same inputs.
"""

from __future__ import annotations

import functools
import io
import itertools
import logging
import math
import random
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar, TypeVarTuple

import anyio
import av
import av.stream
import numpy as np

from wan26.mockserver.media.audio import SAMPLE_RATE, sound_bed
from wan26.mockserver.media.cache import RenderCache
from wan26.mockserver.media.segments import (
    ANCHORS,
    FRAMINGS,
    Picture,
    Segment,
    encode_segment,
    spool_dir,
)
from wan26.mockserver.media.workers import WORKERS, Ahead

AAC_FRAME = 1024
STORED_KEPT = 64  # parts whose packets are kept read: a few images' segments, the sound beds
SEEN_KEPT = 1024  # images remembered as having had a video (digests: 64 bytes each)
Job = tuple[Picture, tuple[int, int], int, Segment]
logger = logging.getLogger("wan26.mockserver")
_MUXER_OPTIONS = {"fflags": "+bitexact", "movflags": "+faststart"}
_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


@dataclass(frozen=True)
class VideoSpec:
    width: int
    height: int
    fps: int
    duration_s: int
    shots: int
    seed: int


def output_size(image_size: tuple[int, int], tier_size: tuple[int, int]) -> tuple[int, int]:
    """Keep the image's aspect ratio at the tier's pixel count; both sides even."""
    pixels = tier_size[0] * tier_size[1]
    aspect = image_size[0] / image_size[1]
    width = _even(math.sqrt(pixels * aspect))
    height = _even(math.sqrt(pixels / aspect))
    return width, height


def plan_segments(spec: VideoSpec) -> list[Segment]:
    """The seed's walk: shots of whole seconds, each in its own framing, each second a pan
    to a different anchor."""
    rng = random.Random(spec.seed)
    bounds = [round(i * spec.duration_s / spec.shots) for i in range(spec.shots + 1)]
    framings = [0, *rng.sample(range(1, len(FRAMINGS)), spec.shots - 1)]
    walk = []
    for shot, framing in enumerate(framings):
        anchor = rng.randrange(len(ANCHORS))
        for _ in range(bounds[shot], bounds[shot + 1]):
            following = rng.choice([a for a in range(len(ANCHORS)) if a != anchor])
            walk.append(Segment(framing, anchor, following))
            anchor = following
    return walk


class SegmentLibrary:
    """Encoded segments by image, size and segment: bounded, each encoded once.

    `processes` worker processes encode them (0: threads of this process, for
    programs that cannot start processes)."""

    def __init__(self, max_bytes: int, processes: int) -> None:
        self.cache = RenderCache(max_bytes)
        self.processes = processes
        self._seen: OrderedDict[str, None] = OrderedDict()  # images that had a video
        self._seen_lock = threading.Lock()

    async def segments(
        self,
        spool: Callable[[], Awaitable[Picture]],
        digest: str,
        spec: VideoSpec,
        walk: list[Segment],
    ) -> list[bytes]:
        """The walk's segments; `spool` writes the picture for the workers, and is called
        only if a segment is missing. The first failure is raised as it is, not in a group."""
        size = (spec.width, spec.height)
        keys = [self._key(digest, size, spec.fps, segment) for segment in walk]
        cached = [self.cache.get(key) for key in keys]
        found = [data or b"" for data in cached]
        missing = [index for index, data in enumerate(cached) if data is None]
        if not missing:  # a new seed of a known image: no task needed
            return found
        spooling = anyio.Lock()
        spooled: list[Picture] = []  # one, once a segment needs it
        failure: Exception | None = None

        async def picture() -> Picture:
            async with spooling:
                if not spooled:
                    # Shielded: the thread writes the file anyway, and it must be removed below.
                    with anyio.CancelScope(shield=True):
                        spooled.append(await spool())
                return spooled[0]

        async def encode(key: str, segment: Segment) -> bytes:
            ahead = await WORKERS.encoded_ahead(key)
            if ahead is not None:
                return ahead
            return await WORKERS.run(self.processes, (await picture(), size, spec.fps, segment))

        async def one(index: int) -> None:
            nonlocal failure
            key, segment = keys[index], walk[index]
            try:
                found[index] = await self.cache.get_or_render(key, lambda: encode(key, segment))
            except Exception as exc:  # raised again below, outside the group
                failure = failure or exc
                group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                for index in missing:
                    group.start_soon(one, index)
        finally:
            # A new picture: the rest of its segments are encoded ahead, and the last
            # of them removes its file.
            if spooled and (failure is not None or not self._encode_rest(spooled[0], spec)):
                spooled[0].remove()
        if failure is not None:
            raise failure
        return found

    def _encode_rest(self, picture: Picture, spec: VideoSpec) -> bool:
        """The segments of the first framing (every video's first shot) no video has asked
        for yet, encoded ahead; False if there are none, if the image had no video before
        (one seen twice is likely seen again; most are seen once) or if there are no
        worker processes. The closer framings of multi-shot videos (three times as many
        segments) are left to the videos that use them."""
        if not self._seen_before(picture.digest):
            return False
        size = (spec.width, spec.height)
        rest: list[tuple[str, Segment]] = []
        for start, end in itertools.permutations(range(len(ANCHORS)), 2):
            segment = Segment(0, start, end)
            key = self._key(picture.digest, size, spec.fps, segment)
            if key not in WORKERS.encoding_ahead and self._missing(key):
                rest.append((key, segment))
        if not rest or self.processes <= 0 or WORKERS.threads_only:
            return False
        left = [len(rest)]
        lock = threading.Lock()

        def one_done() -> None:
            with lock:
                left[0] -= 1
                if left[0]:
                    return
            picture.remove()

        parts = [
            Ahead(
                key,
                encode_segment,
                (picture, size, spec.fps, segment),
                functools.partial(self.cache.put, key),
                functools.partial(self._missing, key),
                one_done,
            )
            for key, segment in rest
        ]
        WORKERS.ahead(self.processes, parts)
        return True

    def _missing(self, key: str) -> bool:
        return self.cache.peek(key) is None

    def _seen_before(self, digest: str) -> bool:
        with self._seen_lock:
            seen = digest in self._seen
            self._seen[digest] = None
            self._seen.move_to_end(digest)
            if len(self._seen) > SEEN_KEPT:
                self._seen.popitem(last=False)
        return seen

    @staticmethod
    def _key(digest: str, size: tuple[int, int], fps: int, segment: Segment) -> str:
        return f"{digest}:{size}:{fps}:{segment}"

    def clear(self) -> None:
        self.cache.clear()


def encode_bed(duration_s: float, bed: int) -> bytes:
    """A sound bed, encoded (in a worker, ahead of the video that will need it)."""
    return encode_sound(sound_bed(duration_s, bed))


def encode_sound(audio: np.ndarray) -> bytes:
    """AAC in an MP4 of its own, to be joined to pictures later; `audio` is planar float32
    stereo at 48 kHz, already fitted to the duration."""
    output = io.BytesIO()
    with av.open(output, mode="w", format="mp4") as container:
        stream = container.add_stream(
            "aac", rate=SAMPLE_RATE, layout="stereo", options={"aac_coder": "fast"}
        )
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for frame in _audio_frames(audio):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return output.getvalue()


def assemble_mp4(segments: list[bytes], sound: bytes) -> bytes:
    """The segments' pictures one after another, with the sound: packets copied, nothing
    encoded. Each part's packets are read once (`_stored`), and the containers the output's
    streams are modelled on are opened once (`_template`): a new seed of a known image
    opens only its output."""
    # A file, not a buffer: "faststart" rewrites it to put the index first, for players.
    # In the process's spool folder: a folder made and removed per video costs more.
    path = spool_dir() / f"{uuid.uuid4().hex}.mp4"
    try:
        with av.open(str(path), mode="w", format="mp4", container_options=_MUXER_OPTIONS) as out:
            video = out.add_stream_from_template(_template(segments[0]).streams.video[0])
            track = out.add_stream_from_template(_template(sound).streams.audio[0])
            pictures, sound_packets = [_stored(data) for data in segments], _stored(sound)
            bases = [sound_packets.time_base, *(stored.time_base for stored in pictures)]
            scale = math.lcm(*(base.denominator for base in bases))
            timed = [
                (dts, 0, packet)
                for index, stored in enumerate(pictures)  # each segment is one second
                for dts, packet in stored.copied(video, scale, index * round(1 / stored.time_base))
            ]
            timed += ((dts, 1, packet) for dts, packet in sound_packets.copied(track, scale, 0))
            timed.sort(key=_mux_order)
            for _, _, packet in timed:
                out.mux(packet)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


# A packet's type names its stream's; these are moved from one stream to another: Any.
Timed = tuple[int, int, "av.Packet[Any]"]  # the time on a common scale, the stream, the packet


def _mux_order(timed: Timed) -> tuple[int, int]:
    """By time, then stream (video first): the order the packets are muxed in."""
    return timed[0], timed[1]


def _known(base: Fraction | None) -> Fraction:
    assert base is not None  # a demuxed stream always has one
    return base


@dataclass(frozen=True)
class _Stored:
    """The packets of an MP4's one stream, as read: data, pts, dts, duration, keyframe."""

    time_base: Fraction
    packets: list[tuple[bytes, int, int, int | None, bool]]

    def copied(
        self, stream: av.stream.Stream, scale: int, offset: int
    ) -> list[tuple[int, av.Packet[Any]]]:
        """New packets for `stream`, `offset` later, each with its decoding time in units
        of 1/`scale` s (integers: exact, and far cheaper to sort than fractions)."""
        copied: list[tuple[int, av.Packet[Any]]] = []
        factor = self.time_base.numerator * (scale // self.time_base.denominator)
        for data, pts, dts, duration, keyframe in self.packets:
            packet: av.Packet[Any] = av.Packet(data)
            packet.pts, packet.dts, packet.duration = pts + offset, dts + offset, duration
            packet.time_base = self.time_base
            packet.is_keyframe = keyframe
            packet.stream = stream
            copied.append(((dts + offset) * factor, packet))
        return copied


@functools.lru_cache(maxsize=STORED_KEPT)
def _template(data: bytes) -> av.container.InputContainer:
    """A part's container, open, for its stream's parameters: opening one reads and probes
    it, a third of a new seed's assembly. Only read, so threads may share it."""
    return av.open(io.BytesIO(data), mode="r")


@functools.lru_cache(maxsize=STORED_KEPT)
def _stored(data: bytes) -> _Stored:
    """An encoded segment's or sound track's packets (the caches hand out the same bytes
    object for the same part, so a lookup hashes nothing twice)."""
    with av.open(io.BytesIO(data), mode="r") as source:
        stream = source.streams[0]
        packets = []
        for packet in source.demux(stream):
            if packet.dts is None:
                continue  # the demuxer's end-of-stream marker
            assert packet.pts is not None  # MP4 gives every stored packet both times
            packets.append(
                (bytes(packet), packet.pts, packet.dts, packet.duration, packet.is_keyframe)
            )
        return _Stored(_known(stream.time_base), packets)


def _audio_frames(audio: np.ndarray) -> Iterator[av.AudioFrame]:
    for start in range(0, audio.shape[1], AAC_FRAME):
        chunk = np.ascontiguousarray(audio[:, start : start + AAC_FRAME])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        yield frame


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)
