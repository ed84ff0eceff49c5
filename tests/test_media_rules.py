"""The media rules hold in every mode and on both API versions (docs/media-rules.md).

Offline mode skips the network, not the checks; whatever the request itself shows to be
invalid is a 400 at submit on v1 and v2 alike, with the same message; the contract's
pattern accepts well-formed http(s) URLs and base64 data URIs and nothing else; a
file built to make the image parser walk a million chunks stalls no other client.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import struct
import threading
import time
import zlib

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import make_config
from mediafiles import data_uri, image_bytes, tone
from strategies import PROPERTIES
from wan26.contracts.core.spec import default_contract
from wan26.mockserver import create_app
from wan26.mockserver.config import MediaConfig
from wan26.mockserver.media.errors import MediaError
from wan26.mockserver.media.image import MAX_SEGMENTS, open_image
from wan26.mockserver.server.background import running_server

PATTERN = re.compile(PROPERTIES["image"]["pattern"])
IMAGE_RULES = default_contract().models()["wan-2.6-i2v"].media_rules("image")
DOC_IMAGE = (
    "https://segmind-resources.s3.amazonaws.com/output/"
    "58c03b83-811d-4c4d-8837-1c01b8c8cdea-wan2.6-i2v-ip.webp"
)
UNREADABLE = "Invalid image: not a decodable JPEG, PNG, BMP or WEBP file"
# Issue 17 #8: each was a charged 200 offline; the real service could fetch none of them.
REFUSED_URLS = [
    "https://k*",
    "https://-a-/x.png",
    "https://a..b/x.png",
    "https://999.1.1.1/a.png",
    "http://[",
    "http://%zz",
    "https://[::1]/a.png",
    "http://127.0.0.1/a.png",
    "http://169.254.169.254/latest",
]


def png_with_chunks(count: int) -> bytes:
    """A valid 640x400 PNG with `count` empty ancillary chunks after its header."""
    png = image_bytes(640, 400)
    empty = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
    header_end = 8 + 25  # the signature and IHDR
    return png[:header_end] + empty * count + png[header_end:]


def jpeg_with_comments(count: int) -> bytes:
    jpeg = image_bytes(640, 400, "JPEG")
    return jpeg[:2] + b"\xff\xfe\x00\x02" * count + jpeg[2:]


async def both_versions(client: httpx.AsyncClient, **params: object) -> list[httpx.Response]:
    body = {"prompt": "a scene", **params}
    return [await client.post(f"/{version}/wan-2.6-i2v", json=body) for version in ("v1", "v2")]


# ---- a chunk flood is parsed off the event loop, and only so far -----------------------------


def test_a_chunk_flood_stalls_no_other_client() -> None:
    """9.6 MB of empty PNG chunks: refused, while the health endpoint answers at once."""
    flood = {"prompt": "a scene", "image": data_uri(png_with_chunks(800_000), "image/png")}
    answers: list[httpx.Response] = []
    with running_server(create_app(make_config())) as base_url:

        def submit() -> None:
            with httpx.Client(base_url=base_url, timeout=120) as client:
                headers = {"x-api-key": "wan26-test-key"}
                answers.append(client.post("/v1/wan-2.6-i2v", json=flood, headers=headers))

        sender = threading.Thread(target=submit)
        sender.start()
        pings: list[float] = []
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while sender.is_alive() or not pings:
                started = time.monotonic()
                assert client.get("/_mock/health").status_code == 200
                pings.append(time.monotonic() - started)
        sender.join()
    assert answers[0].status_code == 400
    assert answers[0].json() == {"error": UNREADABLE}
    assert max(pings) < 1.0, pings


@pytest.mark.parametrize("flood", [png_with_chunks, jpeg_with_comments])
def test_images_needing_more_parser_steps_than_the_cap_are_unreadable(flood) -> None:
    with pytest.raises(MediaError, match=f"^{UNREADABLE}$"):
        open_image(flood(MAX_SEGMENTS + 1), IMAGE_RULES)


@pytest.mark.parametrize("flood", [png_with_chunks, jpeg_with_comments])
def test_real_images_with_thousands_of_chunks_are_read(flood) -> None:
    assert open_image(flood(MAX_SEGMENTS // 2), IMAGE_RULES).size == (640, 400)


# ---- URLs: syntax and address rules in every mode ------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("offline", [True, False], ids=["offline", "default"])
@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_urls_the_real_service_could_not_fetch_are_400_in_every_mode(
    client_for, url: str, offline: bool
) -> None:
    client = client_for(create_app(make_config(media=MediaConfig(offline=offline))))
    v1, v2 = await both_versions(client, image=url)
    assert (v1.status_code, v2.status_code) == (400, 400)
    assert v1.json() == v2.json()
    assert v1.json()["error"].startswith(("Invalid image: ", "Invalid parameter 'image': "))


@pytest.mark.anyio
async def test_offline_the_setting_opens_loopback_and_never_metadata(client_for) -> None:
    media = MediaConfig(offline=True, allow_private_addresses=True)
    client = client_for(create_app(make_config(media=media)))
    v1, v2 = await both_versions(client, image="http://127.0.0.1/a.png")
    assert (v1.status_code, v2.status_code) == (200, 200)
    assert v1.headers["x-mock-standin"] == "image"
    v1, v2 = await both_versions(client, image="http://169.254.169.254/latest")
    assert (v1.status_code, v2.status_code) == (400, 400)
    assert "(cloud metadata address), which is not fetched" in v1.json()["error"]


# ---- the pytest plugin: offline, loopback refused unless the suite opens it ----------------


@pytest.mark.anyio
async def test_the_plugin_refuses_a_loopback_fixture_server_by_default(
    wan26_client: httpx.AsyncClient, media_server
) -> None:
    url = media_server.url_for(image_bytes(640, 400), "image/png")
    response = await wan26_client.post("/v1/wan-2.6-i2v", json={"image": url, "prompt": "x"})
    assert response.status_code == 400
    assert "(loopback address), which is not fetched" in response.json()["error"]


class TestASuiteThatOpensLoopback:
    """The override docs/media-rules.md and the CHANGELOG give."""

    @pytest.fixture
    def wan26_config(self, wan26_config):
        media = dataclasses.replace(wan26_config.media, allow_private_addresses=True)
        return wan26_config.replace(media=media)

    @pytest.mark.anyio
    async def test_its_loopback_urls_get_the_stand_in(
        self, wan26_client: httpx.AsyncClient, media_server
    ) -> None:
        url = media_server.url_for(image_bytes(640, 400), "image/png")
        response = await wan26_client.post("/v1/wan-2.6-i2v", json={"image": url, "prompt": "x"})
        assert response.status_code == 200
        assert response.headers["x-mock-standin"] == "image"


# ---- what the request shows to be invalid is a 400 at submit on v1 and v2 --------------------

INVALID_BY_THE_REQUEST = {
    "audio not base64": {"audio": "data:audio/wav;base64,H\u000bkP"},
    "audio of no readable sound": {"audio": data_uri(b"not a sound at all", "audio/wav")},
    "audio too short": {"audio": data_uri(tone(1.0), "audio/wav")},
    "audio declared as an image": {"audio": data_uri(tone(4.0), "image/png")},
    "image too small": {"image": data_uri(image_bytes(300, 300), "image/png")},
    "image of no readable picture": {"image": data_uri(b"not a picture", "image/png")},
    "audio at a literal loopback address": {"audio": "http://[::1]/a.wav"},
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", INVALID_BY_THE_REQUEST)
async def test_v2_refuses_at_submit_what_v1_refuses(client_for, case: str) -> None:
    client = client_for(create_app(make_config(media=MediaConfig(offline=True))))
    v1, v2 = await both_versions(client, **{"image": DOC_IMAGE, **INVALID_BY_THE_REQUEST[case]})
    assert (v1.status_code, v2.status_code) == (400, 400)
    assert v1.json() == v2.json()


# ---- the contract's pattern: honest about syntax -------------------------------------------

MALFORMED = [
    "http://[",
    "http://%zz",
    "https://exa<mple>.com/x",
    "https://k*",
    "https://a..b/x.png",
    "https://-a-/x.png",
    "http://example.com/a b.png",
    "http://example.com/%zz",
    "http://user@",
    "http://example.com:0/a.png",
    "http://example.com:65536/a.png",
    "data:HW;base64,H\u000bkP",
    "data:image/png;base64,AAA",
    "data:image/png,AAAA",
    "ftp://example.com/a.png",
]
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
PATH = st.text(st.sampled_from("abcXYZ019-._~!$&'()*+,;=:@/"), max_size=30)
MIME = st.sampled_from(["image/png", "image/jpeg", "image/webp", "audio/wav", "audio/mpeg"])
STRAY = st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x00", "\x7f", "\u00a0"])


def test_the_docs_example_url_is_accepted() -> None:
    assert PATTERN.fullmatch(DOC_IMAGE)


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_uris_are_rejected(value: str) -> None:
    assert not PATTERN.fullmatch(value)


@given(st.lists(LABEL, min_size=1, max_size=4), PATH, st.sampled_from(["http", "https"]))
def test_well_formed_urls_are_accepted(labels: list[str], path: str, scheme: str) -> None:
    assert PATTERN.fullmatch(f"{scheme}://{'.'.join(labels)}/{path}")


@given(MIME, st.binary(max_size=300))
def test_base64_data_uris_are_accepted(mime: str, data: bytes) -> None:
    assert PATTERN.fullmatch(data_uri(data, mime))


@given(MIME, st.binary(min_size=1, max_size=300), STRAY, st.data())
def test_a_stray_character_in_the_base64_is_rejected(
    mime: str, data: bytes, stray: str, draw: st.DataObject
) -> None:
    payload = base64.b64encode(data).decode()
    at = draw.draw(st.integers(0, len(payload)))
    assert not PATTERN.fullmatch(f"data:{mime};base64,{payload[:at]}{stray}{payload[at:]}")


@given(st.lists(LABEL, min_size=2, max_size=4), STRAY | st.sampled_from("<>\\^`{|}%*_"))
def test_a_stray_character_in_the_host_is_rejected(labels: list[str], stray: str) -> None:
    labels[0] += stray
    assert not PATTERN.fullmatch(f"https://{'.'.join(labels)}/x.png")
