"""Hostile URLs: URLs that parsers read differently, forbidden addresses, rebinding.

Every case is a JSON 400 (or the lenient stand-in) and never a 500; no test
sends traffic anywhere but loopback (names ending in `.test` are answered by a
fake resolver).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conftest import make_config, probe
from mediafiles import image_bytes
from test_media_bombs import generate
from wan26.mockserver import create_app
from wan26.mockserver.config import MediaConfig
from wan26.mockserver.media.addresses import refusal
from wan26.mockserver.media.errors import Unreachable
from wan26.mockserver.media.fetch import fetch_url
from wan26.mockserver.server.background import running_server

pytestmark = pytest.mark.anyio
PORTRAIT = image_bytes(900, 1600, "PNG")


# ---- a loopback site and a resolver for names ending in .test -----------------------------------


@dataclass
class Site:
    """A loopback web server: `/image.png`, and `/redirect?to=URL`; it notes every Host header."""

    base_url: str = ""
    hosts: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return httpx.URL(self.base_url).port or 80


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    found = Site()

    async def serve(request: Request) -> Response:
        found.hosts.append(request.headers["host"])
        if request.path_params["name"] == "redirect":
            return Response(status_code=302, headers={"location": request.query_params["to"]})
        return Response(PORTRAIT, media_type="image/png")

    with running_server(Starlette(routes=[Route("/{name}", serve)])) as base_url:
        found.base_url = base_url
        yield found


@dataclass
class FakeDns:
    """Answers names ending in `.test` from per-name queues of addresses; counts the lookups."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def answer(self, name: str, *rounds: list[str]) -> None:
        self.answers[name] = list(rounds)

    def getaddrinfo(self, real, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not (isinstance(name, str) and name.endswith(".test")):
            return real(host, port, *args, **kwargs)
        self.lookups.append(name)
        rounds = self.answers.get(name)
        if not rounds:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = rounds.pop(0) if len(rounds) > 1 else rounds[0]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, int(port or 0)),
            )
            for address in addresses
        ]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Replaces `socket.getaddrinfo`: the emulator's lookup and httpx's both go through it."""
    fake = FakeDns()
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *args, **kwargs: fake.getaddrinfo(real, *args, **kwargs)
    )
    return fake


def emulator(client_for, **media: object) -> httpx.AsyncClient:
    return client_for(create_app(make_config(media=MediaConfig(**media))))


# ---- URLs that parsers disagree on ---------------------------------------------------------------

SYNTAX = "Invalid parameter 'image': must be an http(s) URL"  # the contract's pattern
ODD_URLS = {
    "http://0100.0.0.1/": "URL host 0100.0.0.1 is not a canonical IPv4 address",
    "http://010.010.010.010/": "URL host 010.010.010.010 is not a canonical IPv4 address",
    "http://2130706433/": "URL host 2130706433 is not a canonical IPv4 address",
    "http://0x7f.1/": "URL host 0x7f.1 is not a canonical IPv4 address",
    "http://127.1/": "URL host 127.1 is not a canonical IPv4 address",
    "http://%31%32%37.0.0.1/": SYNTAX,
    "http://[::ffff:127.0.0.1]/": "resolves to ::ffff:7f00:1 (IPv4-mapped IPv6 address)",
    "http://a@127.0.0.1/": "URLs with a user name or password are not fetched",
    "http://evil.example\\@127.0.0.1/": SYNTAX,
    "http://:80/": SYNTAX,
    "http://example.com:99999999/": SYNTAX,
    "http://example.com:65536/": SYNTAX,
    "http://example.com:0/": SYNTAX,
    "http://[::1/": SYNTAX,
    "http://[fe80::1%25eth0]/": "URL host [fe80::1%25eth0] is not an IPv6 address",
    "http://-dash.example/": SYNTAX,
    "http://under_score.example/": SYNTAX,
    "http://a\u200db.example/": "is not a valid name",
}


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", ODD_URLS)
async def test_odd_urls_are_a_json_400_whatever_the_setting(
    client_for, url: str, allow_private: bool
) -> None:
    client = emulator(client_for, allow_private_addresses=allow_private)
    response = await generate(client, image=url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(("Invalid image: ", SYNTAX)) and ODD_URLS[url] in error


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "localhost"),
        ("http://\u2460\u2461\u2466.0.0.1/", "127.0.0.1"),
    ],
)
async def test_idn_hosts_are_mapped_before_the_address_check(
    client_for, url: str, shown: str
) -> None:
    response = await generate(emulator(client_for), image=url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(f"Invalid image: URL host {shown} resolves to ")
    assert error.endswith("(loopback address), which is not fetched")


# ---- the address table -------------------------------------------------------------------------

ALWAYS_REFUSED = {
    "169.254.169.254": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",
    "100.100.100.200": "cloud metadata",
    "169.254.10.1": "link-local",
    "fe80::1": "link-local",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "IPv4-mapped IPv6",
    "::ffff:8.8.8.8": "IPv4-mapped IPv6",
    "64:ff9b::7f00:1": "IPv6 form of a loopback",
    "64:ff9b::a00:1": "IPv6 form of a private",
    "64:ff9b::a9fe:a9fe": "IPv6 form of a cloud metadata",
    "2002:7f00:1::": "IPv6 form of a loopback",
    "240.0.0.1": "reserved",
    "198.18.0.1": "reserved",
    "192.0.2.1": "reserved",
    "2001:db8::1": "reserved",
}
OPENED_BY_THE_SETTING = {
    "127.0.0.1": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "100.64.0.1": "shared CGNAT",
}
PUBLIC = ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_never_rows_are_refused_whatever_the_setting(address: str) -> None:
    parsed = ipaddress.ip_address(address)
    assert refusal(parsed, allow_private=False) == ALWAYS_REFUSED[address]
    assert refusal(parsed, allow_private=True) == ALWAYS_REFUSED[address]


@pytest.mark.parametrize("address", OPENED_BY_THE_SETTING)
def test_the_setting_opens_only_loopback_and_private_ranges(address: str) -> None:
    parsed = ipaddress.ip_address(address)
    assert refusal(parsed, allow_private=False) == OPENED_BY_THE_SETTING[address]
    assert refusal(parsed, allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_fetched(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "169.254.0.7",
        "[64:ff9b::7f00:1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "[::]",
        "224.0.0.1",
    ],
)
async def test_redirects_to_forbidden_addresses_are_refused_even_when_private_is_allowed(
    client_for, site: Site, host: str
) -> None:
    client = emulator(client_for, allow_private_addresses=True, mode="strict")
    target = f"http://{host}:{site.port}/latest/meta-data/"
    response = await generate(client, image=f"{site.base_url}/redirect?to={target}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("Invalid image: URL host ") and error.endswith(", which is not fetched")


async def test_a_redirect_to_loopback_is_followed_only_when_private_is_allowed(
    client_for, site: Site
) -> None:
    hop = f"{site.base_url}/redirect?to={site.base_url}/image.png"
    allowed = await generate(emulator(client_for, allow_private_addresses=True), image=hop, seed=3)
    assert allowed.status_code == 200, allowed.text
    assert "x-mock-standin" not in allowed.headers
    assert (probe(allowed.content).width, probe(allowed.content).height) == (720, 1280)
    refused = await generate(emulator(client_for), image=hop)
    assert refused.status_code == 400
    assert "(loopback address), which is not fetched" in refused.json()["error"]


# ---- DNS rebinding: one lookup, and the connection goes to its answer -------------------------


async def test_the_connection_goes_to_the_address_that_was_checked(
    client_for, site: Site, dns: FakeDns
) -> None:
    # A second lookup would say 127.0.0.2, where nothing listens: the fetch would fail.
    dns.answer("rebind.test", ["127.0.0.1"], ["127.0.0.2"])
    client = emulator(client_for, allow_private_addresses=True, mode="strict")
    seen = len(site.hosts)
    response = await generate(client, image=f"http://rebind.test:{site.port}/image.png", seed=2)
    assert response.status_code == 200, response.text
    assert (probe(response.content).width, probe(response.content).height) == (720, 1280)
    assert dns.lookups == ["rebind.test"]
    assert site.hosts[seen:] == [f"rebind.test:{site.port}"]  # the name, not the IP, as Host


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_rebinding_name_never_reaches_loopback(dns: FakeDns, scheme: str) -> None:
    """The first answer is public, the second loopback: the request goes to the public one."""
    dns.answer("rebind.test", ["93.184.215.14"], ["127.0.0.1"])
    sent: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=b"picture")

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        data = await fetch_url(
            client,
            f"{scheme}://rebind.test/a.png?size=big",
            field="image",
            max_bytes=1000,
            timeout_s=10,
            allow_private=False,
        )
    assert data == b"picture"
    assert dns.lookups == ["rebind.test"]
    [request] = sent
    assert str(request.url) == f"{scheme}://93.184.215.14/a.png?size=big"
    assert request.headers["host"] == "rebind.test"
    sni = {"https": "rebind.test"}.get(scheme)
    assert request.extensions.get("sni_hostname") == sni


async def test_every_resolved_address_is_checked(client_for, site: Site, dns: FakeDns) -> None:
    dns.answer("mixed.test", ["8.8.8.8", "127.0.0.1"])
    seen = len(site.hosts)
    response = await generate(emulator(client_for), image=f"http://mixed.test:{site.port}/x.png")
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid image: URL host mixed.test resolves to 127.0.0.1 (loopback address), "
        "which is not fetched"
    }
    assert site.hosts[seen:] == []


# ---- https: the certificate is verified for the name, the socket goes to the IP ---------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a certificate for media.test (made with the openssl command)."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=t")
    openssl("req", *key, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=media.test")
    (folder / "san.ext").write_text("subjectAltName=DNS:media.test\n")
    openssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "1", "-extfile", "san.ext",
    )  # fmt: skip
    return folder


async def test_https_keeps_sni_and_verification_on_the_name(
    certificates: Path, dns: FakeDns
) -> None:
    server_names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
    context.sni_callback = lambda _socket, name, _context: server_names.append(name)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\npicture")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    dns.answer("media.test", ["127.0.0.1"])
    dns.answer("other.test", ["127.0.0.1"])
    client = httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=certificates / "ca.pem"),
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    fetch = {"field": "image", "max_bytes": 100, "timeout_s": 10, "allow_private": True}
    async with server, client:
        assert await fetch_url(client, f"https://media.test:{port}/a.png", **fetch) == b"picture"
        with pytest.raises(Unreachable, match="certificate verify failed"):
            await fetch_url(client, f"https://other.test:{port}/a.png", **fetch)
    assert server_names[:2] == ["media.test", "other.test"]


async def test_a_malformed_redirect_is_a_400_not_a_500(client_for, site: Site) -> None:
    client = emulator(client_for, allow_private_addresses=True)
    response = await generate(client, image=f"{site.base_url}/redirect?to=http://[::1")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Could not fetch image from URL: ")
