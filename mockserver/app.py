"""The ASGI app: the route table and the thin handlers that hand requests to the emulator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mockserver.config import Config, load_config
from mockserver.contract import Contract, default_contract
from mockserver.emulator import Emulator
from mockserver.errors import CATALOGUE, error_response
from mockserver.scenarios import UnknownScenario, forced_failure

logger = logging.getLogger("mockserver")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(config: Config | None = None, contract: Contract | None = None) -> Starlette:
    emulator = Emulator(config or load_config(), contract or default_contract())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await emulator.aclose()

    app = Starlette(
        routes=[
            Route("/v1/get-user-credits", user_credits, methods=ALL_METHODS),
            Route("/v1/{slug}", model_v1, methods=ALL_METHODS),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


async def model_v1(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    slug = request.path_params["slug"]
    body = await request.body()
    try:
        forced = forced_failure(request.headers)
    except UnknownScenario as exc:
        return error_response(400, str(exc))
    if forced is not None:
        return await emulator.forced(forced, slug, request.headers, body)
    return await emulator.call_model(slug, request.method, request.headers, body)


async def user_credits(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    try:
        forced = forced_failure(request.headers)
    except UnknownScenario as exc:
        return error_response(400, str(exc))
    if forced is not None:
        return await emulator.forced(forced, "get-user-credits", request.headers, b"")
    account, refusal = emulator.authenticate(request.headers)
    if refusal is not None:
        return refusal
    if request.method != "GET":
        return emulator.messages.response("method-not-allowed")
    return JSONResponse(
        {"credits": round(account.credits, 6), "free-credits": round(account.free_credits, 6)}
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail)


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, CATALOGUE["server-error"].message)
