"""What an emulator learns from a cassette for the calls it has to emulate.

- Messages: the real service's words for the failures whose message does not
  depend on the call (no key, a refused key, an unknown model, a body that is
  not JSON) replace the catalogue's guesses.
- Extra headers: an `x-` header that every recording of a kind of answer
  carries (a kind is the route, v1 / v2 / poll / credits / other, and the
  status) is added to the emulated answers of that kind that lack it. Per-call
  headers (ids, cost, seed, run time, balance) are never learned.
- Run times: with at least `MIN_RUN_TIMES` recorded generations of one duration
  and resolution (v1 `x-generation-time`, v2 PROCESSING to the end), their
  median and lognormal spread replace the latency model's for that pair.

The config's `messages` and `latency.median_s` still win.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wan26.mockserver.matching import MODEL_CALL, POLL
from wan26.mockserver.outcomes import Forced

MIN_RUN_TIMES = 3
CREDITS_PATH = "/v1/get-user-credits"
PER_CALL_HEADERS = frozenset(
    {
        "x-request-id",
        "x-cost",
        "x-remaining-credits",
        "x-generation-time",
        "x-seed-value",
        "x-output-metadata",
    }
)
CASSETTE_TAG = "x-mock-cassette"


@dataclass(frozen=True)
class RunTimeFit:
    """A lognormal fitted to recorded run times: its median and sigma, from `count` runs."""

    median_s: float
    sigma: float
    count: int


RunTimes = dict[tuple[float, str], RunTimeFit]


@dataclass(frozen=True)
class Learned:
    messages: dict[str, str] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> name -> value
    run_times: dict[str, RunTimes] = field(default_factory=dict)  # model slug -> fits

    def under(self, stronger: Learned) -> Learned:
        """These lessons with `stronger`'s taking precedence."""
        kinds = set(self.headers) | set(stronger.headers)
        slugs = set(self.run_times) | set(stronger.run_times)
        return Learned(
            {**self.messages, **stronger.messages},
            {k: {**self.headers.get(k, {}), **stronger.headers.get(k, {})} for k in kinds},
            {s: {**self.run_times.get(s, {}), **stronger.run_times.get(s, {})} for s in slugs},
        )


def learn(exchanges: list[dict[str, Any]]) -> Learned:
    return Learned(
        learned_messages(exchanges), learned_headers(exchanges), learned_run_times(exchanges)
    )


def learned_messages(exchanges: list[dict[str, Any]]) -> dict[str, str]:
    """Catalogue overrides, by failure name, from the recorded error answers."""
    learned: dict[str, str] = {}
    for exchange in exchanges:
        request, response = exchange["request"], exchange["response"]
        body = response.get("json")
        name = _failure(request, response["status"])
        if name and isinstance(body, dict) and isinstance(body.get("error"), str):
            learned[name] = body["error"].replace("{", "{{").replace("}", "}}")
    return learned


def kind_of(method: str, path: str, status: int) -> str:
    """The kind of an answer, for extra headers: the route family and the status."""
    match = MODEL_CALL.match(path)
    if path == CREDITS_PATH:
        family = "credits"
    elif POLL.match(path):
        family = "poll"
    elif match and method == "POST":
        family = f"v{match[1]}"
    else:
        family = "other"
    return f"{family} {status}"


def learned_headers(exchanges: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The `x-` headers every recording of a kind carries, with their commonest value."""
    by_kind: dict[str, list[dict[str, str]]] = {}
    for exchange in exchanges:
        request, response = exchange["request"], exchange["response"]
        kind = kind_of(request["method"], request["path"], response["status"])
        by_kind.setdefault(kind, []).append(response["headers"])
    learned: dict[str, dict[str, str]] = {}
    for kind, recorded in by_kind.items():
        names = set.intersection(*(set(headers) for headers in recorded))
        extras = {
            name: Counter(headers[name] for headers in recorded).most_common(1)[0][0]
            for name in sorted(names)
            if name.startswith("x-")
            and name not in PER_CALL_HEADERS
            and not name.startswith("x-mock-")
        }
        if extras:
            learned[kind] = extras
    return learned


def learned_run_times(exchanges: list[dict[str, Any]]) -> dict[str, RunTimes]:
    """Per model and duration x resolution, with at least MIN_RUN_TIMES recorded runs."""
    samples: dict[str, dict[tuple[float, str], list[float]]] = {}
    for exchange in exchanges:
        request = exchange["request"]
        match = MODEL_CALL.match(request["path"])
        body = request["body"]
        if match is None or request["method"] != "POST" or not isinstance(body, dict):
            continue
        seconds = _run_time(match[1], exchange)
        duration, resolution = body.get("duration"), body.get("resolution")
        if seconds is None or not isinstance(duration, int | float) or resolution is None:
            continue
        pair = (float(duration), str(resolution))
        samples.setdefault(match[2], {}).setdefault(pair, []).append(seconds)
    fits: dict[str, RunTimes] = {}
    for slug, pairs in samples.items():
        for pair, runs in pairs.items():
            if len(runs) >= MIN_RUN_TIMES:
                logs = [math.log(run) for run in runs]
                fit = RunTimeFit(statistics.median(runs), statistics.stdev(logs), len(runs))
                fits.setdefault(slug, {})[pair] = fit
    return fits


def _run_time(version: str, exchange: dict[str, Any]) -> float | None:
    response = exchange["response"]
    if response["status"] != 200:
        return None
    if version == "1":
        try:
            seconds = float(response["headers"].get("x-generation-time", "").rstrip("s"))
        except ValueError:
            return None
        return seconds if seconds > 0 else None
    job = exchange.get("job")
    if job is None or job["states"][-1]["status"] != "COMPLETED":
        return None
    states = job["states"]
    start = next((s["at_s"] for s in states if s["status"] == "PROCESSING"), states[0]["at_s"])
    seconds = float(states[-1]["at_s"] - start)
    return seconds if seconds > 0 else None


def _failure(request: dict[str, Any], status: int) -> str | None:
    if status == 401:
        return Forced.MISSING_KEY if request["auth"] == "absent" else Forced.INVALID_KEY
    if status == 406 and request["content_type"] != "application/json":
        return Forced.INVALID_CONTENT_TYPE
    if status == 404 and request["method"] == "POST" and MODEL_CALL.match(request["path"]):
        return Forced.NOT_FOUND
    return None


class LearnedHeadersMiddleware:
    """Adds the learned extra headers to emulated answers (never to a cassette's hits);
    API requests only (see `ApiOnly`)."""

    def __init__(self, app: ASGIApp, emulator: Any) -> None:
        self.app = app
        self.emulator = emulator  # its `learned` is read per call: a replay front sets it later

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        learned: dict[str, dict[str, str]] = self.emulator.learned.headers
        if not learned:
            await self.app(scope, receive, send)
            return

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get(CASSETTE_TAG) != "hit":
                    kind = kind_of(scope["method"], path, message["status"])
                    for name, value in learned.get(kind, {}).items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, add)
