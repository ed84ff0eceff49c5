"""The checks before the body, in the real API's order: key, model access, slug, method, type."""

from __future__ import annotations

import httpx
import pytest

from conftest import API_KEY, OFFLINE_IMAGE
from wan26.mockserver.config import KeyConfig

pytestmark = pytest.mark.anyio
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat"}


async def test_missing_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-api-key": ""})
    assert response.status_code == 401
    assert response.json() == {"error": "Missing Authorization or x-api-key in header"}


async def test_bearer_token_is_not_accepted(client: httpx.AsyncClient) -> None:
    client.headers.pop("x-api-key")
    response = await client.post(
        "/v1/wan-2.6-i2v", json=BODY, headers={"authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 401


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-api-key": "nope"})
    assert response.status_code == 401
    assert response.json() == {"error": "User authentication failed"}


async def test_key_restricted_to_other_models_is_403(app_factory, client_for) -> None:
    app = app_factory(keys=[KeyConfig(key=API_KEY, models=["flux-schnell"])])
    response = await client_for(app).post("/v1/wan-2.6-i2v", json=BODY)
    assert response.status_code == 403
    assert "wan-2.6-i2v" in response.json()["error"]


async def test_unknown_model_slug_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/wan-9.9-i2v", json=BODY)
    assert response.status_code == 404
    assert response.json() == {"error": "Model wan-9.9-i2v not found"}


async def test_unknown_path_is_404_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/nothing/here")
    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_wrong_method_is_405_html(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/v1/wan-2.6-i2v")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert "Method Not Allowed" in response.text


async def test_auth_is_checked_before_method(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/wan-2.6-i2v", headers={"x-api-key": "nope"})
    assert response.status_code == 401


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_missing_or_wrong_content_type_is_406(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(
        "/v1/wan-2.6-i2v", content=b'{"image": "x", "prompt": "y"}', headers=headers
    )
    assert response.status_code == 406
    assert response.json() == {"error": "Invalid content type"}


async def test_content_type_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/wan-2.6-i2v", content=b"not json", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 406


async def test_json_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/wan-2.6-i2v",
        content=b"{}",
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 400


async def test_credits_endpoint_needs_a_key_and_get(client: httpx.AsyncClient) -> None:
    assert (
        await client.get("/v1/get-user-credits", headers={"x-api-key": "no"})
    ).status_code == 401
    response = await client.post("/v1/get-user-credits")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")


async def test_unexpected_failure_is_a_json_500_without_traceback(app_factory) -> None:
    app = app_factory()

    async def broken(*args: object) -> None:
        raise RuntimeError("renderer fell over")

    app.state.emulator.models["wan-2.6-i2v"].generator.render = broken
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as raw:
        response = await raw.post("/v1/wan-2.6-i2v", json=BODY, headers={"x-api-key": API_KEY})
    assert response.status_code == 500
    assert response.json() == {"error": "Server had some issue"}
    assert "Traceback" not in response.text
