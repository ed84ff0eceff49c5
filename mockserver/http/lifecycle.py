"""How an API call ends when it cannot be answered normally: a shutdown, or the client left.

Either way the call is cancelled where it waits, so `Emulator.run_v1` releases
its credit hold in its `finally` and nothing is charged: a call is charged only
together with the 200 it answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.responses import Response

from wan26.mockserver.core.in_flight import InFlight, ShuttingDown
from wan26.mockserver.http.answers import error_response
from wan26.mockserver.http.asgi import Receive

SHUTTING_DOWN = "The emulator is shutting down"
_T = TypeVar("_T")
# nginx's "client closed request": no client sees it, the journal records it.
CLIENT_GONE = 499


async def answer_in_flight(
    in_flight: InFlight, work: Callable[[], Awaitable[Response]]
) -> Response:
    """`work`'s answer, or a 503 if the server shuts down first.

    Only what may wait is run here (a cancel scope costs every call that enters one)."""
    try:
        return await unless_shutting_down(in_flight, work)
    except ShuttingDown:
        return shutting_down()


async def unless_shutting_down(in_flight: InFlight, work: Callable[[], Awaitable[_T]]) -> _T:
    """`work`'s result; `ShuttingDown` if the server shuts down first."""
    scope = in_flight.enter()
    with scope:
        try:
            return await work()
        finally:
            in_flight.leave(scope)
    raise ShuttingDown


def shutting_down() -> Response:
    return error_response(503, SHUTTING_DOWN, {"connection": "close"})


async def unless_client_leaves(
    receive: Receive, work: Callable[[], Awaitable[Response]]
) -> Response:
    """`work`'s answer, or, if the client closes the connection first, `work` cancelled.

    Call it only once the request body has been read: it listens for `http.disconnect`.
    An exception `work` raises (a `Refusal`, say) is raised as it is, not in a group.
    """
    answer: Response | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        try:
            answer = await work()
        except Exception as exc:  # raised again below, outside the group
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return client_gone() if answer is None else answer


def client_gone() -> Response:
    return error_response(CLIENT_GONE, "The client closed the connection before the answer")
