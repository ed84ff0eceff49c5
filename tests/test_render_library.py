"""Videos assembled from a library of encoded one-second segments: a new seed of a known
image copies packets, yet every seed moves differently and the same seed gives the same
bytes."""

from __future__ import annotations

import io
import itertools
import logging
import multiprocessing.synchronize
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import av
import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import make_config
from mediafiles import data_uri, image_bytes
from wan26.mockserver import create_app
from wan26.mockserver.config import MediaConfig
from wan26.mockserver.media.image import STANDIN_PICTURES, standin_key
from wan26.mockserver.media.render import VideoSpec, plan_segments
from wan26.mockserver.media.segments import (
    SPOOL_PREFIX,
    Picture,
    Segment,
    _framed_planes,
    encode_segment,
    spool_dir,
)
from wan26.mockserver.media.workers import AHEAD_KEPT, WORKERS
from wan26.mockserver.server.background import free_port, running_command

pytestmark = pytest.mark.anyio
IMAGE = data_uri(image_bytes(1600, 900), "image/png")


def spec(seed: int, duration: int = 5, shots: int = 1) -> VideoSpec:
    return VideoSpec(1280, 720, 30, duration, shots, seed)


def decoded(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))


def gray(frames: list[av.VideoFrame]) -> list[np.ndarray]:
    """The frames in gray at a quarter of 1280x720: motion and cuts show as well, at a
    tenth of the cost (full size, a 15 s video's differences took 2.5 GB and 20 s)."""
    return [
        f.reformat(width=320, height=180, format="gray").to_ndarray().astype(np.int16)
        for f in frames
    ]


def changes(pictures: list[np.ndarray]) -> np.ndarray:
    """The mean absolute change from each picture to the next."""
    return np.array([np.abs(b - a).mean() for a, b in itertools.pairwise(pictures)])


@pytest.fixture
def emulator_client(client_for):
    def make(**media: object) -> tuple[httpx.AsyncClient, object]:
        app = create_app(make_config(media=MediaConfig(offline=True, **media)))
        return client_for(app), app.state.emulator.models["wan-2.6-i2v"].generator

    return make


async def generate(client: httpx.AsyncClient, **params: object) -> bytes:
    response = await client.post("/v1/wan-2.6-i2v", json={"image": IMAGE, "prompt": "p", **params})
    assert response.status_code == 200, response.text
    return response.content


async def test_different_seeds_move_differently_and_differ_in_bytes(emulator_client) -> None:
    client, _ = emulator_client()
    assert plan_segments(spec(1)) != plan_segments(spec(2))
    one, two = await generate(client, seed=1), await generate(client, seed=2)
    assert one != two
    pictures_one, pictures_two = gray(decoded(one)), gray(decoded(two))
    difference = [np.abs(a - b).mean() for a, b in zip(pictures_one, pictures_two, strict=True)]
    assert max(difference) > 5  # the same picture, panned elsewhere
    for video in (one, two):
        assert changes(gray(decoded(video))).mean() > 0.3  # and always moving


async def test_a_new_seed_of_a_known_image_encodes_no_picture(emulator_client) -> None:
    client, generator = emulator_client()
    known = set(plan_segments(spec(7, duration=15)))
    seed = next(s for s in range(100, 100_000) if set(plan_segments(spec(s))) <= known)
    await generate(client, seed=7, duration=15)
    encoded = generator.segments.cache.misses
    video = await generate(client, seed=seed)
    assert generator.segments.cache.misses == encoded
    assert len(decoded(video)) == 150


async def test_new_urls_share_a_few_stand_in_pictures(emulator_client) -> None:
    """Offline, a URL gets one of a few stand-in pictures, always the same one: a suite or
    a fuzzer that sends a new URL each time does not encode a new picture each time."""
    client, generator = emulator_client()
    urls = [f"https://example.com/cats/{n}.png" for n in range(200)]
    assert len({standin_key(url) for url in urls}) == STANDIN_PICTURES
    first, *same = [url for url in urls if standin_key(url) == standin_key(urls[0])][:3]
    other = next(url for url in urls if standin_key(url) != standin_key(first))
    video = await generate(client, image=first, seed=3)
    encoded = generator.segments.cache.misses
    assert [await generate(client, image=url, seed=3) for url in same] == [video, video]
    assert generator.segments.cache.misses == encoded
    assert await generate(client, image=other, seed=3) != video


