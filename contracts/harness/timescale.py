"""Against the emulator a run asks it to answer at once (time scale 0) and puts the old
time scale back afterwards, whatever happens: a real-time emulator (~139 s per generation)
is then checked in seconds, and is left as the run found it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from wan26.contracts.harness.probes import Target

SETTINGS = "/_mock/settings"


@dataclass(frozen=True)
class TimeScaleChange:
    before: float | None  # the emulator's time scale before the run; None if not changed
    note: str  # what the report says about it


def answer_at_once(target: Target) -> TimeScaleChange:
    """Set the emulator's time scale to 0; an emulator without the setting runs as it is."""
    try:
        before = target.send("GET", SETTINGS, key=None, timeout=10)
        if before.status_code == 200:
            scale = float(before.json()["time_scale"])
            if scale == 0:
                return TimeScaleChange(None, "emulator time scale already 0")
            changed = target.send("PUT", SETTINGS, key=None, json={"time_scale": 0}, timeout=10)
            if changed.status_code == 200:
                return TimeScaleChange(scale, f"emulator time scale {scale:g} -> 0 for this run")
            before = changed
        why = f"HTTP {before.status_code} from {SETTINGS}"
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        why = f"{exc.__class__.__name__}: {exc}"
    return TimeScaleChange(None, f"emulator time scale left as it is ({why})")


def restore(target: Target, change: TimeScaleChange) -> str:
    if change.before is None:
        return change.note
    try:
        answer = target.send(
            "PUT", SETTINGS, key=None, json={"time_scale": change.before}, timeout=10
        )
        if answer.status_code == 200:
            return f"{change.note}; restored to {change.before:g}"
        why = f"HTTP {answer.status_code}"
    except httpx.HTTPError as exc:
        why = f"{exc.__class__.__name__}: {exc}"
    return f"{change.note}; NOT restored to {change.before:g} ({why})"
