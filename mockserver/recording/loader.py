"""Loading what the contract harness recorded from the live API, so the emulator's error
messages, extra headers and run times follow the real service's.

`recording:` is a cassette directory (`wan26-contracts run --live --record DIR`, or
`wan26-mock serve --record DIR`), or a JSON file of probes written by older versions
of the harness (messages only)."""

from __future__ import annotations

import json
from pathlib import Path

from wan26.contracts.core.cassette import Cassette
from wan26.mockserver.config import ConfigError
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.recording.learning import Learned, learn

# Which catalogue failure each free probe provokes. Validation messages name the
# field, so they stay the emulator's own.
PROBE_FAILURES = {
    "auth-missing": Forced.MISSING_KEY,
    "auth-invalid": Forced.INVALID_KEY,
    "unknown-model": Forced.NOT_FOUND,
    "content-type": Forced.INVALID_CONTENT_TYPE,
}


def load_recording(path: str | Path) -> Learned:
    """What a recording teaches: a cassette directory, or an old JSON file of probes."""
    if Path(path).is_dir():
        return learn(Cassette.open(path, create=False).exchanges)
    return Learned(messages=recorded_messages(path))


def recorded_messages(path: str | Path) -> dict[str, str]:
    try:
        observed = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read recording {path}: {exc}") from exc
    if not isinstance(observed, dict):
        raise ConfigError(f"recording {path} must be a JSON object of probes")
    messages: dict[str, str] = {}
    for probe, failure in PROBE_FAILURES.items():
        seen = observed.get(probe)
        if isinstance(seen, dict) and isinstance(seen.get("error"), str):
            messages[failure] = seen["error"].replace("{", "{{").replace("}", "}}")
    return messages
