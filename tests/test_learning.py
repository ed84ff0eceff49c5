"""What a replaying emulator learns from a hand-made cassette for the calls it emulates:
error messages, extra headers, and run times once there are enough of them."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import make_config
from mediafiles import data_uri, image_bytes
from wan26.contracts.core.cassette import Cassette, new_exchange
from wan26.contracts.core.matching import describe
from wan26.mockserver import KeyConfig, create_app
from wan26.mockserver.config import CassetteConfig, LatencyConfig
from wan26.mockserver.recording.learning import MIN_RUN_TIMES, learn
from wan26.mockserver.server.background import running_server

SECRET = "sk-learning-5b1e77"
SLUG = "wan-2.6-i2v"
IMAGE = data_uri(image_bytes(640, 360), "image/png")
DOCUMENTED = 139.37


def call(body: Any, auth: str = "valid", version: int = 1) -> dict[str, Any]:
    validator = create_app(make_config()).state.emulator.models[SLUG].validator
    raw = json.dumps(body).encode()
    path = f"/v{version}/{SLUG}"
    return describe("POST", path, "", auth, "application/json", raw, validator)


def body(seed: int, **changes: Any) -> dict[str, Any]:
    return {"image": IMAGE, "prompt": "a lighthouse", "seed": seed, **changes}


def v1_success(cassette: Cassette, seed: int, seconds: float, **changes: Any) -> dict[str, Any]:
    headers = {
        "content-type": "video/mp4",
        "x-generation-time": f"{seconds:.2f}",
        "x-seed-value": str(seed),
        "x-request-id": f"id-{seed}",
        "x-served-by": "segmind-gpu-eu",
    }
    media = cassette.put_media(b"not really an mp4")
    response = {"status": 200, "headers": headers, "media": media}
    return new_exchange(call(body(seed, **changes)), response, 0.625)


def v2_success(cassette: Cassette, seed: int, processing_at: float, done_at: float) -> Any:
    media = cassette.put_media(b"another video")
    job = {
        "states": [
            {"status": "QUEUED", "at_s": 0.0},
            {"status": "PROCESSING", "at_s": processing_at},
            {"status": "COMPLETED", "at_s": done_at},
        ],
        "result": {"status": 200, "json": {"status": "COMPLETED", "output": None}},
        "media": media,
    }
    response = {"status": 200, "headers": {}, "json": {"status": "QUEUED"}}
    return {**new_exchange(call(body(seed), version=2), response, 0.625), "job": job}


def error(auth: str, seed: int, status: int, message: str, **headers: str) -> dict[str, Any]:
    response = {
        "status": status,
        "headers": {"content-type": "application/json", **headers},
        "json": {"error": message},
    }
    return new_exchange(call(body(seed), auth=auth), response, 0.0)


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    """Two v1 runs and one v2 run of 5 s 720p (100, 120, 140 s); two 10 s 1080p runs."""
    folder = tmp_path / "tape"
    tape = Cassette.open(folder, create=True)
    tape.add(v1_success(tape, 1, 100.0))
    tape.add(v1_success(tape, 2, 140.0))
    tape.add(v2_success(tape, 3, 4.0, 124.0))
    tape.add(v1_success(tape, 4, 300.0, duration=10, resolution="1080p"))
    tape.add(v1_success(tape, 5, 320.0, duration=10, resolution="1080p"))
    tape.add(error("absent", 6, 401, "Missing API key", **{"x-gateway": "edge-7"}))
    tape.add(error("invalid", 7, 401, "Invalid API key", **{"x-gateway": "edge-7"}))
    return folder


def replaying(folder: Path, **config: Any) -> Any:
    return create_app(
        make_config(
            keys=[KeyConfig(key=SECRET, credits=100.0)],
            cassette=CassetteConfig(mode="replay", dir=str(folder)),
            **config,
        )
    )


def test_run_times_are_learned_per_duration_and_resolution_from_enough_runs(
    cassette: Path,
) -> None:
    learned = learn(Cassette.open(cassette, create=False).exchanges)
    fits = learned.run_times[SLUG]
    assert MIN_RUN_TIMES == 3
    assert set(fits) == {(5.0, "720p")}  # two 10 s 1080p runs are not enough
    fit = fits[(5.0, "720p")]
    assert fit.count == 3 and fit.median_s == 120.0
    assert fit.sigma == pytest.approx(statistics.stdev(math.log(s) for s in (100, 120, 140)))
    latency = replaying(cassette).state.emulator.models[SLUG].latency
    assert latency.median_for(5, "720p") == 120.0
    assert latency.median_for(10, "1080p") == pytest.approx(DOCUMENTED * 2 * 1.5)


def test_an_emulated_call_takes_the_recorded_run_time(cassette: Path) -> None:
    app = replaying(cassette)
    with running_server(app) as url:
        answers = [
            httpx.post(
                f"{url}/v1/{SLUG}", json=body(100 + n), headers={"x-api-key": SECRET}, timeout=60
            )
            for n in range(6)
        ]
    assert all(a.status_code == 200 and a.headers["x-mock-cassette"] == "miss" for a in answers)
    times = [float(a.headers["x-generation-time"]) for a in answers]
    assert all(84 <= t <= 180 for t in times)  # around 120 s, within the latency clamp
    assert statistics.median(times) < DOCUMENTED - 5


def test_a_configured_median_wins_over_the_recording(cassette: Path) -> None:
    app = replaying(cassette, latency=LatencyConfig(median_s=50.0))
    assert app.state.emulator.models[SLUG].latency.median_for(5, "720p") == 50.0


def test_extra_headers_and_messages_reach_emulated_answers_of_the_same_kind(
    cassette: Path,
) -> None:
    learned = learn(Cassette.open(cassette, create=False).exchanges)
    assert learned.headers == {
        "v1 200": {"x-served-by": "segmind-gpu-eu"},
        "v1 401": {"x-gateway": "edge-7"},
    }
    with running_server(replaying(cassette)) as url:
        no_key = httpx.post(f"{url}/v1/{SLUG}", json=body(200))
        made = httpx.post(f"{url}/v1/{SLUG}", json=body(201), headers={"x-api-key": SECRET})
        hit = httpx.post(f"{url}/v1/{SLUG}", json=body(1), headers={"x-api-key": SECRET})
        credits = httpx.get(f"{url}/v1/get-user-credits", headers={"x-api-key": SECRET})
    assert no_key.headers["x-mock-cassette"] == "miss"
    assert no_key.json() == {"error": "Missing API key"}
    assert no_key.headers["x-gateway"] == "edge-7"
    assert made.headers["x-served-by"] == "segmind-gpu-eu"
    assert made.headers["x-request-id"] != "id-1"  # per-call headers are the emulator's own
    assert (
        hit.headers["x-mock-cassette"] == "hit" and hit.headers["x-served-by"] == "segmind-gpu-eu"
    )
    assert "x-served-by" not in credits.headers and "x-gateway" not in credits.headers


def test_a_cassette_as_recording_teaches_an_emulator_that_is_not_replaying(
    cassette: Path,
) -> None:
    app = create_app(make_config(recording=str(cassette)))
    with running_server(app) as url:
        no_key = httpx.post(f"{url}/v1/{SLUG}", json=body(200))
    assert no_key.json() == {"error": "Missing API key"}
    assert no_key.headers["x-gateway"] == "edge-7"
    assert app.state.emulator.models[SLUG].latency.median_for(5, "720p") == 120.0
