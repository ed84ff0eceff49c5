"""Waiting on a v2 job: what `on_progress` is told, and how often to poll."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# A job that is done in 50 ms is seen done after this long, not after a full interval.
FIRST_POLL_S = 0.25
# Each wait is this much longer than the one before, up to the client's `poll_interval_s`.
POLL_GROWTH = 1.6


@dataclass(frozen=True)
class Progress:
    """What one status poll said about a job; the single argument of `on_progress`.

    - `request_id`: the job's id.
    - `state`: "QUEUED", "PROCESSING", "COMPLETED" or "FAILED".
    - `elapsed_s`: seconds since the job was submitted, by this process's clock.
    - `polls`: status answers seen so far in this `wait()`.
    - `queue_position`: the job's place in the queue when the status answer
      carries a `queue_position` number; neither Segmind's documentation nor the
      emulator promises one, so it is usually None.
    """

    request_id: str
    state: str
    elapsed_s: float
    polls: int
    queue_position: int | None = None


OnProgress = Callable[[Progress], None]
"""The type of `on_progress`: called with a `Progress` after every status poll."""


def poll_delays(cap_s: float, fixed_s: float | None = None) -> Iterator[float]:
    """The waits between polls: `fixed_s` every time when given, else short first and
    growing geometrically to `cap_s`, so fast jobs are seen done at once and slow ones
    cost few requests."""
    if fixed_s is not None:
        yield from itertools.repeat(fixed_s)
    delay = min(FIRST_POLL_S, cap_s)
    while True:
        yield delay
        delay = min(cap_s, delay * POLL_GROWTH)


def queue_position(body: dict[str, Any]) -> int | None:
    position = body.get("queue_position")
    return position if isinstance(position, int) and not isinstance(position, bool) else None
