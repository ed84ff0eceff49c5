"""The API calls being answered, so a shutdown can cancel every one where it waits.

A cancelled call releases its credit hold in `Emulator.run_v1`'s `finally`: a call is
charged only together with the 200 it answers. The HTTP layer answers it a 503
(`http.lifecycle`).
"""

from __future__ import annotations

import logging

import anyio

logger = logging.getLogger("wan26.mockserver")


class ShuttingDown(Exception):
    """A call's wait was ended by the server shutting down: it answers a 503."""


class InFlight:
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

    def enter(self) -> anyio.CancelScope:
        """A new call's scope (enter it), cancelled at once if the server is closing."""
        scope = anyio.CancelScope()
        if self.closing:
            scope.cancel()
        self._scopes.add(scope)
        return scope

    def leave(self, scope: anyio.CancelScope) -> None:
        self._scopes.discard(scope)
