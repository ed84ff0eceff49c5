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

import asyncio
import functools
import io
import logging
import math
import multiprocessing
import random
import sys
import types
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar, TypeVarTuple

import anyio
import av
import av.stream
import numpy as np

from wan26.mockserver.media.audio import SAMPLE_RATE
from wan26.mockserver.media.cache import RenderCache
from wan26.mockserver.media.segments import (
    ANCHORS,
    FRAMINGS,
    Picture,
    Segment,
    encode_segment,
    spool_dir,
    start_worker,
)

AAC_FRAME = 1024
STORED_KEPT = 64  # parts whose packets are kept read: a few images' segments, the sound beds
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
        spooling = anyio.Lock()
        spooled: list[Picture] = []  # one, once a segment needs it
        found: list[bytes] = [b""] * len(walk)
        failure: Exception | None = None

        async def picture() -> Picture:
            async with spooling:
                if not spooled:
                    # Shielded: the thread writes the file anyway, and it must be removed below.
                    with anyio.CancelScope(shield=True):
                        spooled.append(await spool())
                return spooled[0]

        async def encode(segment: Segment) -> bytes:
            return await WORKERS.run(self.processes, (await picture(), size, spec.fps, segment))

        async def one(index: int, segment: Segment) -> None:
            nonlocal failure
            key = f"{digest}:{size}:{spec.fps}:{segment}"
            try:
                found[index] = await self.cache.get_or_render(key, lambda: encode(segment))
            except Exception as exc:  # raised again below, outside the group
                failure = failure or exc
                group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                for index, segment in enumerate(walk):
                    group.start_soon(one, index, segment)
        finally:
            for written in spooled:
                written.remove()
        if failure is not None:
            raise failure
        return found

    def clear(self) -> None:
        self.cache.clear()


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
    encoded. Each part's packets are read once (`_stored`): a new seed of a known image
    reuses them, and opens only the two containers the output's streams are modelled on."""
    # A file, not a buffer: "faststart" rewrites it to put the index first, for players.
    # In the process's spool folder: a folder made and removed per video costs more.
    path = spool_dir() / f"{uuid.uuid4().hex}.mp4"
    first = av.open(io.BytesIO(segments[0]), mode="r")
    audio = av.open(io.BytesIO(sound), mode="r")
    try:
        with av.open(str(path), mode="w", format="mp4", container_options=_MUXER_OPTIONS) as out:
            video = out.add_stream_from_template(first.streams.video[0])
            track = out.add_stream_from_template(audio.streams.audio[0])
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
        first.close()
        audio.close()
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


class WorkerPool:
    """Worker processes that encode segments, shared by every emulator in this process
    (tests make many). Where processes cannot start at all, threads do the work."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self.threads_only = False
        self.checked = False  # once per process: every app's start asks (a test makes many)

    def check(self, processes: int) -> None:
        """At start-up: without a writable /dev/shm (some sandboxes and serverless
        runtimes) multiprocessing cannot make the semaphores a pool needs, and every
        encoding would fail; threads encode instead."""
        if processes <= 0 or self.checked or self.threads_only or self._executor is not None:
            return
        try:
            multiprocessing.get_context("spawn").Lock()
        except (OSError, ImportError) as exc:  # ImportError: a platform without sem_open
            self.threads_only = True
            logger.warning("worker processes cannot be made here (%s); encoding in threads", exc)
        self.checked = True

    async def run(
        self, processes: int, job: tuple[Picture, tuple[int, int], int, Segment]
    ) -> bytes:
        if processes > 0 and not self.threads_only:
            try:
                return await _in_process(self._pool(processes), encode_segment, *job)
            except BrokenProcessPool:
                self._executor = None  # a worker died (killed, out of memory): start anew
                if not await anyio.to_thread.run_sync(self._can_start, processes):
                    self.threads_only = True
                    logger.warning("worker processes cannot start here; encoding in threads")
        return await anyio.to_thread.run_sync(encode_segment, *job)

    def _pool(self, processes: int) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            executor = ProcessPoolExecutor(
                max_workers=processes, mp_context=context, initializer=start_worker
            )
            # "spawn" starts each worker by importing the program's main module again,
            # which runs a script without the `if __name__ == "__main__":` guard a second
            # time. The workers need nothing from it, so they are all started here, while
            # the main module is hidden from multiprocessing.
            with _main_module_hidden():
                for _ in range(processes):
                    executor.submit(int)
            self._executor = executor
        return self._executor

    def close(self) -> None:
        """Stop the worker processes. A process started by multiprocessing (`--workers N`)
        joins its children before the executor's own exit hook would run, so it must."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _can_start(self, processes: int) -> bool:
        try:
            return self._pool(processes).submit(abs, -1).result(timeout=120) == 1
        except (BrokenProcessPool, TimeoutError):
            self._executor = None
            return False


WORKERS = WorkerPool()


async def _in_process(
    executor: ProcessPoolExecutor, function: Callable[[*_Args], _T], *args: *_Args
) -> _T:
    """asyncio, not anyio: anyio cannot await the Future of an executor of our own."""
    return await asyncio.wrap_future(executor.submit(function, *args))


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)
