"""Where a media URL points: parsed once by one strict parser, resolved once, pinned.

Parsers disagree on hosts such as `0100.0.0.1` (octal to inet_aton, an error
to httpx), `2130706433` or `0x7f.1`; a host whose last label is numeric must
therefore be a canonical dotted quad, or it is refused. Non-ASCII hosts are
mapped with UTS 46 (as browsers do) before that check. The host is resolved
once, every address is checked, and the request goes to the checked address
(see `pinned_request`), so a second DNS answer can never redirect it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import httpx
import idna

from wan26.mockserver.media.addresses import IPAddress, refusal
from wan26.mockserver.media.errors import MediaError, Unreachable

# RFC 1123 labels: letters, digits and inner hyphens, none empty (IDNA ones are mapped first).
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_QUERY_SAFE = "%=&+/?:@!$'()*,;~"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # an ASCII host name, or an IP address's text
    port: int
    path: str
    query: str
    literal: IPAddress | None  # the address when the URL names one

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = {"http": 80, "https": 443}[self.scheme]
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str, field: str) -> Target:
    """The URL's parts, or `MediaError` naming what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MediaError(f"Invalid {field}: the URL's host or port is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise MediaError(f"Invalid {field}: only http(s) URLs and data URIs are accepted")
    if parts.username is not None or parts.password is not None:
        raise MediaError(f"Invalid {field}: URLs with a user name or password are not fetched")
    if not parts.hostname:
        raise MediaError(f"Invalid {field}: the URL has no host")
    if port == 0:
        raise MediaError(f"Invalid {field}: the URL's host or port is malformed")
    bracketed = parts.netloc.startswith("[")
    host, literal = _host(parts.hostname, bracketed, field)
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port or (443 if parts.scheme == "https" else 80),
        path=parts.path or "/",
        query=parts.query,
        literal=literal,
    )


def check_url(url: str, field: str, allow_private: bool) -> Target:
    """What the URL itself shows, checked in every mode (offline too): its syntax and, for
    an IP address, the address policy. A name is not resolved here."""
    target = parse_target(url, field)
    if target.literal is not None:
        _check_address(target, target.literal, field, allow_private)
    return target


async def pin(target: Target, field: str, allow_private: bool) -> IPAddress:
    """The one address the request will go to, after every resolved address passed the policy."""
    addresses = [target.literal] if target.literal else await resolve(target.host, target.port)
    for address in addresses:
        _check_address(target, address, field, allow_private)
    return addresses[0]


def _check_address(target: Target, address: IPAddress, field: str, allow_private: bool) -> None:
    reason = refusal(address, allow_private)
    if reason is not None:
        raise MediaError(
            f"Invalid {field}: URL host {target.host} resolves to {address} "
            f"({reason} address), which is not fetched"
        )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name resolves to (the one DNS lookup a fetch makes)."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unreachable(f"host {host!r} could not be resolved: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise Unreachable(f"host {host!r} has no address")
    return addresses


def pinned_request(target: Target, address: IPAddress) -> dict[str, Any]:
    """Arguments for `httpx.AsyncClient.stream` that connect to `address` and nowhere else.

    The URL names the IP, so httpcore opens its socket to it without a lookup;
    the Host header keeps the name for the server, and for https the
    `sni_hostname` extension makes httpcore send the name in SNI and verify the
    certificate against it (the TLS context checks `server_hostname`).
    """
    url = httpx.URL(scheme=target.scheme, host=str(address), port=target.port, path=target.path)
    if target.query:
        url = url.copy_with(query=quote(target.query, safe=_QUERY_SAFE).encode("ascii"))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return {"url": url, "headers": {"Host": target.host_header}, "extensions": extensions}


def _host(hostname: str, bracketed: bool, field: str) -> tuple[str, IPAddress | None]:
    if bracketed:
        try:
            address = ipaddress.IPv6Address(hostname)
        except ValueError:
            address = None
        if address is None or address.scope_id:
            raise MediaError(f"Invalid {field}: URL host [{hostname}] is not an IPv6 address")
        return str(address), address
    if not hostname.isascii():
        try:
            hostname = idna.encode(hostname, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise MediaError(f"Invalid {field}: URL host {hostname} is not a valid name") from None
    if _NUMERIC_LABEL.match(hostname.rstrip(".").rpartition(".")[2]):
        try:
            ipv4 = ipaddress.IPv4Address(hostname)
        except ValueError:
            raise MediaError(
                f"Invalid {field}: URL host {hostname} is not a canonical IPv4 address "
                "(write it as four decimal numbers, e.g. 203.0.113.7)"
            ) from None
        return str(ipv4), ipv4
    if not _HOST_NAME.match(hostname):
        raise MediaError(f"Invalid {field}: URL host {hostname} is not a valid name")
    return hostname, None
