"""What every emulator app in a process shares: the expensive things that never change.

A test suite makes an app per test. Validators built from a contract's schemas, the
encoded segments of an image, the encoded sound tracks and the images already seen as
data URIs depend only on their inputs,
so each is built once per process and every app reuses it; what an app changes
(accounts, journal, jobs, scenarios, its own render cache and its counts) stays its own.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

from wan26.contracts.core.validation import RequestValidator
from wan26.mockserver.media.cache import RenderCache
from wan26.mockserver.media.known import KnownImages
from wan26.mockserver.media.render import SegmentLibrary

SOUND_CACHE_BYTES = 64 * 1024 * 1024
VALIDATORS_KEPT = 16  # a few contracts per process (the default, drifted ones, the control plane)

_validators: OrderedDict[int, tuple[dict[str, Any], RequestValidator]] = OrderedDict()
_validators_lock = threading.Lock()


def validator_for(schema: dict[str, Any]) -> RequestValidator:
    """The validator of this schema object (a contract's schemas are never changed once
    loaded). The schema is kept with it, so its id cannot be reused while cached."""
    with _validators_lock:
        kept = _validators.get(id(schema))
        if kept is not None and kept[0] is schema:
            _validators.move_to_end(id(schema))
            return kept[1]
    validator = RequestValidator(schema)
    with _validators_lock:
        _validators[id(schema)] = (schema, validator)
        while len(_validators) > VALIDATORS_KEPT:
            _validators.popitem(last=False)
    return validator


@functools.cache
def segment_library(max_bytes: int, processes: int) -> SegmentLibrary:
    """Encoded segments by image digest, size and segment, for every app of these settings."""
    return SegmentLibrary(max_bytes, processes)


@functools.cache
def sound_cache() -> RenderCache:
    """Encoded sound tracks by content (a bed and duration, or the given audio's digest)."""
    return RenderCache(SOUND_CACHE_BYTES)


@functools.cache
def known_images() -> KnownImages:
    """Images sent as data URIs, by a hash of the URI's text (see `media/known.py`)."""
    return KnownImages()
