"""The API's middleware on the API's requests only, decided by one look at the path.

The journal, learned headers, the cassette and drift concern API calls; the control
plane (`/_mock`) and the lifespan pass through none of them, rather than through each
one checking the path again.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/_mock"


class ApiOnly:
    """The app wrapped in `api` layers for API requests and in `control` layers for the
    control plane's; each list outermost first, like Starlette's `middleware=`."""

    def __init__(
        self, app: ASGIApp, api: Sequence[Middleware], control: Sequence[Middleware]
    ) -> None:
        self.app = app
        self.api = _wrapped(app, api)
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
