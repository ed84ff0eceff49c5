"""The sound track: the given wav/mp3 (checked, cut or padded), or a generated sound bed."""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np

from wan26.mockserver.media.fetch import MediaError

SAMPLE_RATE = 48_000
# Calls without audio get one of this many sound beds (by seed), each encoded once.
SOUND_BEDS = 8
CHANNELS = 2
# PyAV's demuxer names for the contract's format names.
_DEMUXERS = {"wav": {"wav"}, "mp3": {"mp3"}}


def decode_audio(data: bytes, rules: dict[str, Any]) -> np.ndarray:
    """Planar float32 stereo at 48 kHz, shape (2, samples); `MediaError` when a rule is broken."""
    allowed = set().union(*(_DEMUXERS[name] for name in rules["formats"]))
    names = "/".join(rules["formats"])
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            demuxers = set(container.format.name.split(","))
            if not demuxers & allowed or not container.streams.audio:
                raise MediaError(f"Invalid audio: only {names} files are accepted")
            samples = _decode_all(container)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, IndexError):
        raise MediaError(f"Invalid audio: not a decodable {names} file") from None
    seconds = samples.shape[1] / SAMPLE_RATE
    low, high = rules["min_seconds"], rules["max_seconds"]
    if not low <= seconds <= high:
        raise MediaError(f"Invalid audio: {seconds:.2f} s long; it must be {low}-{high} s")
    return samples


def _decode_all(container: av.container.InputContainer) -> np.ndarray:
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
    parts = []
    for frame in container.decode(container.streams.audio[0]):
        parts.extend(out.to_ndarray() for out in resampler.resample(frame))
    parts.extend(out.to_ndarray() for out in resampler.resample(None))
    if not parts:
        return np.zeros((CHANNELS, 0), np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


def fit_to(samples: np.ndarray, duration_s: float) -> np.ndarray:
    """Cut to the first `duration_s` seconds, or pad the rest with silence."""
    wanted = round(duration_s * SAMPLE_RATE)
    if samples.shape[1] >= wanted:
        return np.ascontiguousarray(samples[:, :wanted])
    padded = np.zeros((CHANNELS, wanted), np.float32)
    padded[:, : samples.shape[1]] = samples
    return padded


def sound_bed(duration_s: float, seed: int) -> np.ndarray:
    """An ambient bed (soft chord over filtered noise), since the real model always adds sound."""
    rng = np.random.default_rng(seed)
    count = round(duration_s * SAMPLE_RATE)
    t = np.arange(count, dtype=np.float32) / SAMPLE_RATE
    root = float(rng.uniform(110.0, 220.0))
    chord = sum(
        np.sin(2 * np.pi * root * ratio * t + float(rng.uniform(0, 2 * np.pi)))
        for ratio in (1.0, 1.25, 1.5)
    )
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / float(rng.uniform(3.0, 7.0)))
    noise = rng.standard_normal((CHANNELS, count)).astype(np.float32)
    kernel = np.ones(32, np.float32) / 32
    noise = np.stack([np.convolve(channel, kernel, mode="same") for channel in noise])
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t if count else t) / 0.25)
    mono = (0.08 * chord * swell) * fade
    return (mono[None, :] + 0.05 * noise * fade).astype(np.float32)
