"""Fakes for the client's unit tests: recorded sleeps, a client on a fake base URL, and
respx routes for one v2 job."""

from __future__ import annotations

import httpx
import respx

from wan26.client import AsyncWan26Client, Wan26Client

BASE = "https://api.test"
V1 = f"{BASE}/v1/wan-2.6-i2v"
V2 = f"{BASE}/v2/wan-2.6-i2v"
PARAMS = {"image": "https://example.com/a.png", "prompt": "a cat"}
MP4 = httpx.Response(
    200,
    content=b"\x00\x00\x00\x18ftypmp42",
    headers={
        "content-type": "video/mp4",
        "x-cost": "0.625",
        "x-remaining-credits": "9.375",
        "x-seed-value": "7",
        "x-generation-time": "139.1",
        "x-request-id": "req-1",
    },
)


def make_client(sleeps: list[float] | None = None, **kwargs) -> Wan26Client:
    """A client whose waits are recorded in `sleeps` instead of waited."""
    if sleeps is not None:
        kwargs["sleep"] = sleeps.append
    return Wan26Client(api_key="k", base_url=BASE, **kwargs)


def make_async_client(sleeps: list[float], **kwargs) -> AsyncWan26Client:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncWan26Client(api_key="k", base_url=BASE, sleep=sleep, **kwargs)


def job_routes() -> tuple[respx.Route, respx.Route, respx.Route]:
    respx.post(V2).mock(
        return_value=httpx.Response(
            200,
            json={
                "request_id": "j1",
                "status": "QUEUED",
                "poll_url": f"{BASE}/v1/requests/j1",
                "status_url": f"{BASE}/v2/requests/j1/status",
                "response_url": f"{BASE}/v2/requests/j1",
            },
        )
    )
    status = respx.get(f"{BASE}/v2/requests/j1/status")
    result = respx.get(f"{BASE}/v2/requests/j1").mock(
        return_value=httpx.Response(
            200,
            json={
                "status": "COMPLETED",
                "error": None,
                "metrics": {"inference_time": 140.2},
                "output": "https://files.test/j1.mp4",
            },
        )
    )
    download = respx.get("https://files.test/j1.mp4")
    return status, result, download