async def test_videos_are_kept_in_a_quarter_of_the_cache_and_made_again_from_segments(
    emulator_client,
) -> None:
    """A video is made again from its segments in a few ms, so whole videos get a quarter
    of `cache_bytes`: a stream of new seeds holds little memory, and a video that fell out
    is the same bytes again without encoding anything."""
    client, generator = emulator_client(cache_bytes=4_000_000)
    videos = [await generate(client, seed=seed) for seed in range(12)]
    assert sum(map(len, videos)) > 1_000_000
    assert generator.cache.max_bytes == 1_000_000
    assert generator.cache._size <= 1_000_000
    encoded = generator.segments.cache.misses
    assert await generate(client, seed=0) == videos[0]
    assert generator.segments.cache.misses == encoded


async def test_a_new_images_other_segments_and_sound_beds_are_encoded_ahead(
    emulator_client,
) -> None:
    """After the second video of an image, the workers encode the rest of its segments and
    the other sound beds while idle: every later seed only copies packets."""
    client, generator = emulator_client()
    image = data_uri(image_bytes(1400, 900), "image/png")
    body = {"image": image, "prompt": "p"}
    # The second video of an image (with a segment the first did not need) and a second
    # sound bed start it: most images are seen once, and then nothing is encoded ahead.
    second = next(
        s for s in range(2, 100) if set(plan_segments(spec(s))) - set(plan_segments(spec(1)))
    )
    for seed in (1, second):
        answer = await client.post("/v1/wan-2.6-i2v", json={**body, "seed": seed})
        assert answer.status_code == 200
    with anyio.fail_after(120):
        while WORKERS.ahead_left:
            await anyio.sleep(0.05)
    segments, sounds = generator.segments.cache.misses, generator.sounds.misses
    for seed in range(100, 112):
        answer = await client.post("/v1/wan-2.6-i2v", json={**body, "seed": seed})
        assert answer.status_code == 200
    assert (generator.segments.cache.misses, generator.sounds.misses) == (segments, sounds)


async def test_a_stream_of_new_images_leaves_no_pile_of_pictures_to_encode_ahead(
    emulator_client,
) -> None:
    """Each new image queues its other segments; the queue keeps only the newest, and every
    picture file is gone once its parts are encoded or dropped."""
    client, _ = emulator_client()
    second = next(
        s for s in range(2, 100) if set(plan_segments(spec(s))) - set(plan_segments(spec(1)))
    )
    for index in range(6):
        image = data_uri(image_bytes(1200 + 20 * index, 900), "image/png")
        for seed in (1, second):  # seen twice: the rest of its segments are queued
            body = {"image": image, "prompt": "p", "seed": seed}
            assert (await client.post("/v1/wan-2.6-i2v", json=body)).status_code == 200
        assert WORKERS.ahead_left <= AHEAD_KEPT + 2  # the queue, and one part per worker
    with anyio.fail_after(120):
        while WORKERS.ahead_left:
            await anyio.sleep(0.05)
    assert list(spool_dir().glob("*.rgb")) == []


async def test_the_same_seed_gives_the_same_bytes_after_every_cache_is_dropped(
    emulator_client,
) -> None:
    client, generator = emulator_client()
    first = await generate(client, seed=42, multi_shots=True)
    for cache in (generator.cache, generator.segments.cache, generator.sounds):
        cache.clear()
    assert await generate(client, seed=42, multi_shots=True) == first
    threads, _ = emulator_client(render_processes=0)
    assert await generate(threads, seed=42, multi_shots=True) == first


