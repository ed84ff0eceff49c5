"""The `/_mock` control plane: journal, state, scenarios and chaos over HTTP.

Described in `mockserver/control/control-plane.yaml`. Off when `control.enabled` is
false; with `control.token` set every call needs `X-Mock-Token`; without a
token only loopback clients may call it. Whatever the token, what a web page may
have sent is refused (see `browsers.py`). `/_mock/health` answers anyone, always.

A sub-application mounted at `/_mock` (`MOUNT`, named "control"): one guard
(`ControlGuard`) in front of its named routes, each of which declares its methods
and whether it needs the token (`ControlRoute`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount

from wan26.contracts.core.access import FINGERPRINT, fingerprint, is_loopback, mask
from wan26.contracts.core.money import as_json
from wan26.contracts.core.spec import load_contract
from wan26.contracts.core.validation import RequestInvalid, RequestValidator
from wan26.mockserver.config import ConfigError
from wan26.mockserver.control import browsers, dashboard
from wan26.mockserver.control.report import build_report
from wan26.mockserver.core.accounts import Account, changed_account
from wan26.mockserver.core.emulator import BodyTooLarge, Emulator
from wan26.mockserver.core.jobs import Job, JobState
from wan26.mockserver.core.scenarios import (
    QueuedScenario,
    UnknownScenario,
    known_outcomes,
    parse_outcome,
)
from wan26.mockserver.http.answers import error_response, method_not_allowed_json
from wan26.mockserver.http.asgi import ASGIApp, Receive, Scope, Send
from wan26.mockserver.http.journal import JournalEntry, find_entries
from wan26.mockserver.http.routing import AnyMethodRoute, capped_body
from wan26.mockserver.http.safety import answering_errors

PREFIX = "/_mock"
TOKEN_HEADER = "x-mock-token"
MAX_BODY_BYTES = 64 * 1024  # control bodies are a few fields
STATS_MINUTES = 15  # of calls per minute in `/_mock/stats`
Handler = Callable[[Request], Awaitable[Response]]


class ControlError(ValueError):
    """A control request that cannot be carried out; answered as a 400."""


class ControlRoute(AnyMethodRoute):
    """A control route: named, with the methods it takes and whether it needs the token.

    Every method reaches the guard, so a wrong one is judged after the token, like the API's.
    `token_needed=False` is for the dashboard's static files and its player's videos: a
    browser cannot send a header when it opens a page or a `<video>`, the files hold no
    data (the page's fetches send the token) and the videos are public at `/outputs`.
    `public=True` is for the health probe: it tells nothing and changes nothing, so it
    answers every client under every name, even with the control plane off (a container's
    probe calls it on the container's address, with no token).
    """

    def __init__(
        self,
        path: str,
        endpoint: Handler,
        methods: list[str],
        *,
        name: str,
        token_needed: bool = True,
        public: bool = False,
    ) -> None:
        super().__init__(path, endpoint, name=name)
        self.allowed = [*methods, "HEAD"] if "GET" in methods else methods
        self.token_needed = token_needed
        self.public = public


class ControlGuard:
    """The control plane's one guard, in front of its routes: off, token or loopback
    first, then the method (a JSON 405 naming the allowed ones); a control request that
    cannot be carried out is a 400. A path no control route matches goes on to the
    router's 404, as any unknown path does."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [route for route in routes if isinstance(route, ControlRoute)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        refusal = _refusal(Request(scope), route)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        def bad_request(exc: Exception) -> Response | None:
            refused = (ControlError, ConfigError, UnknownScenario, RequestInvalid)
            return error_response(400, str(exc)) if isinstance(exc, refused) else None

        await answering_errors(self.app, scope, receive, send, bad_request)

    def _route(self, scope: Scope) -> ControlRoute | None:
        return next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)


def _refusal(request: Request, route: ControlRoute) -> Response | None:
    control = _emulator(request).config.control
    if route.public:
        return None if request.method in route.allowed else method_not_allowed_json(route.allowed)
    if not control.enabled:
        return error_response(404, "Not Found")
    try:
        browsers.check(request.method, request.url.scheme, request.headers, control.allowed_hosts)
    except browsers.Refused as refused:
        return error_response(refused.status, str(refused))
    if control.token is not None:
        if route.token_needed and request.headers.get(TOKEN_HEADER) != control.token:
            return error_response(401, "The control plane needs a valid X-Mock-Token header")
    elif not is_loopback(request.client.host if request.client else ""):
        return error_response(403, "The control plane answers loopback clients only")
    if request.method not in route.allowed:
        return method_not_allowed_json(route.allowed)
    return None


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def journal(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "DELETE":
        await emulator.store.journal.clear()
        return JSONResponse({"cleared": True})
    query = request.query_params
    entries = find_entries(
        await emulator.store.journal.entries(),
        method=query.get("method"),
        path=query.get("path"),
        status=_int(query.get("status"), "status"),
        key=query.get("key"),
        outcome=query.get("outcome"),
        charged=_bool(query.get("charged")),
        limit=_limit(query.get("limit")),
        entry_id=_int(query.get("id"), "id"),
    )
    jobs = {job.journal_id: job for job in await emulator.store.jobs.all() if job.journal_id}
    for entry in entries:
        job = jobs.get(entry["id"])
        entry["job"] = None if job is None else _job_link(request, job)
        render = entry.pop("render", None)
        entry["video"] = dashboard.render_link(request, render) if render else None
    return JSONResponse({"count": len(entries), "entries": entries})


async def state(request: Request) -> Response:
    emulator = _emulator(request)
    return JSONResponse(
        {
            "keys": [_account_view(emulator, a) for a in await emulator.store.accounts.all()],
            "jobs": await _job_counts(emulator),
            "time_scale": emulator.config.time_scale,
        }
    )


async def key(request: Request) -> Response:
    emulator = _emulator(request)
    name = await _key_named(emulator, request.path_params["key"])
    if name is None:
        return error_response(404, "No key has that fingerprint")
    if request.method == "DELETE":
        if not await emulator.store.accounts.remove(name):
            return error_response(404, "No such key")
        return JSONResponse({"deleted": mask(name)})
    changes = await _body(request, "/_mock/keys/{key}")
    current = await emulator.store.accounts.get(name)
    account = await emulator.store.accounts.put(
        changed_account(current, name, changes, emulator.contract.plans)
    )
    return JSONResponse(_account_view(emulator, account))


async def reset(request: Request) -> Response:
    await _emulator(request).reset()
    return JSONResponse({"reset": True})


async def scenarios(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "POST":
        spec = await _body(request, "/_mock/scenarios")
        outcome = parse_outcome(spec["outcome"])
        if outcome is None:
            raise ControlError("'success' needs no scenario")
        await emulator.scenarios.queue(
            QueuedScenario(
                outcome=outcome,
                remaining=spec["times"],
                key=spec.get("key"),
                path=spec.get("path"),
                method=spec.get("method"),
            )
        )
    elif request.method == "DELETE":
        await emulator.store.scenarios.clear()
    return JSONResponse(await _scenarios_view(emulator))


async def chaos(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "PUT":
        spec = await _body(request, "/_mock/chaos")
        rates = {name: float(rate) for name, rate in spec.get("rates", {}).items()}
        await emulator.scenarios.set_chaos(rates, spec.get("seed"))
    elif request.method == "DELETE":
        await emulator.scenarios.set_chaos({}, None)
    return JSONResponse(await _scenarios_view(emulator))


async def jobs(request: Request) -> Response:
    """Every v2 job, newest first, with its queue position and progress for the dashboard."""
    emulator = _emulator(request)
    await emulator.expire_jobs()
    waiting = 0
    views = []
    now = time.time()
    for job in await emulator.store.jobs.all():
        waiting += job.state is JobState.QUEUED
        position = waiting if job.state is JobState.QUEUED else None
        views.append(_job_view(request, now, job, position))
    views.reverse()
    return JSONResponse({"count": len(views), "jobs": views})


async def stats(request: Request) -> Response:
    """Run-time figures from the journal and the render caches, counted only when asked."""
    emulator = _emulator(request)
    now = time.time()
    this_minute = int(now // 60)
    per_minute: dict[int, Counter[str]] = {this_minute - i: Counter() for i in range(STATS_MINUTES)}
    spent = Decimal(0)
    entries = await emulator.store.journal.entries()
    for entry in entries:
        spent += Decimal(str(entry.charged_usd))
        bucket = per_minute.get(int(entry.at // 60))
        if bucket is not None:
            status = entry.status
            bucket[f"{status // 100}xx" if status else "pending"] += 1
    caches = [model.generator.cache for model in emulator.models.values()]
    return JSONResponse(
        {
            "time_scale": emulator.config.time_scale,
            "cassette": _cassette_view(emulator, entries),
            "calls": len(entries),
            "spent_usd": as_json(spent),
            "per_minute": [
                {"minute": _iso(minute * 60), **per_minute[minute]} for minute in sorted(per_minute)
            ],
            "render_cache": {
                "hits": sum(c.hits for c in caches),
                "misses": sum(c.misses for c in caches),
            },
            "jobs": await _job_counts(emulator),
        }
    )


async def report(request: Request) -> Response:
    """The integration report over the journal (see report.py), for `?key=` or every key."""
    emulator = _emulator(request)
    built = build_report(
        await emulator.store.journal.entries(),
        emulator.config.report,
        request.query_params.get("key"),
    )
    return JSONResponse(built.as_json())


async def _job_counts(emulator: Emulator) -> dict[str, int]:
    counts = {state.value: 0 for state in JobState}
    for job in await emulator.store.jobs.all():
        counts[job.state.value] += 1
    return counts


def _cassette_view(emulator: Emulator, entries: list[JournalEntry]) -> dict[str, Any] | None:
    """The record/replay mode and how the journal's calls fared against the cassette."""
    mode = emulator.config.cassette.mode
    if mode == "off":
        return None
    tally = Counter(entry.cassette for entry in entries)
    return {"mode": mode, "calls": {kind: tally[kind] for kind in ("hit", "recorded", "miss")}}


def _job_link(request: Request, job: Job) -> dict[str, Any]:
    output = str(request.url_for("output", name=job.output)) if job.output else None
    video = dashboard.video_link(request, job.output) if job.output else None
    return {
        "id": job.id,
        "state": job.state.value,
        "output": output,
        "video": video,
        "error": job.error,
    }


def _job_view(request: Request, now: float, job: Job, position: int | None) -> dict[str, Any]:
    progress: float | None = 0.0
    if job.finished:
        progress = 1.0
    elif job.state is JobState.PROCESSING and job.started_at is not None:
        wall = job.run.wall_s
        progress = min(0.99, (now - job.started_at) / wall) if wall > 0 else None

    def wall_clock(at: float | None) -> str | None:
        return None if at is None else _iso(at)

    return {
        **_job_link(request, job),
        "key": mask(job.key),
        "journal_id": job.journal_id,
        "submitted_at": wall_clock(job.submitted_at),
        "started_at": wall_clock(job.started_at),
        "finished_at": wall_clock(job.finished_at),
        "run_s": job.run.wall_s,
        "emulated_s": job.run.emulated_s,
        "progress": progress,
        "queue_position": position,
        "duration": job.params.get("duration"),
        "resolution": job.params.get("resolution"),
        "cost_usd": as_json(job.cost),
    }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


async def _key_named(emulator: Emulator, name: str) -> str | None:
    """A key by itself, or an existing key by its fingerprint (`key#` and 10 hex digits),
    which is how the dashboard addresses keys it only sees masked."""
    if not FINGERPRINT.fullmatch(name):
        return name
    keys = [account.key for account in await emulator.store.accounts.all()]
    return next((k for k in keys if fingerprint(k) == name), None)


async def settings(request: Request) -> Response:
    """Run-time settings. `time_scale` 0 makes generations answer at once: `wan26-contracts`
    sets it for a run against a real-time emulator and puts the old value back after."""
    emulator = _emulator(request)
    if request.method == "PUT":
        spec = await _body(request, "/_mock/settings")
        if "time_scale" in spec:
            scale = float(spec["time_scale"])
            emulator.config = emulator.config.replace(time_scale=scale)
            for model in emulator.models.values():  # calls admitted from now on
                model.latency.time_scale = scale
    return JSONResponse({"time_scale": emulator.config.time_scale})


ROUTES = [
    ControlRoute("/health", health, ["GET"], name="health", public=True),
    ControlRoute("/journal", journal, ["GET", "DELETE"], name="journal"),
    ControlRoute("/state", state, ["GET"], name="state"),
    ControlRoute("/keys/{key}", key, ["PUT", "DELETE"], name="key"),
    ControlRoute("/reset", reset, ["POST"], name="reset"),
    ControlRoute("/scenarios", scenarios, ["GET", "POST", "DELETE"], name="scenarios"),
    ControlRoute("/chaos", chaos, ["GET", "PUT", "DELETE"], name="chaos"),
    ControlRoute("/settings", settings, ["GET", "PUT"], name="settings"),
    ControlRoute("/jobs", jobs, ["GET"], name="jobs"),
    ControlRoute("/stats", stats, ["GET"], name="stats"),
    ControlRoute("/report", report, ["GET"], name="report"),
    # The dashboard's files and videos: no token (see `ControlRoute`).
    ControlRoute("/ui", dashboard.page, ["GET"], name="ui", token_needed=False),
    ControlRoute("/ui/{name}", dashboard.asset, ["GET"], name="ui_asset", token_needed=False),
    ControlRoute("/ui/video/{name}", dashboard.video, ["GET"], name="ui_video", token_needed=False),
]
MOUNT = Mount(PREFIX, routes=ROUTES, name="control", middleware=[Middleware(ControlGuard, ROUTES)])
# The control plane's own spec, shipped beside this module: its bodies are checked by the
# API's validator.
SPEC_PATH = Path(str(resources.files(__package__ or "").joinpath("control-plane.yaml")))
_SPEC = load_contract(SPEC_PATH)
_VALIDATORS = {
    path: RequestValidator(_SPEC.request_schema(path, method))
    for path, method in [
        ("/_mock/keys/{key}", "put"),
        ("/_mock/scenarios", "post"),
        ("/_mock/chaos", "put"),
        ("/_mock/settings", "put"),
    ]
}


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


def _account_view(emulator: Emulator, account: Account) -> dict[str, Any]:
    since = emulator.clock() - account.window_start
    window_open = since < emulator.config.rate_limit_window_s
    return {
        "id": fingerprint(account.key),
        "key": mask(account.key),
        "credits": as_json(account.credits),
        "free_credits": as_json(account.free_credits),
        "held": as_json(account.held),
        "requests_per_minute": account.requests_per_minute,
        "models": account.models,
        "requests_this_window": account.window_count if window_open else 0,
    }


async def _scenarios_view(emulator: Emulator) -> dict[str, Any]:
    queued = [
        {
            "outcome": s.outcome.name,
            "times": s.remaining,
            "key": mask(s.key),
            "path": s.path,
            "method": s.method,
        }
        for s in await emulator.store.scenarios.all()
    ]
    chaos = await emulator.store.scenarios.chaos()
    return {
        "queued": queued,
        "chaos": {"seed": chaos.seed, "rates": chaos.rates},
        "known": known_outcomes(),
    }


async def _body(request: Request, path: str) -> dict[str, Any]:
    """The body checked against `control-plane.yaml` (an empty body is `{}`), defaults filled."""
    try:
        raw = await capped_body(request, request.headers, MAX_BODY_BYTES)
    except BodyTooLarge:
        raise ControlError(f"Request body too large: at most {MAX_BODY_BYTES} bytes") from None
    return _VALIDATORS[path].parse(raw or b"{}")


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
