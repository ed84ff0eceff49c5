"""The `/_mock` control plane: journal, state, scenarios and chaos over HTTP.

Described in `mockserver/control-plane.yaml`. Off when `control.enabled` is
false; with `control.token` set every call needs `X-Mock-Token`; without a
token only loopback clients may call it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wan26.mockserver.access import is_loopback, mask
from wan26.mockserver.billing import as_json
from wan26.mockserver.config import ConfigError
from wan26.mockserver.contract import control_plane_contract
from wan26.mockserver.emulator import Emulator
from wan26.mockserver.errors import error_response, method_not_allowed_json
from wan26.mockserver.routing import AnyMethodRoute
from wan26.mockserver.scenarios import (
    QueuedScenario,
    UnknownScenario,
    known_outcomes,
    parse_outcome,
)
from wan26.mockserver.state import Account
from wan26.mockserver.validation import RequestInvalid, RequestValidator

TOKEN_HEADER = "x-mock-token"
MAX_BODY_BYTES = 64 * 1024  # control bodies are a few fields
Handler = Callable[[Request], Awaitable[Response]]


class ControlError(ValueError):
    """A control request that cannot be carried out; answered as a 400."""


def guarded(handler: Handler, methods: list[str]) -> Handler:
    """Off, token or loopback first, then the method (a JSON 405 naming the allowed ones)."""
    allowed = [*methods, "HEAD"] if "GET" in methods else methods

    async def endpoint(request: Request) -> Response:
        control = _emulator(request).config.control
        if not control.enabled:
            return error_response(404, "Not Found")
        if control.token is not None:
            if request.headers.get(TOKEN_HEADER) != control.token:
                return error_response(401, "The control plane needs a valid X-Mock-Token header")
        elif not is_loopback(request.client.host if request.client else ""):
            return error_response(403, "The control plane answers loopback clients only")
        if request.method not in allowed:
            return method_not_allowed_json(allowed)
        try:
            return await handler(request)
        except (ControlError, ConfigError, UnknownScenario, RequestInvalid) as exc:
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
        limit=_limit(query.get("limit")),
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
    account = emulator.state.configure(name, await _body(request, "/_mock/keys/{key}"))
    return JSONResponse(_account_view(account))


async def reset(request: Request) -> Response:
    _emulator(request).reset()
    return JSONResponse({"reset": True})


async def scenarios(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "POST":
        spec = await _body(request, "/_mock/scenarios")
        outcome = parse_outcome(spec["outcome"])
        if outcome is None:
            raise ControlError("'success' needs no scenario")
        emulator.scenarios.queue(
            QueuedScenario(
                outcome=outcome,
                remaining=spec["times"],
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
        spec = await _body(request, "/_mock/chaos")
        rates = {name: float(rate) for name, rate in spec.get("rates", {}).items()}
        emulator.scenarios.set_chaos(rates, spec.get("seed"))
    elif request.method == "DELETE":
        emulator.scenarios.set_chaos({}, None)
    return JSONResponse(_scenarios_view(emulator))


# Every method reaches the guard, so a wrong one is judged after the token, like the API's.
ROUTES = [
    AnyMethodRoute("/_mock/health", guarded(health, ["GET"])),
    AnyMethodRoute("/_mock/journal", guarded(journal, ["GET", "DELETE"])),
    AnyMethodRoute("/_mock/state", guarded(state, ["GET"])),
    AnyMethodRoute("/_mock/keys/{key}", guarded(key, ["PUT", "DELETE"])),
    AnyMethodRoute("/_mock/reset", guarded(reset, ["POST"])),
    AnyMethodRoute("/_mock/scenarios", guarded(scenarios, ["GET", "POST", "DELETE"])),
    AnyMethodRoute("/_mock/chaos", guarded(chaos, ["GET", "PUT", "DELETE"])),
]
# The control plane's own spec: its bodies are checked by the API's validator.
_VALIDATORS = {
    path: RequestValidator(control_plane_contract().request_schema(path, method))
    for path, method in [
        ("/_mock/keys/{key}", "put"),
        ("/_mock/scenarios", "post"),
        ("/_mock/chaos", "put"),
    ]
}


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator


def _account_view(account: Account) -> dict[str, Any]:
    return {
        "key": mask(account.key),
        "credits": as_json(account.credits),
        "free_credits": as_json(account.free_credits),
        "held": as_json(account.held),
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


async def _body(request: Request, path: str) -> dict[str, Any]:
    """The body checked against `control-plane.yaml` (an empty body is `{}`), defaults filled."""
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BODY_BYTES:
            raise ControlError(f"Request body too large: at most {MAX_BODY_BYTES} bytes")
    return _VALIDATORS[path].parse(bytes(raw) or b"{}")


def _int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"'{name}' must be a whole number") from None


def _limit(value: str | None) -> int | None:
    limit = _int(value, "limit")
    if limit is not None and limit < 1:
        raise ControlError("'limit' must be at least 1")
    return limit


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() in ("1", "true", "yes")
