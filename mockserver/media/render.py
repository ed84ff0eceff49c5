"""The MP4 renderer: the input image in seeded slow motion, cut into shots, with sound.

The image is scaled and converted to YUV once per shot; each frame is then a
crop of those planes (a pan), so the per-frame cost is a memory copy and the
encoder's work. H.264 (libx264 ultrafast, yuv420p) and AAC in MP4, bit-exact
for the same inputs.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from wan26.mockserver.media.audio import SAMPLE_RATE

AAC_FRAME = 1024


@dataclass(frozen=True)
class VideoSpec:
    width: int
    height: int
    fps: int
    duration_s: int
    shots: int
    seed: int

    @property
    def frame_count(self) -> int:
        return self.fps * self.duration_s


@dataclass(frozen=True)
class Shot:
    first_frame: int
    frames: int
    zoom: float  # how much larger than the output the panned-over picture is
    centre: tuple[float, float]  # which part of the image the shot looks at, 0..1
    start: tuple[float, float]  # pan start and end within the margin, 0..1
    end: tuple[float, float]


def output_size(image_size: tuple[int, int], tier_size: tuple[int, int]) -> tuple[int, int]:
    """Keep the image's aspect ratio at the tier's pixel count; both sides even."""
    pixels = tier_size[0] * tier_size[1]
    aspect = image_size[0] / image_size[1]
    width = _even(math.sqrt(pixels * aspect))
    height = _even(math.sqrt(pixels / aspect))
    return width, height


def plan_shots(spec: VideoSpec) -> list[Shot]:
    rng = random.Random(spec.seed)
    bounds = [round(i * spec.frame_count / spec.shots) for i in range(spec.shots + 1)]
    shots = []
    for index in range(spec.shots):
        zoom = 1.12 if index == 0 else rng.uniform(1.35, 1.8)
        centre = (0.5, 0.5) if index == 0 else (rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))
        start = (rng.random(), rng.random())
        end = (1.0 - start[0], 1.0 - start[1])
        shots.append(
            Shot(bounds[index], bounds[index + 1] - bounds[index], zoom, centre, start, end)
        )
    return shots


def render_mp4(image: Image.Image, audio: np.ndarray, spec: VideoSpec) -> bytes:
    """`audio` is planar float32 stereo at 48 kHz, already fitted to the duration.

    The sound is encoded on a second thread while the picture is encoded (both
    release the GIL); the packets are then muxed in time order, so the file
    is the same whatever the threads' timing.
    """
    with tempfile.TemporaryDirectory(prefix="wan26-render-") as folder:
        path = Path(folder) / "out.mp4"
        _write(path, image, audio, spec)
        return path.read_bytes()


def _write(path: Path, image: Image.Image, audio: np.ndarray, spec: VideoSpec) -> None:
    # A file, not a buffer: "faststart" rewrites it to put the index first, for players.
    with av.open(str(path), mode="w", format="mp4", container_options=_MUXER_OPTIONS) as container:
        # Constant QP: rate control cost x264 ultrafast half its time here.
        video = container.add_stream(
            "libx264", rate=spec.fps, options={"preset": "ultrafast", "qp": "23"}
        )
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        sound = container.add_stream(
            "aac", rate=SAMPLE_RATE, layout="stereo", options={"aac_coder": "fast"}
        )
        for stream in (video, sound):
            stream.codec_context.flags |= av.codec.context.Flags.bitexact
        with ThreadPoolExecutor(max_workers=1) as pool:
            sound_packets = pool.submit(_encode_all, sound, _audio_frames(audio))
            video_packets = _encode_all(video, _video_frames(image, spec))
            packets = video_packets + sound_packets.result()
        packets.sort(key=lambda packet: (packet.dts * packet.time_base, packet.stream.index))
        for packet in packets:
            container.mux(packet)


_MUXER_OPTIONS = {"fflags": "+bitexact", "movflags": "+faststart"}


def _encode_all(stream: av.stream.Stream, frames: Iterator[av.frame.Frame]) -> list[av.Packet]:
    packets: list[av.Packet] = []
    for frame in frames:
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return packets


def _video_frames(image: Image.Image, spec: VideoSpec) -> Iterator[av.VideoFrame]:
    for shot in plan_shots(spec):
        yield from _shot_frames(image, shot, spec)


def _shot_frames(image: Image.Image, shot: Shot, spec: VideoSpec) -> Iterator[av.VideoFrame]:
    width, height = spec.width, spec.height
    big_w, big_h = _even(width * shot.zoom), _even(height * shot.zoom)
    picture = _crop_to_aspect(image, width / height, shot)
    picture = picture.resize((big_w, big_h), Image.Resampling.BILINEAR)
    y, u, v = _yuv_planes(picture)
    room_x, room_y = big_w - width, big_h - height
    last = max(shot.frames - 1, 1)
    for i in range(shot.frames):
        progress = _ease(i / last)
        fx = shot.start[0] + (shot.end[0] - shot.start[0]) * progress
        fy = shot.start[1] + (shot.end[1] - shot.start[1]) * progress
        x, y0 = _even(fx * room_x, down=True), _even(fy * room_y, down=True)
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane, source, step in zip(frame.planes, (y, u, v), (1, 2, 2), strict=True):
            target = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            top, left = y0 // step, x // step
            target[:, : plane.width] = source[top : top + plane.height, left : left + plane.width]
        frame.pts = shot.first_frame + i
        if i == 0:
            frame.pict_type = av.video.frame.PictureType.I  # a cut starts on a keyframe
        yield frame


def _crop_to_aspect(image: Image.Image, aspect: float, shot: Shot) -> Image.Image:
    """The region of the source the shot frames: full width or height, at the output aspect."""
    src_w, src_h = image.size
    crop_w, crop_h = (src_w, src_w / aspect) if src_w / src_h < aspect else (src_h * aspect, src_h)
    crop_w, crop_h = crop_w / (shot.zoom / 1.12), crop_h / (shot.zoom / 1.12)
    left = (src_w - crop_w) * shot.centre[0]
    top = (src_h - crop_h) * shot.centre[1]
    return image.crop((round(left), round(top), round(left + crop_w), round(top + crop_h)))


def _yuv_planes(picture: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = av.VideoFrame.from_image(picture).reformat(format="yuv420p")
    return tuple(
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        for plane in frame.planes
    )


def _audio_frames(audio: np.ndarray) -> Iterator[av.AudioFrame]:
    for start in range(0, audio.shape[1], AAC_FRAME):
        chunk = np.ascontiguousarray(audio[:, start : start + AAC_FRAME])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        yield frame


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def _even(value: float, down: bool = False) -> int:
    return int(value // 2) * 2 if down else max(2, round(value / 2) * 2)
