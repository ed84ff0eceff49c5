"""What the control plane refuses because a web page, not the user, may have sent it.

A page on another site can send a "simple" request (a `text/plain` POST, no preflight)
to the emulator on the user's machine, and DNS rebinding lets it read the answers under
a name of its own that points at 127.0.0.1. So a `/_mock` request is refused if it names
a Host that is neither a loopback name nor an allowed one, comes from another origin
(`Origin`, `Sec-Fetch-Site`), or carries a body that is not JSON. Tools (curl, httpx, the
pytest plugin) send no `Origin`, and the dashboard is the emulator's own origin.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from wan26.contracts.core.access import Place

BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Refused(Exception):
    """A request the control plane will not take; `status` is its HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check(method: str, scheme: str, headers: Mapping[str, str], allowed: Sequence[str]) -> None:
    """Raise `Refused` for a request to `/_mock` a web page may have made (`headers` looked
    up without regard to case, as Starlette's are)."""
    places = [Place.parse(entry) for entry in allowed]
    host_header = headers.get("host")
    try:
        target = Place.parse(host_header, scheme) if host_header else None
    except ValueError:
        target = None
    if host_header is not None and (
        target is None
        or not (is_loopback_name(target.host) or any(p.admits(target) for p in places))
    ):
        raise Refused(
            403,
            f"The control plane answers only requests for a loopback name or a host in "
            f"control.allowed_hosts, not Host {host_header!r}",
        )
    origin = headers.get("origin")
    if origin is not None:
        own = [p for p in places if p.scheme] + ([target] if target else [])
        try:
            source = Place.parse(origin)
        except ValueError:
            source = None
        if source is None or not any(source == p for p in own):
            raise Refused(403, f"The control plane refuses requests from another origin ({origin})")
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site == "cross-site" and headers.get("sec-fetch-mode") != "navigate":
        raise Refused(403, "The control plane refuses requests from another site")
    if method not in BODYLESS_METHODS and _has_body(headers):
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise Refused(415, "A control request's body must be JSON (application/json)")


def is_loopback_name(host: str) -> bool:
    """A name only this machine answers to: `localhost` and its subdomains (RFC 6761;
    browsers never ask DNS for them), an address in 127.0.0.0/8 or ::1."""
    host = host.lower().strip("[]").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_body(headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length", "")
    return "transfer-encoding" in headers or (length != "" and length != "0")
