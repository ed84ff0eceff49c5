"""Getting input media bytes from a URL or a data URI, the way a careful server would.

Streaming with a size cap, a total deadline, no automatic redirects (each hop is
parsed, resolved, checked against the address policy and pinned anew), and a
client that keeps no connection alive: connections are pooled by IP, and a
TLS connection verified for one host name must not carry another's request.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ssl
from urllib.parse import urljoin

import anyio
import httpx

from wan26.mockserver.media.errors import MediaError, Unreachable
from wan26.mockserver.media.target import parse_target, pin, pinned_request

MAX_REDIRECTS = 3


def fetch_client(timeout_s: float) -> httpx.AsyncClient:
    """The client `fetch_url` expects: no proxies from the environment, no kept connections."""
    return httpx.AsyncClient(
        timeout=timeout_s,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        verify=_tls_context(),
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One for the process: loading the CA bundle costs ~5 ms, and every app makes a client."""
    return httpx.create_ssl_context(trust_env=False)


def decode_data_uri(uri: str, field: str, max_bytes: int) -> bytes:
    """The bytes of a base64 data URI whose declared type is of the field's kind (`image/…`
    for `image`) or `application/octet-stream`; no whitespace is skipped."""
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise MediaError(f"Invalid {field}: data URI must be base64-encoded")
    declared = header.removeprefix("data:").partition(";")[0].lower()
    if not declared.startswith(f"{field}/") and declared != "application/octet-stream":
        raise MediaError(
            f"Invalid {field}: data URI declares type {declared or 'none'}; "
            f"expected {field}/<subtype>"
        )
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise MediaError(f"Invalid {field}: larger than {_megabytes(max_bytes)}")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError(f"Invalid {field}: data URI is not valid base64") from None
    if len(data) > max_bytes:
        raise MediaError(f"Invalid {field}: larger than {_megabytes(max_bytes)}")
    return data


async def fetch_url(
    client: httpx.AsyncClient,
    url: str,
    *,
    field: str,
    max_bytes: int,
    timeout_s: float,
    allow_private: bool,
) -> bytes:
    try:
        with anyio.fail_after(timeout_s):
            for _ in range(MAX_REDIRECTS + 1):
                target = parse_target(url, field)
                address = await pin(target, field, allow_private)
                request = pinned_request(target, address)
                async with client.stream("GET", follow_redirects=False, **request) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = _next_hop(url, response.headers["location"], field)
                        continue
                    if response.status_code != 200:
                        raise MediaError(
                            f"Could not fetch {field} from URL: HTTP {response.status_code}"
                        )
                    return await _read_capped(response, field, max_bytes)
            raise MediaError(f"Could not fetch {field} from URL: too many redirects")
    except TimeoutError:
        raise Unreachable(f"{field} URL timed out after {timeout_s:g} s") from None
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise Unreachable(f"{field} URL could not be reached: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise MediaError(f"Could not fetch {field} from URL: {exc}") from None


def _next_hop(url: str, location: str, field: str) -> str:
    try:
        return urljoin(url, location)
    except ValueError:
        raise MediaError(f"Could not fetch {field} from URL: a malformed redirect") from None


async def _read_capped(response: httpx.Response, field: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise MediaError(f"Invalid {field}: larger than {_megabytes(max_bytes)}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise MediaError(f"Invalid {field}: larger than {_megabytes(max_bytes)}")
        chunks.append(chunk)
    return b"".join(chunks)


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):g} MB"
