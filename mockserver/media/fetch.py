"""Getting input media bytes from a URL or a data URI, the way a careful server would.

Streaming with a size cap, a total deadline, no automatic redirects (each hop is
checked), and no private, loopback or link-local targets unless allowed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 3


class MediaError(Exception):
    """The input cannot be used; the message is what the client sees in a 400."""


class Unreachable(Exception):
    """The host could not be reached at all (no DNS, no route, no answer)."""


def decode_data_uri(uri: str, field: str, max_bytes: int) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise MediaError(f"Invalid {field}: data URI must be base64-encoded")
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise MediaError(f"Invalid {field}: larger than {_megabytes(max_bytes)}")
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
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
        async with asyncio.timeout(timeout_s):
            for _ in range(MAX_REDIRECTS + 1):
                await _check_target(url, field, allow_private)
                async with client.stream("GET", url, follow_redirects=False) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
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
    except httpx.HTTPError as exc:
        raise MediaError(f"Could not fetch {field} from URL: {exc}") from None


async def _check_target(url: str, field: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError(f"Invalid {field}: only http(s) URLs and data URIs are accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise MediaError(f"Invalid {field}: bad port in URL") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise Unreachable(f"{field} host {parts.hostname!r} could not be resolved: {exc}") from None
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise MediaError(
                f"Invalid {field}: URL host {parts.hostname} resolves to a private, loopback "
                f"or link-local address ({address}), which is not fetched"
            )


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
