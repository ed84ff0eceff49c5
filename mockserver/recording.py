"""Loading what the contract harness recorded from the live API, so the emulator's error
messages follow the real service's (`wan26-contracts run --live --record FILE`)."""

from __future__ import annotations

import json
from pathlib import Path

from wan26.mockserver.config import ConfigError
from wan26.mockserver.outcomes import Forced

# Which catalogue failure each free probe provokes. Validation messages name the
# field, so they stay the emulator's own.
PROBE_FAILURES = {
    "auth-missing": Forced.MISSING_KEY,
    "auth-invalid": Forced.INVALID_KEY,
    "unknown-model": Forced.NOT_FOUND,
    "content-type": Forced.INVALID_CONTENT_TYPE,
}


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
