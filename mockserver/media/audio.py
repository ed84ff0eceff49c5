"""The sound track: the given wav/mp3 (checked, cut or padded), or a generated sound bed."""

from __future__ import annotations

import io
import itertools
from typing import Any

import av
import numpy as np

from wan26.mockserver.media.errors import MediaError

SAMPLE_RATE = 48_000
# Calls without audio get one of this many sound beds (by seed), each encoded once.
SOUND_BEDS = 4
CHANNELS = 2
# The emulator's own sanity limits (the contract's x-media says nothing of them):
# no real recording is outside them, and they bound what the resampler makes
# of one input frame (at 1 Hz, one sample would become 48,000).
MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_CHANNELS = 8
# PyAV's demuxer names for the contract's format names.
_DEMUXERS = {"wav": {"wav"}, "mp3": {"mp3"}}


def decode_audio(data: bytes, rules: dict[str, Any]) -> np.ndarray:
    """Planar float32 stereo at 48 kHz, shape (2, samples); `MediaError` when a rule is broken.

    The header is checked before anything is decoded, and decoding streams
    frames through the resampler into one array sized for the longest allowed
    sound, so neither a header that lies nor an absurd rate can blow up memory.
    """
    allowed = set().union(*(_DEMUXERS[name] for name in rules["formats"]))
    names = "/".join(rules["formats"])
    low, high = rules["min_seconds"], rules["max_seconds"]
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            demuxers = set(container.format.name.split(","))
            if not demuxers & allowed or not container.streams.audio:
                raise MediaError(f"Invalid audio: only {names} files are accepted")
            stream = container.streams.audio[0]
            _check_header(stream, container.duration, low, high)
            samples = _decode_capped(container, stream, high)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, IndexError):
        raise MediaError(f"Invalid audio: not a decodable {names} file") from None
    _check_seconds(samples.shape[1] / SAMPLE_RATE, low, high)
    return samples


def _check_header(
    stream: av.audio.stream.AudioStream, duration_us: int | None, low: float, high: float
) -> None:
    rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
    if not MIN_RATE <= rate <= MAX_RATE:
        raise MediaError(
            f"Invalid audio: sample rate {rate} Hz; it must be {MIN_RATE}-{MAX_RATE} Hz"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise MediaError(f"Invalid audio: {channels} channels; it must be 1-{MAX_CHANNELS}")
    if duration_us is not None:
        _check_seconds(duration_us / av.time_base, low, high)


def _check_seconds(seconds: float, low: float, high: float) -> None:
    if not low <= seconds <= high:
        raise MediaError(f"Invalid audio: {seconds:.2f} s long; it must be {low}-{high} s")


def _decode_capped(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, high: float
) -> np.ndarray:
    """Resampled frame by frame into a buffer for `high` seconds; more is refused at once."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
    buffer = np.zeros((CHANNELS, round(high * SAMPLE_RATE)), np.float32)
    filled = 0
    for frame in itertools.chain(container.decode(stream), [None]):
        for out in resampler.resample(frame):
            if filled + out.samples > buffer.shape[1]:
                raise MediaError(
                    f"Invalid audio: longer than {high} s; it must be at most {high} s"
                )
            buffer[:, filled : filled + out.samples] = out.to_ndarray()
            filled += out.samples
    return buffer[:, :filled]


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
