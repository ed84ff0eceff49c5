"""Forced outcomes: which requests fail, and how, so tests reach every path deterministically.

Three sources, checked in this order for every API request:
1. the request's own `X-Mock-Scenario: <name>[; param=value]` or Prism-style
   `Prefer: code=<status>` header;
2. scenarios queued through the control plane for the next N matching requests;
3. seeded chaos: a rate per outcome, the same seed giving the same sequence.

An outcome is an HTTP failure from the error catalogue, a network fault
(the connection misbehaves after the request was processed), or a v2 job
outcome (the queued job fails or hangs).
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

from wan26.mockserver.core.errors import BY_STATUS, CATALOGUE
from wan26.mockserver.core.outcomes import JOB_OUTCOMES, NETWORK_FAULTS, Forced
from wan26.mockserver.core.records import DEFAULT_JOB_FAILURE as DEFAULT_JOB_FAILURE
from wan26.mockserver.core.records import Chaos
from wan26.mockserver.core.records import Outcome as Outcome
from wan26.mockserver.core.records import QueuedScenario as QueuedScenario

if TYPE_CHECKING:
    from wan26.mockserver.store.base import Store

SCENARIO_HEADER = "x-mock-scenario"
SUCCESS = "success"
MAX_FORCED_SECONDS = 3600  # a forced slow body or gateway timeout never holds longer


class UnknownScenario(ValueError):
    """A scenario that does not exist; the message lists the ones there are."""


def known_outcomes() -> dict[str, str]:
    """Every outcome name with a one-line description, for errors and the control plane."""
    described: dict[str, str] = {SUCCESS: "the normal path"}
    described |= {name: f"{f.status}: {f.summary}" for name, f in CATALOGUE.items()}
    return described | NETWORK_FAULTS | JOB_OUTCOMES


class _OutcomeOptions(TypedDict, total=False):
    seconds: float
    message: str


def parse_outcome(text: str) -> Outcome | None:
    """`name` or `name; key=value; ...`; None for `success`."""
    name, *options = (part.strip() for part in text.split(";"))
    name = name.lower()
    if name == SUCCESS:
        return None
    if name not in known_outcomes():
        raise UnknownScenario(
            f"Unknown X-Mock-Scenario {name!r}; known scenarios: {', '.join(known_outcomes())}"
        )
    fields: _OutcomeOptions = {}
    for option in options:
        key, _, value = option.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "seconds":
            try:
                seconds = float(value)
            except ValueError:
                seconds = math.nan
            if not 0 <= seconds <= MAX_FORCED_SECONDS:
                raise UnknownScenario(
                    f"X-Mock-Scenario seconds={value!r} must be a number of seconds "
                    f"from 0 to {MAX_FORCED_SECONDS}"
                )
            fields["seconds"] = seconds
        elif key == "message":
            fields["message"] = value
        elif key:
            raise UnknownScenario(f"X-Mock-Scenario has no option {key!r}; use seconds or message")
    return Outcome(Forced(name), **fields)


def outcome_from_headers(headers: Mapping[str, str]) -> tuple[bool, Outcome | None]:
    """Whether the request asks for an outcome, and which (None: the normal path)."""
    text = headers.get(SCENARIO_HEADER)
    if text is not None:
        return True, parse_outcome(text)
    prefer = headers.get("prefer")
    code = _preferred_code(prefer) if prefer else None
    if code is None:
        return False, None
    if 200 <= code < 300:
        return True, None
    if code not in BY_STATUS:
        codes = ", ".join(str(c) for c in sorted({200, *BY_STATUS}))
        raise UnknownScenario(f"Prefer: code={code} is not an outcome this API has; use {codes}")
    return True, Outcome(BY_STATUS[code])


def _preferred_code(prefer: str) -> int | None:
    for part in prefer.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "code":
            value = value.strip().strip('"')
            if not value.isdigit():
                raise UnknownScenario(f"Prefer: code={value!r} is not a status code")
            return int(value)
    return None


class Scenarios:
    """Forced outcomes as every request meets them: its own header first, then the store's
    queued scenarios and chaos. Chaos draws from this process's generator, seeded as the
    chaos says (several processes each draw the same seeded sequence)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._chaos = Chaos()
        self._chaos_rng = random.Random()

    async def decide(self, headers: Mapping[str, str], method: str, path: str) -> Outcome | None:
        asked, outcome = outcome_from_headers(headers)
        if asked:
            return outcome
        outcome, chaos = await self.store.scenarios.take(method, path, headers.get("x-api-key"))
        if outcome is not None:
            return outcome
        return self._draw(chaos)

    async def queue(self, scenario: QueuedScenario) -> None:
        if scenario.remaining < 1:
            raise UnknownScenario("times must be at least 1")
        await self.store.scenarios.add(scenario)

    async def set_chaos(self, rates: dict[str, float], seed: int | None) -> None:
        for name, rate in rates.items():
            if name not in known_outcomes() or name == SUCCESS:
                raise UnknownScenario(f"Unknown chaos outcome {name!r}")
            if not 0.0 <= rate <= 1.0:
                raise UnknownScenario(f"Chaos rate for {name!r} must be within 0..1")
        if sum(rates.values()) > 1.0:
            raise UnknownScenario("Chaos rates add up to more than 1")
        await self.store.scenarios.set_chaos(
            Chaos(dict(sorted(rates.items())), seed, secrets.token_hex(4))
        )

    def _draw(self, chaos: Chaos) -> Outcome | None:
        if not chaos.rates:
            return None
        if chaos != self._chaos:  # new chaos: its seed starts the sequence again
            self._chaos, self._chaos_rng = chaos, random.Random(chaos.seed)
        draw = self._chaos_rng.random()
        for name, rate in chaos.rates.items():
            if draw < rate:
                return Outcome(Forced(name))
            draw -= rate
        return None
