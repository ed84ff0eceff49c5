"""What the dashboard reads and how it is guarded, over HTTP without a browser."""

from __future__ import annotations

from urllib.parse import quote

import anyio
import httpx
import pytest

from conftest import API_KEY, OFFLINE_IMAGE
from wan26.contracts.core.access import fingerprint
from wan26.mockserver.config import ControlConfig, QueueConfig

pytestmark = pytest.mark.anyio
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 5}


async def test_the_page_and_its_files_come_from_the_package(client: httpx.AsyncClient) -> None:
    page = await client.get("/_mock/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<script src="/_mock/ui/app.js"' in page.text and "http" not in page.text.lower()
    script = await client.get("/_mock/ui/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "X-Mock-Token" in script.text
    assert (await client.get("/_mock/ui/style.css")).text.count("prefers-color-scheme") == 1
    assert (await client.get("/_mock/ui/../control.py")).status_code == 404
    assert (await client.get("/_mock/ui/secret.txt")).status_code == 404
    assert (await client.get("/_mock/journal")).json()["count"] == 0


async def test_with_a_token_the_page_loads_but_its_data_needs_the_token(
    app_factory, client_for
) -> None:
    client = client_for(app_factory(control=ControlConfig(token="t0ken")))
    assert (await client.get("/_mock/ui")).status_code == 200
    assert (await client.get("/_mock/jobs")).status_code == 401
    assert (await client.get("/_mock/stats", headers={"x-mock-token": "t0ken"})).status_code == 200


async def test_without_a_token_the_page_answers_loopback_clients_only(app_factory) -> None:
    app = app_factory()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as remote:
        assert (await remote.get("/_mock/ui")).status_code == 403
        assert (await remote.get("/_mock/ui/app.js")).status_code == 403
    await app.state.emulator.aclose()


async def test_disabled_control_plane_has_no_page(app_factory, client_for) -> None:
    client = client_for(app_factory(control=ControlConfig(enabled=False)))
    assert (await client.get("/_mock/ui")).status_code == 404


async def test_keys_are_addressed_by_their_fingerprint(client: httpx.AsyncClient) -> None:
    await client.get("/v1/get-user-credits")
    account = (await client.get("/_mock/state")).json()["keys"][0]
    assert account["id"] == account["key"] == fingerprint(API_KEY)
    assert account["requests_this_window"] == 0  # the plan is unlimited: nothing is counted
    address = "/_mock/keys/" + quote(account["id"], safe="")  # `#` is written %23 in a URL
    changed = await client.put(address, json={"credits": 7, "plan": "pro"})
    assert changed.json()["credits"] == 7 and changed.json()["requests_per_minute"] == 50
    assert (await client.get("/v1/get-user-credits")).json()["credits"] == 7
    await client.post("/v1/wan-2.6-i2v", json=BODY)  # model calls count against the plan
    assert (await client.get("/_mock/state")).json()["keys"][0]["requests_this_window"] == 1
    unknown = await client.put("/_mock/keys/key%230123456789", json={"credits": 1})
    assert unknown.status_code == 404
    assert len((await client.get("/_mock/state")).json()["keys"]) == 1
    assert (await client.delete(address)).status_code == 200
    assert (await client.get("/v1/get-user-credits")).status_code == 401


async def test_the_journal_keeps_the_error_message(client: httpx.AsyncClient) -> None:
    await client.post("/v1/wan-2.6-i2v", json={**BODY, "duration": 7})
    await client.put("/v1/wan-2.6-i2v", json=BODY)
    await client.get("/v1/get-user-credits")
    bad, wrong_method, fine = (await client.get("/_mock/journal")).json()["entries"]
    assert bad["error"].startswith("Invalid parameter 'duration'")
    assert wrong_method["status"] == 405 and wrong_method["error"]
    assert fine["error"] is None and fine["job"] is None


async def test_jobs_show_queue_position_progress_and_their_video(app_factory, client_for) -> None:
    client = client_for(app_factory(time_scale=0.02, queue=QueueConfig(workers=1)))
    first = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()["request_id"]
    second = (await client.post("/v2/wan-2.6-i2v", json={**BODY, "seed": 6})).json()["request_id"]
    listed = (await client.get("/_mock/jobs")).json()["jobs"]
    assert [job["id"] for job in listed] == [second, first]  # newest first
    assert listed[0]["state"] == "QUEUED" and listed[0]["queue_position"] >= 1
    assert listed[0]["key"] == fingerprint(API_KEY) and listed[0]["cost_usd"] == 0.625
    with anyio.fail_after(90):
        while {job["state"] for job in listed} != {"COMPLETED"}:
            await anyio.sleep(0.2)
            listed = (await client.get("/_mock/jobs")).json()["jobs"]
    job = listed[1]
    assert job["progress"] == 1 and job["queue_position"] is None
    assert job["submitted_at"] <= job["started_at"] <= job["finished_at"]
    assert job["output"].endswith(job["video"].rsplit("/", 1)[1])
    clip = await client.get(job["video"], headers={"range": "bytes=0-99"})
    assert clip.status_code == 206 and len(clip.content) == 100
    entries = (await client.get("/_mock/journal")).json()["entries"]
    assert [entry["path"] for entry in entries] == ["/v2/wan-2.6-i2v"] * 2
    assert entries[0]["job"] == {
        key: job[key] for key in ("id", "state", "output", "video", "error")
    }
    assert job["journal_id"] == entries[0]["id"]  # the dashboard links each to the other
    assert (await client.get("/_mock/ui/video/nothing.mp4")).status_code == 404


async def test_stats_count_calls_per_minute_spend_and_cache_hits(client: httpx.AsyncClient) -> None:
    await client.post("/v1/wan-2.6-i2v", json=BODY)
    await client.post("/v1/wan-2.6-i2v", json=BODY)
    await client.post("/v1/wan-2.6-i2v", json={})
    await client.get("/v1/get-user-credits", headers={"x-mock-scenario": "bad-gateway"})
    stats = (await client.get("/_mock/stats")).json()
    assert stats["calls"] == 4 and stats["spent_usd"] == 1.25 and stats["time_scale"] == 0
    assert stats["render_cache"] == {"hits": 1, "misses": 1}
    assert len(stats["per_minute"]) == 15
    now = stats["per_minute"][-1]
    assert (now.get("2xx"), now.get("4xx"), now.get("5xx")) == (2, 1, 1)


async def test_a_v1_calls_video_plays_from_the_render_cache(client: httpx.AsyncClient) -> None:
    video = await client.post("/v1/wan-2.6-i2v", json=BODY)
    entry = (await client.get("/_mock/journal")).json()["entries"][-1]
    assert entry["video"].startswith("/_mock/ui/video/render-")
    played = await client.get(entry["video"])
    assert played.status_code == 200 and played.content == video.content
    assert "render" not in entry
    await client.post("/_mock/reset")
    assert (await client.get(entry["video"])).status_code == 404
