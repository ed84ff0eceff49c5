"""The v2 queue: submit, states in order, COMPLETED with a downloadable output, FAILED as 422."""

from __future__ import annotations

import json
import time

import anyio
import httpx
import pytest

from conftest import API_KEY, OFFLINE_IMAGE, probe
from mediafiles import data_uri, image_bytes
from wan26.mockserver.config import KeyConfig, MediaConfig, QueueConfig
from wan26.mockserver.core import emulator
from wan26.mockserver.core.generation import Generator
from wan26.mockserver.http.app import running
from wan26.mockserver.store.outputs import OutputStore

# Every test here runs on each state backend (memory, a state directory, Redis).
pytestmark = [pytest.mark.anyio, pytest.mark.every_state_backend]
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 5}


async def wait_for(client: httpx.AsyncClient, url: str, seconds: float = 30) -> httpx.Response:
    """Poll like a client would until the job is COMPLETED or FAILED; return the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get(url)
        if response.json().get("status") in ("COMPLETED", "FAILED"):
            return response
        assert time.monotonic() < deadline, f"job still {response.json()} after {seconds} s"
        await anyio.sleep(0.02)


async def test_submit_answers_at_once_with_urls_on_the_called_host(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v2/wan-2.6-i2v", json=BODY)
    assert response.status_code == 200
    body = response.json()
    job = body["request_id"]
    assert body == {
        "request_id": job,
        "status": "QUEUED",
        "poll_url": f"http://emulator.localhost/v1/requests/{job}",
        "status_url": f"http://emulator.localhost/v2/requests/{job}/status",
        "response_url": f"http://emulator.localhost/v2/requests/{job}",
    }


async def test_completed_job_has_a_downloadable_seekable_mp4(client: httpx.AsyncClient) -> None:
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()
    assert (await wait_for(client, job["status_url"])).json()["status"] == "COMPLETED"
    result = (await client.get(job["response_url"])).json()
    assert result["status"] == "COMPLETED" and result["error"] is None
    assert result["metrics"]["inference_time"] > 60
    assert (await client.get(job["poll_url"])).json() == result
    download = await client.get(result["output"], headers={"x-api-key": ""})
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert download.headers["accept-ranges"] == "bytes"
    assert int(download.headers["content-length"]) == len(download.content)
    video = probe(download.content)
    assert (video.width, video.height, video.frames) == (1280, 720, 150)
    part = await client.get(result["output"], headers={"range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(download.content)}"
    assert part.content == download.content[100:200]
    beyond = await client.get(result["output"], headers={"range": f"bytes={10**9}-"})
    assert beyond.status_code == 416


async def test_states_go_queued_processing_completed_with_limited_workers(
    app_factory, client_for
) -> None:
    client = client_for(app_factory(time_scale=0.002, queue=QueueConfig(workers=1)))
    first = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()
    second = (await client.post("/v2/wan-2.6-i2v", json={**BODY, "seed": 6})).json()
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while not seen or seen[-1] != "COMPLETED":
        state = (await client.get(second["status_url"])).json()["status"]
        if not seen or seen[-1] != state:
            seen.append(state)
        assert time.monotonic() < deadline
        await anyio.sleep(0.01)
    assert seen == ["QUEUED", "PROCESSING", "COMPLETED"]
    assert (await client.get(first["status_url"])).json()["status"] == "COMPLETED"


async def test_queueing_is_visible_in_the_control_plane(app_factory, client_for) -> None:
    client = client_for(app_factory(time_scale=1.0, queue=QueueConfig(workers=2)))
    for seed in range(5):
        await client.post("/v2/wan-2.6-i2v", json={**BODY, "seed": seed})
    deadline = time.monotonic() + 30
    while (jobs := (await client.get("/_mock/state")).json()["jobs"])["PROCESSING"] < 2:
        assert time.monotonic() < deadline
        await anyio.sleep(0.01)
    assert jobs == {"QUEUED": 3, "PROCESSING": 2, "COMPLETED": 0, "FAILED": 0}


async def test_charged_on_completed_only(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, credits=1.0)]))
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()
    await wait_for(client, job["status_url"])
    credits = (await client.get("/v1/get-user-credits")).json()["credits"]
    assert credits == pytest.approx(0.375)
    too_poor = await client.post("/v2/wan-2.6-i2v", json=BODY)
    assert too_poor.status_code == 406
    assert "Balance: $0.375," in too_poor.json()["error"]


async def test_held_credits_stop_a_second_concurrent_job(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, credits=1.0)], time_scale=1.0))
    assert (await client.post("/v2/wan-2.6-i2v", json=BODY)).status_code == 200
    assert (await client.post("/v2/wan-2.6-i2v", json=BODY)).status_code == 406


@pytest.mark.parametrize("url_key", ["status_url", "response_url", "poll_url"])
async def test_failed_job_is_422_on_every_job_url(client: httpx.AsyncClient, url_key: str) -> None:
    job = (
        await client.post(
            "/v2/wan-2.6-i2v",
            json=BODY,
            headers={"x-mock-scenario": "job-failed; message=Content policy violation"},
        )
    ).json()
    response = await wait_for(client, job[url_key])
    assert response.status_code == 422
    body = response.json()
    assert body == {
        "status": "FAILED",
        "error": "Content policy violation",
        "metrics": body["metrics"],
        "request_id": job["request_id"],
    }
    credits = (await client.get("/v1/get-user-credits")).json()["credits"]
    assert credits == 1_000_000.0


async def test_unusable_media_in_the_request_is_400_at_submit(client: httpx.AsyncClient) -> None:
    small = data_uri(image_bytes(200, 200), "image/png")
    response = await client.post("/v2/wan-2.6-i2v", json={**BODY, "image": small})
    assert response.status_code == 400
    assert "each side must be 360-2000 px" in response.json()["error"]


async def test_unusable_media_at_a_url_fails_the_job(app_factory, client_for, media_server) -> None:
    client = client_for(app_factory(media=MediaConfig(allow_private_addresses=True)))
    small = media_server.url_for(image_bytes(200, 200), "image/png")
    job = (await client.post("/v2/wan-2.6-i2v", json={**BODY, "image": small})).json()
    response = await wait_for(client, job["status_url"])
    assert response.status_code == 422
    assert "each side must be 360-2000 px" in response.json()["error"]


async def test_hanging_job_stays_processing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "OVERDUE_WAIT_S", 600)  # a poll must not wait for it at all
    job = (
        await client.post("/v2/wan-2.6-i2v", json=BODY, headers={"x-mock-scenario": "job-hang"})
    ).json()
    await anyio.sleep(0.3)
    with anyio.fail_after(60):
        assert (await client.get(job["status_url"])).json()["status"] == "PROCESSING"


@pytest.mark.parametrize("url_key", ["status_url", "response_url", "poll_url"])
async def test_at_time_scale_zero_the_first_poll_finds_the_job_done(
    app_factory, monkeypatch: pytest.MonkeyPatch, url_key: str
) -> None:
    """A client with a poll interval of seconds (the official SDK's) pays none of it: the
    emulated run is over at once, so a poll waits for the video being made here. The
    client is httpx's own in-process one, which never yields to the app's workers between
    two requests (as `wan26_client` does)."""
    monkeypatch.setattr(emulator, "OVERDUE_WAIT_S", 600)  # a busy machine renders slowly
    app = app_factory()
    async with (
        running(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://emulator.localhost",
            headers={"x-api-key": API_KEY},
        ) as client,
    ):
        job = (await client.post("/v2/wan-2.6-i2v", json={**BODY, "seed": 77})).json()
        answer = (await client.get(job[url_key])).json()
    assert answer["status"] == "COMPLETED"


async def test_a_poll_waiting_for_a_job_that_is_reset_meanwhile_is_a_404(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "OVERDUE_WAIT_S", 600)

    async def never_done(*args: object) -> None:
        await anyio.sleep_forever()

    monkeypatch.setattr(Generator, "render", never_done)
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()
    answers: list[httpx.Response] = []

    async def poll() -> None:
        answers.append(await client.get(job["status_url"]))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(poll)
            status_path = f"/v2/requests/{job['request_id']}/status"
            while not any(  # until the poll is waiting for a video that never comes
                entry["path"] == status_path and entry["status"] is None
                for entry in (await client.get("/_mock/journal")).json()["entries"]
            ):
                await anyio.sleep(0.01)
            assert (await client.post("/_mock/reset")).status_code == 200
    assert answers[0].status_code == 404


async def test_a_job_with_run_time_left_is_processing_at_once(
    app_factory, client_for, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "OVERDUE_WAIT_S", 600)
    client = client_for(app_factory(time_scale=1.0))  # about 139 s to go
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()
    with anyio.fail_after(60):  # a poll does not wait for the run's end
        assert (await client.get(job["status_url"])).json()["status"] == "PROCESSING"


async def test_unknown_and_foreign_jobs_are_404(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY), KeyConfig(key="other-key")]))
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()
    assert (await client.get("/v2/requests/no-such-id/status")).status_code == 404
    foreign = await client.get(job["status_url"], headers={"x-api-key": "other-key"})
    assert foreign.status_code == 404
    assert (await client.get(job["status_url"], headers={"x-api-key": ""})).status_code == 401


async def test_results_expire(app_factory, client_for) -> None:
    client = client_for(app_factory(queue=QueueConfig(result_ttl_s=0, result_ttl_floor_s=0.2)))
    job = (await client.post("/v2/wan-2.6-i2v", json=BODY)).json()
    await anyio.sleep(0.3)
    assert (await client.get(job["status_url"])).status_code == 404


def test_result_lifetime_is_an_hour_scaled_with_a_floor() -> None:
    queue = QueueConfig()
    assert queue.ttl(1.0) == 3600
    assert queue.ttl(0.5) == 1800
    assert queue.ttl(0.0) == 300


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (BODY, {"x-api-key": ""}, 401),
        (BODY, {"x-api-key": "wrong"}, 401),
        ({**BODY, "duration": 8}, {}, 400),
        (BODY, {"content-type": "text/plain"}, 406),
    ],
)
async def test_submit_has_v1s_admission(
    client: httpx.AsyncClient, body: dict, headers: dict, status: int
) -> None:
    if headers.get("content-type"):
        response = await client.post("/v2/wan-2.6-i2v", content=json.dumps(body), headers=headers)
    else:
        response = await client.post("/v2/wan-2.6-i2v", json=body, headers=headers)
    assert response.status_code == status
    assert "error" in response.json()


async def test_submit_is_rate_limited_like_v1(app_factory, client_for) -> None:
    client = client_for(app_factory(keys=[KeyConfig(key=API_KEY, plan=2)]))
    assert (await client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    assert (await client.post("/v2/wan-2.6-i2v", json=BODY)).status_code == 200
    refused = await client.post("/v2/wan-2.6-i2v", json=BODY)
    assert refused.status_code == 429
    assert "x-rate-limit-reset-at-utc" in refused.headers


def test_output_store_keeps_within_its_size_evicting_the_oldest() -> None:
    store = OutputStore(max_bytes=250)
    try:
        names = [store.put(bytes([i]) * 100) for i in range(3)]
        assert store.path(names[0]) is None
        assert store.path(names[1]).read_bytes() == bytes([1]) * 100
        assert store.path(names[2]) is not None
        assert store.put(bytes([2]) * 100) == names[2]  # same content, same file
        kept = [store.path(name) for name in names[1:]]
    finally:
        store.close()
    assert not any(path.exists() for path in kept)  # the process's folder stays; its files go
