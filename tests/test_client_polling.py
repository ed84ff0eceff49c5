"""Adaptive polling and progress reports, proven with respx: a fast job is seen done after
a short wait, waits grow to the cap, an explicit interval wins."""

from __future__ import annotations

import itertools

import httpx
import pytest
import respx

from clientfakes import PARAMS, job_routes, make_async_client, make_client
from wan26.client import Progress, WaitTimeoutError
from wan26.client.progress import FIRST_POLL_S

PROCESSING = httpx.Response(200, json={"status": "PROCESSING"})
COMPLETED = httpx.Response(200, json={"status": "COMPLETED"})


@pytest.fixture
def sleeps() -> list[float]:
    """The client's waits, recorded instead of waited."""
    return []


@respx.mock
def test_a_fast_job_is_seen_done_after_one_short_wait(sleeps: list[float]) -> None:
    status, _, download = job_routes()
    status.mock(side_effect=[PROCESSING, COMPLETED])
    download.mock(return_value=httpx.Response(200, content=b"mp4 bytes"))
    video = make_client(sleeps).generate(**PARAMS)
    assert sleeps == [FIRST_POLL_S] == [0.25]
    assert status.call_count == 2 and video.data == b"mp4 bytes"


@respx.mock
def test_waits_grow_geometrically_to_the_clients_poll_interval(sleeps: list[float]) -> None:
    status, _, _ = job_routes()
    status.mock(side_effect=[PROCESSING] * 12 + [COMPLETED])
    job = make_client(sleeps, poll_interval_s=5.0).submit(**PARAMS)
    job.wait()
    assert sleeps[0] == 0.25
    growing = sleeps[: sleeps.index(5.0)]
    assert all(later > earlier * 1.5 for earlier, later in itertools.pairwise(growing))
    assert sleeps[len(growing) :] == [5.0] * (12 - len(growing))
    assert 4 <= len(growing) <= 8


@respx.mock
def test_an_explicit_poll_interval_wins(sleeps: list[float]) -> None:
    status, _, _ = job_routes()
    status.mock(side_effect=[PROCESSING] * 4 + [COMPLETED])
    make_client(sleeps).submit(**PARAMS).wait(poll_interval=2.0)
    assert sleeps == [2.0] * 4


@respx.mock
def test_a_client_interval_below_the_first_wait_is_used_from_the_start(
    sleeps: list[float],
) -> None:
    status, _, _ = job_routes()
    status.mock(side_effect=[PROCESSING] * 3 + [COMPLETED])
    make_client(sleeps, poll_interval_s=0.05).submit(**PARAMS).wait()
    assert sleeps == [0.05] * 3


@respx.mock
def test_the_deadline_still_applies_to_growing_waits(sleeps: list[float]) -> None:
    status, _, _ = job_routes()
    status.mock(return_value=PROCESSING)
    with pytest.raises(WaitTimeoutError):
        make_client(sleeps).submit(**PARAMS).wait(timeout=0.0)
    assert sleeps == []


@respx.mock
def test_on_progress_gets_a_progress_per_poll(sleeps: list[float]) -> None:
    status, _, _ = job_routes()
    status.mock(
        side_effect=[
            httpx.Response(200, json={"status": "QUEUED", "queue_position": 3}),
            PROCESSING,
            COMPLETED,
        ]
    )
    seen: list[Progress] = []
    make_client(sleeps).submit(**PARAMS).wait(on_progress=seen.append)
    assert [(p.request_id, p.state, p.polls, p.queue_position) for p in seen] == [
        ("j1", "QUEUED", 1, 3),
        ("j1", "PROCESSING", 2, None),
        ("j1", "COMPLETED", 3, None),
    ]
    assert 0 <= seen[0].elapsed_s <= seen[1].elapsed_s <= seen[2].elapsed_s


@respx.mock
def test_a_job_repr_names_its_id_last_state_and_age(sleeps: list[float]) -> None:
    status, _, _ = job_routes()
    status.mock(side_effect=[PROCESSING, COMPLETED])
    job = make_client(sleeps).submit(**PARAMS)
    assert repr(job).startswith("<Job j1 QUEUED after ")
    assert job.status() == "PROCESSING" and job.state == "PROCESSING"
    assert repr(job).startswith("<Job j1 PROCESSING after ") and repr(job).endswith(" s>")
    job.wait()
    assert "COMPLETED" in repr(job)


@pytest.mark.anyio
@respx.mock
async def test_the_async_client_polls_and_reports_the_same_way(sleeps: list[float]) -> None:
    status, _, download = job_routes()
    status.mock(side_effect=[PROCESSING, PROCESSING, COMPLETED])
    download.mock(return_value=httpx.Response(200, content=b"mp4 bytes"))
    seen: list[str] = []
    async with make_async_client(sleeps) as client:
        job = await client.submit(**PARAMS)
        await job.wait(on_progress=lambda progress: seen.append(progress.state))
        video = await job.download()
    assert sleeps == [0.25, 0.4]
    assert seen == ["PROCESSING", "PROCESSING", "COMPLETED"]
    assert repr(job).startswith("<AsyncJob j1 COMPLETED after ")
    assert repr(video).startswith("Video(request_id='j1', video/mp4, 9 bytes, cost=0.625")
    assert "mp4 bytes" not in repr(video)
