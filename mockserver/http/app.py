"""The ASGI app: the route table and the thin handlers that hand requests to the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response

from wan26.contracts.core.matching import call_fingerprint
from wan26.contracts.core.money import as_json
from wan26.contracts.core.spec import Contract, default_contract
from wan26.mockserver.config import Config, load_config
from wan26.mockserver.control import plane as control
from wan26.mockserver.core.drift import drifted_contract
from wan26.mockserver.core.emulator import (
    READ_METHODS,
    WORKERS_STOPPED,
    Admitted,
    BodyTooLarge,
    Emulator,
)
from wan26.mockserver.core.errors import CATALOGUE, Refusal, method_not_allowed
from wan26.mockserver.core.in_flight import ShuttingDown
from wan26.mockserver.core.jobs import JobState
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.core.scenarios import Outcome, UnknownScenario
from wan26.mockserver.http.answers import answer_response, error_response, refusal_response
from wan26.mockserver.http.asgi import ASGIApp, Receive, Scope, Send
from wan26.mockserver.http.drift import DriftMiddleware
from wan26.mockserver.http.faults import FaultyResponse
from wan26.mockserver.http.journal import JournalEntry, JournalMiddleware, entry_of
from wan26.mockserver.http.lifecycle import (
    answer_in_flight,
    client_gone,
    shutting_down,
    unless_client_leaves,
)
from wan26.mockserver.http.routing import AnyMethodRoute, Headers, capped_body, header_map
from wan26.mockserver.http.safety import CatchAllMiddleware
from wan26.mockserver.recording.front import CassetteFront
from wan26.mockserver.recording.middleware import CassetteMiddleware, LearnedHeadersMiddleware

RESET_AT_HEADER = "x-rate-limit-reset-at-utc"
Handler = Callable[[Request, Emulator, Headers, Outcome | None], Awaitable[Response]]


def create_app(config: Config | None = None, contract: Contract | None = None) -> Starlette:
    config = config or load_config()
    emulator = Emulator(config, drifted_contract(contract or default_contract(), config.drift))
    # The journal outermost, so it sees every answer; the catch-all answers an error of
    # any layer inside it. The control plane has only the catch-all.
    api_layers = [
        Middleware(
            JournalMiddleware,
            store=emulator.store,
            entry_bytes=config.control.journal_entry_bytes,
        ),
        Middleware(CatchAllMiddleware),
    ]
    front = None
    if config.cassette.mode != "off" or config.recording:
        # A recording teaches its answers' extra headers: known only with one.
        api_layers.append(Middleware(LearnedHeadersMiddleware, emulator=emulator))
    if config.cassette.mode != "off":
        front = CassetteFront(config.cassette, emulator)  # a bad cassette fails here
        api_layers.append(
            Middleware(CassetteMiddleware, front=front, max_body_bytes=config.max_body_bytes)
        )
    if config.drift.rewrites_answers:
        api_layers.append(
            Middleware(DriftMiddleware, drift=config.drift, store_output=emulator.store.outputs.put)
        )
    middleware = [Middleware(ApiOnly, api=api_layers, control=[Middleware(CatchAllMiddleware)])]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """The store opened, and the workers (and a recording cassette's recorders) running
        in a task group, while the app serves."""
        await emulator.start()
        try:
            async with anyio.create_task_group() as group:
                await group.start(emulator.serve)
                if front is not None:
                    await group.start(front.run)
                yield
                group.cancel_scope.cancel()
        finally:
            if front is not None:
                await front.aclose()
            await emulator.aclose()

    app = Starlette(
        # Every route takes every method: a wrong one is answered by the handler, after the
        # same checks as a right one (key, then model), as an HTML 405 with `Allow`.
        routes=[
            # Model calls right after the one fixed path they could be mistaken for: a
            # request is matched against the routes in order, and they are the hot ones.
            AnyMethodRoute("/v1/get-user-credits", api(emulator, user_credits), name="credits"),
            AnyMethodRoute("/v1/{slug}", api(emulator, model_call(queued=False)), name="v1_model"),
            AnyMethodRoute("/v2/{slug}", api(emulator, model_call(queued=True)), name="v2_model"),
            AnyMethodRoute(
                "/v1/requests/{request_id}", api(emulator, job_answer(full=True)), name="poll"
            ),
            AnyMethodRoute(
                "/v2/requests/{request_id}/status",
                api(emulator, job_answer(full=False)),
                name="job_status",
            ),
            AnyMethodRoute(
                "/v2/requests/{request_id}", api(emulator, job_answer(full=True)), name="job_result"
            ),
            AnyMethodRoute("/outputs/{name}", api(emulator, output_file), name="output"),
            control.MOUNT,
        ],
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    # An unknown path is answered by the router itself, inside the API's layers (the
    # journal, the cassette's tag, drift), as Starlette's exception layer used to.
    app.router.default = unknown_path
    app.state.emulator = emulator
    return app


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[Starlette]:
    """The app with its lifespan entered, for use in process without a server (httpx's
    `ASGITransport` runs no lifespan): without it, v2 jobs have no worker to take them."""
    async with app.router.lifespan_context(app):
        yield app


def api(emulator: Emulator, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Every API route: decide the forced outcome, answer a forced failure, apply a fault.

    The one place a `Refusal` the emulator raises becomes its HTTP answer. Once the server
    shuts down, a call answers a 503 at once; so does one still waiting then (a forced
    outcome's, or a v1 video's: see `model_call`).
    """

    async def endpoint(request: Request) -> Response:
        if emulator.in_flight.closing:
            return shutting_down()
        await emulator.start()
        headers, path = header_map(request.scope), request.scope["path"]
        try:
            outcome = await emulator.scenarios.decide(headers, request.method, path)
        except UnknownScenario as exc:
            return error_response(400, str(exc))
        try:
            if outcome is None:
                return await respond(request, headers, None)
            return await answer_in_flight(
                emulator.in_flight, lambda: respond(request, headers, outcome)
            )
        except ClientDisconnect:
            return client_gone()
        except ShuttingDown:  # while its body was still coming
            return shutting_down()

    async def respond(request: Request, headers: Headers, outcome: Outcome | None) -> Response:
        entry = entry_of(request.scope)
        if outcome is not None and entry is not None:
            entry.outcome = outcome.name
        try:
            if outcome is not None and outcome.is_failure:
                slug = request.path_params.get("slug", "")
                try:
                    body = await capped_body(request, headers, emulator.config.max_body_bytes)
                except BodyTooLarge:
                    body = b""
                await emulator.forced(outcome, slug, headers, body)
            response = await handler(request, emulator, headers, outcome)
        except Refusal as refusal:
            if entry is not None:
                entry.failure = refusal.name
                entry.reset_at = (refusal.headers or {}).get(RESET_AT_HEADER)
            response = refusal_response(emulator.messages, refusal)
        if outcome is not None and outcome.is_network:
            seconds = 5.0 if outcome.seconds is None else outcome.seconds
            return FaultyResponse(outcome.name, response, seconds)
        return response

    return endpoint


def model_call(queued: bool) -> Handler:
    """`POST /v1/<slug>` answers with the video; `POST /v2/<slug>` queues a job."""

    async def handler(
        request: Request, emulator: Emulator, headers: Headers, outcome: Outcome | None
    ) -> Response:
        if queued and not emulator.workers.running:
            return error_response(503, WORKERS_STOPPED)
        job_id = emulator.request_id() if queued else None
        call = await emulator.admit(
            request.path_params["slug"],
            request.method,
            headers,
            lambda: capped_body(
                request, headers, emulator.config.max_body_bytes, emulator.in_flight
            ),
            owner=emulator.job_owner(job_id) if job_id else None,
        )
        entry = entry_of(request.scope)
        if entry is not None:
            entry.admitted(
                entry.cassette_fingerprint or await fingerprint_of(request, headers, call.params),
                as_json(call.cost),
            )
        if job_id:
            job = await emulator.submit_v2(job_id, call, outcome, entry)
            return JSONResponse(
                {
                    "request_id": job.id,
                    "status": JobState.QUEUED.value,
                    "poll_url": str(request.url_for("poll", request_id=job.id)),
                    "status_url": str(request.url_for("job_status", request_id=job.id)),
                    "response_url": str(request.url_for("job_result", request_id=job.id)),
                }
            )
        # Only now may the call wait (its render, its latency): a shutdown answers it 503.
        return await answer_in_flight(
            emulator.in_flight,
            lambda: unless_client_leaves(
                request.receive, lambda: video_answer(emulator, call, outcome, entry)
            ),
        )

    return handler


async def video_answer(
    emulator: Emulator, call: Admitted, outcome: Outcome | None, entry: JournalEntry | None
) -> Response:
    return answer_response(await emulator.run_v1(call, outcome, entry))


async def fingerprint_of(request: Request, headers: Headers, params: dict[str, Any]) -> str:
    """An admitted call's fingerprint, for the report. Media sent as data URIs are hashed
    (up to 25 MB) in a worker thread, off the event loop."""
    call = (
        request.method,
        request.url.path,
        request.url.query,
        headers.get("content-type"),
        params,
    )
    if any(isinstance(value, str) and value.startswith("data:") for value in params.values()):
        return await anyio.to_thread.run_sync(call_fingerprint, *call)
    return call_fingerprint(*call)


def job_answer(full: bool) -> Handler:
    """`GET /v2/requests/{id}/status` (full=False) and `GET /v2/requests/{id}`."""

    async def handler(
        request: Request, emulator: Emulator, headers: Headers, outcome: Outcome | None
    ) -> Response:
        answer = await emulator.job_response(
            request.path_params["request_id"],
            request.method,
            headers,
            lambda name: output_url(request, name),
            full=full,
            entry=entry_of(request.scope),
        )
        return answer_response(answer)

    return handler


def output_url(request: Request, name: str) -> str:
    """The public URL of a finished job's file."""
    return str(request.url_for("output", name=name))


async def output_file(
    request: Request, emulator: Emulator, headers: Headers, outcome: Outcome | None
) -> Response:
    """The MP4 of a finished job, like the real service's file URL: no key needed, Range works."""
    if request.method not in READ_METHODS:
        raise method_not_allowed(READ_METHODS)
    path = await emulator.store.outputs.path(request.path_params["name"])
    if path is None:
        return error_response(404, "Output not found or expired")
    if outcome is not None and outcome.is_network:
        return Response(path.read_bytes(), media_type="video/mp4")
    return FileResponse(path, media_type="video/mp4")


async def user_credits(
    request: Request, emulator: Emulator, headers: Headers, outcome: Outcome | None
) -> Response:
    account = await emulator.authenticate(headers)
    if request.method not in READ_METHODS:
        raise method_not_allowed(READ_METHODS)
    return JSONResponse(
        {"credits": as_json(account.credits), "free-credits": as_json(account.free_credits)}
    )


async def unknown_path(scope: Scope, receive: Receive, send: Send) -> None:
    await error_response(404, "Not Found")(scope, receive, send)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """The last resort, should `CatchAllMiddleware` or the journal itself fail: still JSON."""
    return error_response(500, CATALOGUE[Forced.SERVER_ERROR].message)


# The API's middleware on the API's requests only, decided by one look at the path: the
# journal, learned headers, the cassette and drift concern API calls; the control plane
# (`/_mock`) and the lifespan pass through none of them.
CONTROL_PREFIX = "/_mock"


class ApiOnly:
    """The app wrapped in `api` layers for API requests and in `control` layers for the
    control plane's; each list outermost first, like Starlette's `middleware=`.

    API requests skip Starlette's `ExceptionMiddleware` (this layer's `app`) and go to its
    router: their catch-all answers every exception in the API's shape, so a second
    handler per request would only cost time."""

    def __init__(
        self, app: ASGIApp, api: Sequence[Middleware], control: Sequence[Middleware]
    ) -> None:
        self.app = app
        router = app.app if isinstance(app, ExceptionMiddleware) else app
        self.api = _wrapped(router, api)
        self.control = _wrapped(app, control)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"].startswith(CONTROL_PREFIX):
            await self.control(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def _wrapped(app: ASGIApp, layers: Sequence[Middleware]) -> ASGIApp:
    for cls, args, kwargs in reversed(layers):
        app = cls(app, *args, **kwargs)
    return app
