"""Who may see what: keys are masked in every output, the control plane is loopback-only
unless a token guards it.

A key is shown as a short hash, so two keys never look alike and none can be
rebuilt from what is printed. Only the documented default key, which is public,
is shown whole.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import overload
from urllib.parse import urlsplit, urlunsplit

# The emulator's documented key: public, so it is the one key shown whole.
DEFAULT_API_KEY = "wan26-mock-key"
# Headers whose values are secrets: masked wherever a request is shown or kept.
SECRET_HEADERS = frozenset({"x-api-key", "x-mock-token", "authorization"})
PUBLIC_KEYS = frozenset({DEFAULT_API_KEY})
# A key in a control-plane path (`/_mock/keys/<key>`) or a query (`?key=`, `token=`).
_SECRET_IN_URL = re.compile(r"(/_mock/keys/|[?&](?:key|api_key|token)=)([^/?&#\s\"]+)")


FINGERPRINT = re.compile(r"key#[0-9a-f]{10}")


def fingerprint(secret: str) -> str:
    """A stable short name for a secret: `key#` and 10 hex digits of its SHA-256."""
    return "key#" + hashlib.sha256(secret.encode()).hexdigest()[:10]


@overload
def mask(secret: str) -> str: ...
@overload
def mask(secret: None) -> None: ...
def mask(secret: str | None) -> str | None:
    if not secret or secret in PUBLIC_KEYS or FINGERPRINT.fullmatch(secret):
        return secret  # masking a masked key leaves it as it is
    return fingerprint(secret)


def mask_url(text: str) -> str:
    """Mask the keys inside a request line or URL."""
    return _SECRET_IN_URL.sub(lambda m: m.group(1) + (mask(m.group(2)) or ""), text)


def without_credentials(url: str) -> str:
    """A service URL fit to print: no user, password or query (which may hold a password)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class MaskSecretsFilter(logging.Filter):
    """Masks keys in log records (uvicorn's access log puts the path in `args`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_url(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = mask_url(record.msg)
        return True


def is_loopback(host: str) -> bool:
    """A loopback address or name ("testclient" is Starlette's TestClient)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Place:
    """Where a request says it goes (its Host) or comes from (its Origin)."""

    host: str
    port: int | None
    scheme: str | None = None

    @classmethod
    def parse(cls, text: str, scheme: str | None = None) -> Place:
        """`host`, `host:port` or `scheme://host[:port]`; a ValueError if it is none."""
        if "://" not in text:
            text = f"//{text}"
        parts = urlsplit(text)
        if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
            raise ValueError(f"not a host, host:port or scheme://host:port: {text.lstrip('/')!r}")
        scheme = parts.scheme or scheme
        port = parts.port or (DEFAULT_PORTS.get(scheme) if scheme else None)
        return cls(parts.hostname.rstrip("."), port, scheme)

    def admits(self, other: Place) -> bool:
        """An allowed host admits a request's Host of that name (and port, if it names one)."""
        return self.host == other.host and self.port in (None, other.port)
