"""One second of picture, encoded once: the unit the renderer builds every video from.

A segment pans the input image between two anchor points of one framing (a zoom
and a centre) and starts on a keyframe, so segments can be joined in any order
by copying packets. Encoding runs in worker processes (`encode_segment` is their
entry point): the event loop's process never holds the GIL for it, and every core
encodes. Workers read the picture from a spool file and keep the last few
prepared pictures, so a video's segments do not each pay for the resize.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

# The framings a shot can use: the first shot shows the whole picture, later shots
# move closer to one part of it.
FRAMINGS: tuple[tuple[float, tuple[float, float]], ...] = (
    (1.12, (0.5, 0.5)),
    (1.6, (0.35, 0.4)),
    (1.45, (0.65, 0.6)),
)
# Where a pan may start or stop, as fractions of the room the zoom leaves to move in.
ANCHORS: tuple[tuple[float, float], ...] = ((0.2, 0.2), (0.85, 0.35), (0.4, 0.85))
WORKER_NICENESS = 10
_ENCODER_OPTIONS = {
    "preset": "ultrafast",
    "qp": "23",  # constant QP: rate control cost x264 ultrafast half its time here
    "threads": "1",  # the pool gives each core a segment
}


@dataclass(frozen=True)
class Picture:
    """An input image as raw RGB in a spool file that the worker processes read.

    Equal by the image's digest, not the file: a worker that prepared the picture for one
    video reuses it for the next video of the same image (new seeds of a known image)."""

    path: str = field(compare=False)
    width: int
    height: int
    digest: str

    @classmethod
    def spool(cls, image: Image.Image, digest: str) -> Picture:
        """Write the picture for the workers; the caller removes it when its video is made."""
        path = spool_dir() / f"{uuid.uuid4().hex}.rgb"
        path.write_bytes(image.convert("RGB").tobytes())
        return cls(str(path), image.width, image.height, digest)

    def remove(self) -> None:
        Path(self.path).unlink(missing_ok=True)


@dataclass(frozen=True)
class Segment:
    """What one second of a video shows: a framing and the anchors its pan joins."""

    framing: int
    start: int
    end: int


def start_worker() -> None:
    """Encoding is background work: the emulator's own process, which answers every
    request, goes first for the CPU. Workers end with the emulator, however it ends
    (even `kill -9`): an orphaned worker would wait forever on its queue."""
    os.nice(WORKER_NICENESS)
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def encode_segment(picture: Picture, size: tuple[int, int], fps: int, segment: Segment) -> bytes:
    """An MP4 holding `fps` frames of H.264 that start on a keyframe."""
    width, height = size
    y, u, v = _framed_planes(picture, size, segment.framing)
    room_x, room_y = y.shape[1] - width, y.shape[0] - height
    (x0, y0), (x1, y1) = ANCHORS[segment.start], ANCHORS[segment.end]
    output = io.BytesIO()
    with av.open(output, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options=_ENCODER_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        stream.codec_context.gop_size = fps
        for index in range(fps):
            progress = _ease(index / fps)
            left = _even((x0 + (x1 - x0) * progress) * room_x)
            top = _even((y0 + (y1 - y0) * progress) * room_y)
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, source, step in zip(frame.planes, (y, u, v), (1, 2, 2), strict=True):
                target = np.frombuffer(memoryview(plane), np.uint8).reshape(
                    plane.height, plane.line_size
                )
                row, column = top // step, left // step
                target[:, : plane.width] = source[
                    row : row + plane.height, column : column + plane.width
                ]
            frame.pts = index
            if index == 0:
                frame.pict_type = av.video.frame.PictureType.I
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return output.getvalue()


@lru_cache(maxsize=6)
def _framed_planes(
    picture: Picture, size: tuple[int, int], framing: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The picture cropped to the output's aspect, scaled to the framing's zoom, as YUV."""
    width, height = size
    zoom, centre = FRAMINGS[framing]
    image = _load(picture)
    aspect = width / height
    src_w, src_h = image.size
    crop_w, crop_h = (src_w, src_w / aspect) if src_w / src_h < aspect else (src_h * aspect, src_h)
    crop_w, crop_h = crop_w / (zoom / FRAMINGS[0][0]), crop_h / (zoom / FRAMINGS[0][0])
    left, top = (src_w - crop_w) * centre[0], (src_h - crop_h) * centre[1]
    region = image.crop((round(left), round(top), round(left + crop_w), round(top + crop_h)))
    region = region.resize((_even(width * zoom), _even(height * zoom)), Image.Resampling.BILINEAR)
    # PyAV's stub leaves from_image unannotated (listed in pyproject's [tool.mypy] notes).
    frame = av.VideoFrame.from_image(region).reformat(format="yuv420p")  # type: ignore[no-untyped-call]
    y, u, v = (
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        for plane in frame.planes
    )
    return y, u, v


@lru_cache(maxsize=2)
def _load(picture: Picture) -> Image.Image:
    raw = Path(picture.path).read_bytes()
    return Image.frombytes("RGB", (picture.width, picture.height), raw)


SPOOL_PREFIX = "wan26-pictures-"


@lru_cache(maxsize=1)
def spool_dir() -> Path:
    """This process's folder of pictures for the workers, removed at exit. A process
    killed with -9 cannot remove its own: the next one removes it."""
    _remove_orphaned_spools()
    folder = Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _remove_orphaned_spools() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{SPOOL_PREFIX}*-*"):
        pid = folder.name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def _even(value: float) -> int:
    return max(0, int(value // 2) * 2)