async def test_without_dev_shm_videos_are_encoded_in_threads_with_a_warning(
    emulator_client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where multiprocessing cannot make a semaphore (no writable /dev/shm), every call
    was a 500; now the emulator finds out at start-up and encodes in threads."""

    def no_shm(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(multiprocessing.synchronize.SemLock, "__init__", no_shm)
    monkeypatch.setattr(WORKERS, "_executor", None)  # as in a fresh process
    monkeypatch.setattr(WORKERS, "threads_only", False)
    monkeypatch.setattr(WORKERS, "checked", False)
    client, _ = emulator_client()
    video = await generate(client, seed=3)
    assert len(decoded(video)) == 150
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "worker processes cannot be made here ([Errno 13] Permission denied); encoding in threads"
    ]


async def test_cuts_fall_on_keyframes(emulator_client) -> None:
    client, _ = emulator_client()
    seed = next(
        s
        for s in range(1000)
        if len({seg.framing for seg in plan_segments(spec(s, duration=15, shots=3))}) == 3
    )
    frames = decoded(await generate(client, seed=seed, duration=15, multi_shots=True))
    jumps = changes(gray(frames))
    cuts = [i + 1 for i, jump in enumerate(jumps) if jump > 8 * (np.median(jumps) + 0.5)]
    assert cuts  # multi-shot videos cut between framings
    assert all(frames[i].key_frame for i in cuts)
    assert all(i % 30 == 0 for i in cuts)


def test_a_script_without_a_main_guard_renders_in_workers_and_runs_once(tmp_path) -> None:
    """Worker processes start without importing the program's main module again, so a
    plain script that uses the emulator in process is not run a second time."""
    script = tmp_path / "plain.py"
    script.write_text(
        "import asyncio, httpx\n"
        "from wan26.mockserver import Config, KeyConfig, MediaConfig, create_app\n"
        "print('top level ran', flush=True)\n"
        "async def main():\n"
        "    config = Config(keys=[KeyConfig(key='k')], time_scale=0,\n"
        "                    media=MediaConfig(offline=True, render_processes=2))\n"
        "    transport = httpx.ASGITransport(app=create_app(config))\n"
        "    async with httpx.AsyncClient(transport=transport, base_url='http://t') as c:\n"
        "        body = {'image': 'https://e.com/a.png', 'prompt': 'p', 'seed': 1}\n"
        "        answer = await c.post('/v1/wan-2.6-i2v', json=body, headers={'x-api-key': 'k'})\n"
        "        print('status', answer.status_code, flush=True)\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert result.stdout.count("top level ran") == 1, result.stdout + result.stderr
    assert "status 200" in result.stdout
    assert "Traceback" not in result.stderr


def test_encoding_workers_exit_when_the_emulator_is_killed() -> None:
    """After `kill -9` no worker is left waiting on its queue (holding memory, the port's
    log pipe)."""
    port = free_port()
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    command += ["--offline", "--time-scale", "0"]
    base = f"http://127.0.0.1:{port}"
    with running_command(command, f"{base}/_mock/health", {}) as proc:
        body = {"image": "https://e.com/a.png", "prompt": "p", "seed": 1}
        answer = httpx.post(
            f"{base}/v1/wan-2.6-i2v",
            json=body,
            headers={"x-api-key": "wan26-mock-key"},
            timeout=120,
        )
        assert answer.status_code == 200
        workers = [
            int(pid)
            for task in Path(f"/proc/{proc.pid}/task").iterdir()
            for pid in (task / "children").read_text().split()
        ]
        assert workers  # the render ran in worker processes
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    deadline = time.monotonic() + 30
    while any(map(running, workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(map(running, workers))


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's parent in a container may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_pictures_left_by_a_killed_emulator_are_removed_by_the_next(tmp_path: Path) -> None:
    """`kill -9` leaves its spool folder (pictures of 2.7 MB at 720p, held longer while
    segments are encoded ahead); the next process's first spool removes it."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    orphan = Path(tempfile.gettempdir()) / f"{SPOOL_PREFIX}{gone.stdout.strip()}-test"
    orphan.mkdir()
    (orphan / "picture.rgb").write_bytes(b"x" * 1024)
    mine = spool_dir.__wrapped__()
    try:
        assert not orphan.exists()
        assert spool_dir().exists()  # a live process's folder stays
    finally:
        shutil.rmtree(mine, ignore_errors=True)


def test_a_worker_prepares_a_known_image_once_for_all_its_videos() -> None:
    """Each video spools its picture to a new file; a worker keyed its prepared (cropped,
    scaled, converted) picture by that file, so every new seed of a known image paid
    for the preparation again."""
    image = Image.new("RGB", (320, 180), (90, 120, 150))
    first, second = (Picture.spool(image, "the same image") for _ in range(2))
    try:
        _framed_planes.cache_clear()
        encode_segment(first, (320, 180), 30, Segment(0, 0, 1))
        encode_segment(second, (320, 180), 30, Segment(0, 1, 2))
        assert _framed_planes.cache_info().misses == 1
    finally:
        first.remove()
        second.remove()
