"""Routes that take every HTTP method, so a wrong one is judged after the same checks as a
right one (key or token first) and answered with one 405 carrying `Allow`."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route


class AnyMethodRoute(Route):
    """Starlette answers a wrong method itself, before the handler and without `Allow`;
    this route matches every method (made-up ones too) and leaves the 405 to the handler."""

    def __init__(self, path: str, endpoint: Any, *, name: str | None = None) -> None:
        super().__init__(path, endpoint, name=name)
        self.methods = None
