"""The `/_mock` control plane: journal, state, scenarios and chaos over HTTP.

Described in `mockserver/control-plane.yaml`. Off when `control.enabled` is
false; with `control.token` set every call needs `X-Mock-Token`; without a
token only loopback clients may call it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wan26.mockserver.access import is_loopback, mask
from wan26.mockserver.config import ConfigError
from wan26.mockserver.emulator import Emulator
from wan26.mockserver.errors import error_response
from wan26.mockserver.scenarios import (
    QueuedScenario,
    UnknownScenario,
    known_outcomes,
    parse_outcome,
)
from wan26.mockserver.state import Account

TOKEN_HEADER = "x-mock-token"
Handler = Callable[[Request], Awaitable[Response]]


class ControlError(ValueError):
    """A control request that cannot be carried out; answered as a 400."""


def guarded(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        control = _emulator(request).config.control
        if not control.enabled:
            return error_response(404, "Not Found")
        if control.token is not None:
            if request.headers.get(TOKEN_HEADER) != control.token:
                return error_response(401, "The control plane needs a valid X-Mock-Token header")
        elif not is_loopback(request.client.host if request.client else ""):
            return error_response(403, "The control plane answers loopback clients only")
        try:
            return await handler(request)
        except (ControlError, ConfigError, UnknownScenario) as exc:
            return error_response(400, str(exc))

    return endpoint


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def journal(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "DELETE":
        emulator.journal.clear()
        return JSONResponse({"cleared": True})
    query = request.query_params
    entries = emulator.journal.find(
        method=query.get("method"),
        path=query.get("path"),
        status=_int(query.get("status"), "status"),
        key=query.get("key"),
        outcome=query.get("outcome"),
        charged=_bool(query.get("charged")),
        limit=_int(query.get("limit"), "limit"),
    )
    return JSONResponse({"count": len(entries), "entries": entries})


async def state(request: Request) -> Response:
    emulator = _emulator(request)
    return JSONResponse(
        {
            "keys": [_account_view(a) for a in emulator.state.accounts.values()],
            "jobs": emulator.queue.counts(),
            "time_scale": emulator.config.time_scale,
        }
    )


async def key(request: Request) -> Response:
    emulator = _emulator(request)
    name = request.path_params["key"]
    if request.method == "DELETE":
        if emulator.state.accounts.pop(name, None) is None:
            return error_response(404, "No such key")
        return JSONResponse({"deleted": mask(name)})
    account = emulator.state.configure(name, await _json_object(request))
    return JSONResponse(_account_view(account))


async def reset(request: Request) -> Response:
    _emulator(request).reset()
    return JSONResponse({"reset": True})


async def scenarios(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "POST":
        spec = await _json_object(request)
        unknown = set(spec) - {"outcome", "times", "key", "path", "method"}
        if unknown:
            raise ControlError(f"unknown scenario field(s): {', '.join(sorted(unknown))}")
        outcome = parse_outcome(str(spec.get("outcome", "")))
        if outcome is None:
            raise ControlError("'success' needs no scenario")
        emulator.scenarios.queue(
            QueuedScenario(
                outcome=outcome,
                remaining=_int(spec.get("times", 1), "times") or 0,
                key=spec.get("key"),
                path=spec.get("path"),
                method=spec.get("method"),
            )
        )
    elif request.method == "DELETE":
        emulator.scenarios.clear()
    return JSONResponse(_scenarios_view(emulator))


async def chaos(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "PUT":
        spec = await _json_object(request)
        rates = spec.get("rates", {})
        if not isinstance(rates, dict):
            raise ControlError("'rates' must be an object of outcome: rate")
        try:
            parsed = {str(k): float(v) for k, v in rates.items()}
        except (TypeError, ValueError):
            raise ControlError("every chaos rate must be a number") from None
        emulator.scenarios.set_chaos(parsed, _int(spec.get("seed"), "seed"))
    elif request.method == "DELETE":
        emulator.scenarios.set_chaos({}, None)
    return JSONResponse(_scenarios_view(emulator))


async def settings(request: Request) -> Response:
    """Run-time settings. `time_scale` 0 makes generations answer at once: `wan26-contracts`
    sets it for a run against a real-time emulator and puts the old value back after."""
    emulator = _emulator(request)
    if request.method == "PUT":
        spec = await _json_object(request)
        unknown = set(spec) - {"time_scale"}
        if unknown:
            raise ControlError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if "time_scale" in spec:
            scale = spec["time_scale"]
            if isinstance(scale, bool) or not isinstance(scale, int | float):
                raise ControlError("'time_scale' must be a number >= 0")
            if not math.isfinite(scale) or scale < 0:
                raise ControlError("'time_scale' must be a finite number >= 0")
            emulator.config = emulator.config.replace(time_scale=float(scale))
            for model in emulator.models.values():  # calls admitted from now on
                model.latency.time_scale = float(scale)
    return JSONResponse({"time_scale": emulator.config.time_scale})


ROUTES = [
    Route("/_mock/health", guarded(health), methods=["GET"]),
    Route("/_mock/journal", guarded(journal), methods=["GET", "DELETE"]),
    Route("/_mock/state", guarded(state), methods=["GET"]),
    Route("/_mock/keys/{key}", guarded(key), methods=["PUT", "DELETE"]),
    Route("/_mock/reset", guarded(reset), methods=["POST"]),
    Route("/_mock/scenarios", guarded(scenarios), methods=["GET", "POST", "DELETE"]),
    Route("/_mock/chaos", guarded(chaos), methods=["GET", "PUT", "DELETE"]),
    Route("/_mock/settings", guarded(settings), methods=["GET", "PUT"]),
]


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator


def _account_view(account: Account) -> dict[str, Any]:
    return {
        "key": mask(account.key),
        "credits": round(account.credits, 6),
        "free_credits": round(account.free_credits, 6),
        "held": round(account.held, 6),
        "requests_per_minute": account.requests_per_minute,
        "models": account.models,
    }


def _scenarios_view(emulator: Emulator) -> dict[str, Any]:
    queued = [
        {
            "outcome": s.outcome.name,
            "times": s.remaining,
            "key": mask(s.key),
            "path": s.path,
            "method": s.method,
        }
        for s in emulator.scenarios.queued
    ]
    return {
        "queued": queued,
        "chaos": {"seed": emulator.scenarios.chaos_seed, "rates": emulator.scenarios.chaos_rates},
        "known": known_outcomes(),
    }


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ControlError(f"Invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"'{name}' must be a whole number") from None


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() in ("1", "true", "yes")
