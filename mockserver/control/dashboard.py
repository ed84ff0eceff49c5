"""The dashboard's static files, served from the package: no CDN, no build step.

The page reads everything else from the `/_mock` JSON routes, so it costs nothing
while nobody has it open. A `<video>` cannot send the control token, so the files
and the videos are served like the public `/outputs` (see `control.ControlRoute`).
"""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from wan26.mockserver.http.answers import error_response

RENDER_PREFIX = "render-"
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# Everything the page loads comes from the emulator itself; videos from /outputs. No
# page may frame it (a click on a framed page would steer the emulator for another site).
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "media-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}


async def page(request: Request) -> Response:
    return _file("index.html")


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return error_response(404, "Not Found")
    return _file(name)


async def video(request: Request) -> Response:
    """A job's MP4 for the page's player, under `/_mock` so watching it is not journaled
    as an API call (`/outputs/{name}` is the same file, and public, as the real one is).
    A v1 call's video (`render-<key>.mp4`) is read from the render cache while it is
    there: v1 answers are not stored, so showing them costs the API path nothing."""
    emulator = request.app.state.emulator
    name = request.path_params["name"]
    if name.startswith(RENDER_PREFIX) and name.endswith(".mp4"):
        key = name[len(RENDER_PREFIX) : -len(".mp4")]
        for model in emulator.models.values():
            data = model.generator.cache.peek(key)
            if data is not None:
                return Response(data, media_type="video/mp4", headers={"cache-control": "no-cache"})
        return error_response(404, "That video is no longer in the render cache")
    path = await emulator.store.outputs.path(name)
    if path is None:
        return error_response(404, "Output not found or expired")
    return FileResponse(path, media_type="video/mp4")


def video_link(request: Request, name: str) -> str:
    """The player's path to a video (relative: the page is on the same origin)."""
    return str(request.app.url_path_for("control:ui_video", name=name))


def render_link(request: Request, key: str) -> str:
    return video_link(request, f"{RENDER_PREFIX}{key}.mp4")


def _file(name: str) -> Response:
    data = files("wan26.mockserver.control").joinpath("ui", name).read_bytes()
    return Response(data, media_type=ASSETS[name], headers=HEADERS)
