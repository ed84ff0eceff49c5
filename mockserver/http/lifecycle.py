"""How an API call ends when it cannot be answered normally: a shutdown, or the client left.

Either way the call is cancelled where it waits, so `Emulator.run_v1` releases
its credit hold in its `finally` and nothing is charged: a call is charged only
together with the 200 it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive

from wan26.mockserver.core.errors import error_response

logger = logging.getLogger("wan26.mockserver")
SHUTTING_DOWN = "The emulator is shutting down"
# nginx's "client closed request": no client sees it, the journal records it.
CLIENT_GONE = 499


class InFlight:
    """The API calls being answered; on shutdown every one answers a 503 at once."""

    def __init__(self) -> None:
        self.closing = False
        self._scopes: set[anyio.CancelScope] = set()

    @property
    def count(self) -> int:
        return len(self._scopes)

    def close(self) -> None:
        """Called as the server begins to shut down, before it waits for the calls to end."""
        self.closing = True
        if self._scopes:
            logger.warning(
                "shutting down: %d call(s) in flight answered 503, not charged", self.count
            )
        for scope in self._scopes:
            scope.cancel()

    async def answer(self, work: Callable[[], Awaitable[Response]]) -> Response:
        with anyio.CancelScope() as scope:
            if self.closing:
                scope.cancel()
            self._scopes.add(scope)
            try:
                return await work()
            except ClientDisconnect:
                return client_gone()
            finally:
                self._scopes.discard(scope)
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
