"""Record, replay and passthrough, with a second emulator standing in for the real service.

The upstream emulator counts what it charged (its journal and its account);
the recording emulator forwards to it with the caller's key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from segmind import SegmindClient
from segmind.v2 import InferenceFailed

from conftest import make_config
from mediafiles import data_uri, image_bytes
from wan26.contracts.core.cassette import INDEX
from wan26.mockserver import KeyConfig, create_app
from wan26.mockserver.cli import main
from wan26.mockserver.config import CassetteConfig, Config, ConfigError, QueueConfig
from wan26.mockserver.server.background import free_port, running_server
from wan26.mockserver.testing.handle import MockHandle

SECRET = "sk-live-cassette-7f3a9c21d4"
SLUG = "wan-2.6-i2v"
IMAGE = data_uri(image_bytes(640, 360), "image/png")
BODY = {"image": IMAGE, "prompt": "a lighthouse at dusk", "seed": 3}


@contextmanager
def serving(time_scale: float = 0.0, **cassette: Any) -> Iterator[tuple[str, Any]]:
    """An emulator on loopback that knows SECRET: the upstream, or (with `cassette`) the front."""
    config = make_config(
        keys=[KeyConfig(key=SECRET, credits=100.0)],
        seed=4321 if cassette else 1234,  # the upstream's ids are not the front's
        time_scale=time_scale,
        queue=QueueConfig(workers=2),
        cassette=CassetteConfig(poll_interval_s=0.02, **cassette),
    )
    app = create_app(config)
    with running_server(app) as url:
        yield url, app


def post(url: str, path: str, body: Any = None, key: str | None = SECRET, **kw: Any):
    headers = {"x-api-key": key} if key else {}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=120, **kw)


def charged(upstream_app: Any) -> list[dict[str, Any]]:
    return MockHandle(upstream_app.state.emulator).journal(charged=True)


def model_calls(upstream_app: Any) -> list[dict[str, Any]]:
    return MockHandle(upstream_app.state.emulator).journal(path=f"/v1/{SLUG}")


def assert_no_secret(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_v1_forwards_once_then_replays_identical_bytes_without_the_upstream(
    tmp_path: Path,
) -> None:
    with serving(time_scale=0.0) as (upstream, upstream_app):
        with serving(mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=1) as (
            front,
            front_app,
        ):
            first = post(front, f"/v1/{SLUG}", BODY)
            assert first.status_code == 200, first.text
            assert first.headers["x-mock-cassette"] == "recorded"
            assert first.headers["x-cost"] == "0.625"
            # Sending the defaults is the same call as omitting them.
            explicit = {**BODY, "duration": 5, "resolution": "720p", "multi_shots": False}
            again = post(front, f"/v1/{SLUG}", explicit)
            assert again.headers["x-mock-cassette"] == "hit"
            assert again.content == first.content
            entries = MockHandle(front_app.state.emulator).journal(path=f"/v1/{SLUG}")
            assert [e["cassette"] for e in entries] == ["recorded", "hit"]
        assert len(model_calls(upstream_app)) == 1
        assert [e["charged_usd"] for e in charged(upstream_app)] == [0.625]
    media = list((tmp_path / "media").glob("*.mp4"))
    assert len(media) == 1 and media[0].read_bytes() == first.content
    index = json.loads((tmp_path / INDEX).read_text())
    assert index["version"] == 1 and index["spent_usd"] == 0.625
    assert_no_secret(tmp_path)

    with serving(mode="replay", dir=str(tmp_path)) as (front, _):
        replayed = post(front, f"/v1/{SLUG}", BODY)
    assert replayed.headers["x-mock-cassette"] == "hit"
    assert replayed.content == first.content
    assert replayed.headers["x-seed-value"] == first.headers["x-seed-value"] == "3"
    assert replayed.headers["x-request-id"] != first.headers["x-request-id"]


FREE_CALLS = [
    ("credits", "GET", "/v1/get-user-credits", SECRET, None, {}),
    ("missing-key", "POST", f"/v1/{SLUG}", None, BODY, {}),
    ("invalid-key", "POST", f"/v1/{SLUG}", "not-a-real-key", BODY, {}),
    ("bad-duration", "POST", f"/v1/{SLUG}", SECRET, {**BODY, "duration": 7}, {}),
    ("unknown-model", "POST", "/v1/no-such-model", SECRET, BODY, {}),
    ("wrong-method", "GET", f"/v1/{SLUG}", SECRET, None, {}),
    ("content-type", "POST", f"/v1/{SLUG}", SECRET, None, {"content-type": "text/plain"}),
]


def send(url: str, method: str, path: str, key: str | None, body: Any, headers: dict):
    sent = {**({"x-api-key": key} if key else {}), **headers}
    content = json.dumps(body if body is not None else BODY) if method == "POST" else None
    if "content-type" not in headers and content is not None:
        sent["content-type"] = "application/json"
    return httpx.request(method, f"{url}{path}", content=content, headers=sent, timeout=60)


def test_free_calls_and_errors_are_recorded_within_a_zero_budget_and_replayed(
    tmp_path: Path,
) -> None:
    with serving() as (upstream, upstream_app):
        with serving(mode="record", dir=str(tmp_path), upstream=upstream) as (front, _):
            recorded = {name: send(front, *call) for name, *call in FREE_CALLS}
        assert charged(upstream_app) == []
    assert {name: answer.status_code for name, answer in recorded.items()} == {
        "credits": 200,
        "missing-key": 401,
        "invalid-key": 401,
        "bad-duration": 400,
        "unknown-model": 404,
        "wrong-method": 405,
        "content-type": 406,
    }
    assert all(a.headers["x-mock-cassette"] == "recorded" for a in recorded.values())
    index = json.loads((tmp_path / INDEX).read_text())
    credits = next(e for e in index["exchanges"] if e["request"]["path"].endswith("credits"))
    assert credits["response"]["json"] == {"credits": None, "free-credits": None}

    with serving(mode="replay", dir=str(tmp_path), on_miss="error") as (front, front_app):
        MockHandle(front_app.state.emulator).set_key(SECRET, credits=42.5)
        replayed = {name: send(front, *call) for name, *call in FREE_CALLS}
    for name, answer in replayed.items():
        assert answer.headers["x-mock-cassette"] == "hit", name
        assert answer.status_code == recorded[name].status_code, name
        if name != "credits":
            assert answer.content == recorded[name].content, name
    # Balances are not kept unless asked: the replay reports the local account's.
    assert replayed["credits"].json() == {"credits": 42.5, "free-credits": 0.0}
    assert "Invalid parameter 'duration'" in replayed["bad-duration"].json()["error"]
    assert replayed["invalid-key"].json() == {"error": "User authentication failed"}


def test_sdk_run_on_v2_is_recorded_then_replayed_with_the_upstream_gone(tmp_path: Path) -> None:
    with serving(time_scale=0.004) as (upstream, upstream_app):
        with serving(mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=0.625) as (
            front,
            _,
        ):
            sdk = SegmindClient(api_key=SECRET, base_url=f"{front}/v1")
            result = sdk.run(SLUG, **BODY)
            assert result["status"] == "COMPLETED" and result["output"].startswith(front)
            video = httpx.get(result["output"]).content
        assert [e["path"] for e in charged(upstream_app)] == [f"/v2/{SLUG}"]
    job = json.loads((tmp_path / INDEX).read_text())["exchanges"][0]["job"]
    states = [state["status"] for state in job["states"]]
    assert states[0] == "QUEUED" and states[-1] == "COMPLETED"
    assert [s["at_s"] for s in job["states"]] == sorted(s["at_s"] for s in job["states"])
    assert (tmp_path / "media" / f"{job['media']}.mp4").read_bytes() == video
    assert_no_secret(tmp_path)

    with serving(time_scale=1.0, mode="replay", dir=str(tmp_path), on_miss="error") as (
        front,
        _,
    ):
        sdk = SegmindClient(api_key=SECRET, base_url=f"{front}/v1")
        replayed = sdk.run(SLUG, **BODY)
        assert replayed["status"] == "COMPLETED"
        assert replayed["request_id"] != result["request_id"]
        assert replayed["metrics"] == result["metrics"]
        assert httpx.get(replayed["output"]).content == video


def test_concurrent_calls_never_pass_the_budget_and_the_spend_persists(tmp_path: Path) -> None:
    bodies = [{**BODY, "seed": seed} for seed in range(10)]
    with serving(time_scale=0.002) as (upstream, upstream_app):
        recording = serving(
            mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=1.875
        )
        with recording as (front, _), ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda b: post(front, f"/v1/{SLUG}", b), bodies))
        assert sorted(a.status_code for a in answers) == [200] * 3 + [402] * 7
        assert len(charged(upstream_app)) == 3
        assert len(model_calls(upstream_app)) == 3  # the refused calls were never sent
        refused = next(a for a in answers if a.status_code == 402)
        assert refused.json()["error"].startswith("Budget exceeded: this call costs $0.625")
        assert json.loads((tmp_path / INDEX).read_text())["spent_usd"] == 1.875

        # A later session on the same cassette starts from what was already spent.
        with serving(mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=2) as (
            front,
            _,
        ):
            assert post(front, f"/v1/{SLUG}", {**BODY, "seed": 99}).status_code == 402
            credits = httpx.get(f"{front}/v1/get-user-credits", headers={"x-api-key": SECRET})
            assert credits.status_code == 200  # free calls always go through
            replayed = [post(front, f"/v1/{SLUG}", b) for b in bodies]
        assert len(charged(upstream_app)) == 3
    assert sum(a.headers["x-mock-cassette"] == "hit" for a in replayed) == 3


def test_a_recorder_forwards_every_balance_and_a_replay_says_when_it_was_recorded(
    tmp_path: Path,
) -> None:
    def balance(url: str) -> httpx.Response:
        return httpx.get(f"{url}/v1/get-user-credits", headers={"x-api-key": SECRET})

    with serving() as (upstream, _):
        recording = serving(
            mode="record",
            dir=str(tmp_path),
            upstream=upstream,
            max_spend_usd=2,
            record_credits=True,
        )
        with recording as (front, _):
            assert balance(front).json()["credits"] == 100.0
            for seed in (1, 2):
                assert post(front, f"/v1/{SLUG}", {**BODY, "seed": seed}).status_code == 200
            after = balance(front)
        assert after.json() == balance(upstream).json() == {"credits": 98.75, "free-credits": 0.0}
    assert after.headers["x-mock-cassette"] == "miss"  # forwarded; the first balance is kept
    [kept] = [
        e
        for e in json.loads((tmp_path / INDEX).read_text())["exchanges"]
        if e["request"]["method"] == "GET"
    ]
    assert kept["response"]["json"]["credits"] == 100.0

    with serving(mode="replay", dir=str(tmp_path)) as (front, _):
        replayed = balance(front)
        video = post(front, f"/v1/{SLUG}", {**BODY, "seed": 1})
    assert replayed.headers["x-mock-cassette"] == "hit" and replayed.json()["credits"] == 100.0
    assert replayed.headers["x-mock-recorded-at"] == kept["recorded_at"]
    assert datetime.fromisoformat(video.headers["x-mock-recorded-at"]) <= datetime.now(UTC)


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_cassette(tmp_path_factory)


def record_cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recorded v1 generation and one credits call."""
    folder = tmp_path_factory.mktemp("cassette")
    with (
        serving() as (upstream, _),
        serving(mode="record", dir=str(folder), upstream=upstream, max_spend_usd=1) as (front, _),
    ):
        assert post(front, f"/v1/{SLUG}", BODY).status_code == 200
        assert httpx.get(f"{front}/v1/get-user-credits", headers={"x-api-key": SECRET}).is_success
    return folder


def test_a_miss_is_refused_with_the_nearest_recording_and_what_differs(cassette: Path) -> None:
    with serving(mode="replay", dir=str(cassette), on_miss="error") as (front, front_app):
        answer = post(front, f"/v1/{SLUG}", {**BODY, "duration": 10})
    assert answer.status_code == 404
    assert answer.headers["x-mock-cassette"] == "miss"
    error = answer.json()["error"]
    index = json.loads((cassette / INDEX).read_text())
    recorded = next(e for e in index["exchanges"] if e["request"]["method"] == "POST")
    assert f"nearest recording {recorded['fingerprint']}" in error
    assert "body.duration: recorded 5, sent 10" in error
    [entry] = MockHandle(front_app.state.emulator).journal(path=f"/v1/{SLUG}")
    assert entry["cassette"] == "miss"
    assert entry["cassette_miss"]["nearest"] == recorded["fingerprint"]


def test_a_miss_is_emulated_by_default_and_says_so(cassette: Path) -> None:
    with serving(mode="replay", dir=str(cassette)) as (front, front_app):
        answer = post(front, f"/v1/{SLUG}", {**BODY, "seed": 4})
        unknown_key = post(front, f"/v1/{SLUG}", BODY, key="someone-else")
    assert answer.status_code == 200 and answer.headers["x-mock-cassette"] == "miss"
    assert answer.headers["x-seed-value"] == "4"
    # An unknown key is a refused key here: no recording of that, so the emulator's 401.
    assert unknown_key.status_code == 401 and unknown_key.headers["x-mock-cassette"] == "miss"
    [entry, _] = MockHandle(front_app.state.emulator).journal(path=f"/v1/{SLUG}")
    assert entry["cassette_miss"]["differs"] == ["body.seed: recorded 3, sent 4"]


def test_an_unknown_path_says_it_missed_the_cassette(cassette: Path) -> None:
    """Every answer outside `/_mock` carries `x-mock-cassette`, the 404 of a path no route
    knows included (it is answered inside the cassette's layer)."""
    with serving(mode="replay", dir=str(cassette)) as (front, _):
        answer = httpx.get(f"{front}/v3/nothing", headers={"x-api-key": SECRET})
    assert answer.status_code == 404 and answer.json() == {"error": "Not Found"}
    assert answer.headers["x-mock-cassette"] == "miss"


def test_passthrough_forwards_everything_and_keeps_the_journal(tmp_path: Path) -> None:
    with serving(time_scale=0.004) as (upstream, upstream_app):
        with serving(mode="passthrough", upstream=upstream) as (front, front_app):
            sdk = SegmindClient(api_key=SECRET, base_url=f"{front}/v1")
            result = sdk.run(SLUG, **BODY)
            assert result["status"] == "COMPLETED"
            paths = {e["path"] for e in MockHandle(front_app.state.emulator).journal()}
            tags = {e["cassette"] for e in MockHandle(front_app.state.emulator).journal()}
        assert len(charged(upstream_app)) == 1
    assert f"/v2/{SLUG}" in paths and any(p.endswith("/status") for p in paths)
    assert tags == {"miss"}
    assert list(tmp_path.iterdir()) == []


def test_cli_settings_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--replay", str(tmp_path), "--port", "0"]) == 2
    assert "no cassette at" in capsys.readouterr().err
    assert main(["serve", "--replay", str(tmp_path), "--upstream", "http://x", "--port", "0"]) == 2
    assert "--replay forwards nothing" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"cassette\.on_miss"):
        CassetteConfig(mode="replay", dir="x", on_miss="ignore")
    from_yaml = Config.from_mapping(
        {"cassette": {"mode": "record", "dir": "x", "max_spend_usd": "2"}}
    )
    assert from_yaml.cassette.max_spend_usd == 2.0
    with pytest.raises(ConfigError, match=r"needs cassette\.dir"):
        Config.from_mapping({"cassette": {"mode": "replay"}})


def test_a_failed_job_is_recorded_uncharged_and_replayed_as_failed(tmp_path: Path) -> None:
    with serving(time_scale=0.004) as (upstream, upstream_app):
        MockHandle(upstream_app.state.emulator).fail_next(
            "job-failed; message=Content policy violation", path="/v2/"
        )
        with serving(mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=0.625) as (
            front,
            _,
        ):
            sdk = SegmindClient(api_key=SECRET, base_url=f"{front}/v1")
            with pytest.raises(InferenceFailed) as recorded:
                sdk.run(SLUG, **BODY)
            # The budget was released: a second paid call still fits.
            assert post(front, f"/v1/{SLUG}", {**BODY, "seed": 5}).status_code == 200
        assert [e["path"] for e in charged(upstream_app)] == [f"/v1/{SLUG}"]
    assert recorded.value.detail == "Content policy violation"

    with serving(mode="replay", dir=str(tmp_path), on_miss="error") as (front, _):
        sdk = SegmindClient(api_key=SECRET, base_url=f"{front}/v1")
        job = sdk.submit_async(SLUG, **BODY)
        with pytest.raises(InferenceFailed) as replayed:
            job.wait(timeout=30, interval=0.05)
        result = httpx.get(job.response_url, headers={"x-api-key": SECRET})
    assert replayed.value.detail == "Content policy violation"
    assert result.status_code == 422 and result.json()["request_id"] == job.request_id
    assert result.headers["x-mock-cassette"] == "hit"


def test_a_call_without_a_seed_replays_the_recorded_seed(tmp_path: Path) -> None:
    seedless = {name: value for name, value in BODY.items() if name != "seed"}
    with (
        serving() as (upstream, _),
        serving(mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=1) as (front, _),
    ):
        first = post(front, f"/v1/{SLUG}", seedless)
    with serving(mode="replay", dir=str(tmp_path), on_miss="error") as (front, _):
        again = post(front, f"/v1/{SLUG}", {**seedless, "seed": None})
    assert again.headers["x-mock-cassette"] == "hit"
    assert again.headers["x-seed-value"] == first.headers["x-seed-value"]
    assert again.content == first.content


PLUGIN_USER_TESTS = """
import httpx
import json
from pathlib import Path

BODY = json.loads(Path({body!r}).read_text())
VIDEO = Path({video!r}).read_bytes()


def test_replayed(wan26_server, wan26_mock):
    answer = httpx.post(f"{{wan26_server}}/v1/wan-2.6-i2v", json=BODY,
                        headers={{"x-api-key": wan26_mock.api_key}}, timeout=60)
    assert answer.headers["x-mock-cassette"] == "hit"
    assert answer.content == VIDEO


def test_unrecorded(wan26_server, wan26_mock):
    answer = httpx.post(f"{{wan26_server}}/v1/wan-2.6-i2v", json={{**BODY, "seed": 8}},
                        headers={{"x-api-key": wan26_mock.api_key}}, timeout=60)
    assert answer.status_code == 404
    assert "body.seed: recorded 3, sent 8" in answer.json()["error"]
"""


def first_media(folder: Path) -> Path:
    return next((folder / "media").glob("*.mp4"))


def test_the_pytest_plugin_replays_a_cassette_from_its_option(
    cassette: Path, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps(BODY))
    video = str(first_media(cassette))
    pytester.makepyfile(test_user=PLUGIN_USER_TESTS.format(body=str(body), video=video))
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "--wan26-replay", str(cassette), "--wan26-on-miss", "error"
    )
    result.assert_outcomes(passed=2)


def test_an_emulated_miss_speaks_with_the_recorded_messages(tmp_path: Path) -> None:
    real_words = {
        "missing-key": "No key, no video",
        "invalid-key": "Unauthorized. API key is invalid or may have expired",
    }
    config = make_config(keys=[KeyConfig(key=SECRET)], messages=real_words)
    with (
        running_server(create_app(config)) as upstream,
        serving(mode="record", dir=str(tmp_path), upstream=upstream) as (front, _),
    ):
        assert post(front, f"/v1/{SLUG}", BODY, key=None).status_code == 401
        assert post(front, f"/v1/{SLUG}", BODY, key="not-a-real-key").status_code == 401
    with serving(mode="replay", dir=str(tmp_path)) as (front, _):
        other = {**BODY, "seed": 77}
        missing = post(front, f"/v1/{SLUG}", other, key=None)
        refused = post(front, f"/v1/{SLUG}", other, key="another-bad-key")
    assert missing.headers["x-mock-cassette"] == refused.headers["x-mock-cassette"] == "miss"
    assert missing.json() == {"error": "No key, no video"}
    assert refused.json() == {"error": real_words["invalid-key"]}


def test_the_dashboards_figures_show_the_mode_and_how_calls_fared(tmp_path: Path) -> None:
    with serving() as (upstream, _):
        recorder = serving(mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=1)
        with recorder as (front, _):
            assert post(front, f"/v1/{SLUG}", BODY).headers["x-mock-cassette"] == "recorded"
    with serving(mode="replay", dir=str(tmp_path)) as (front, _):
        assert post(front, f"/v1/{SLUG}", BODY).headers["x-mock-cassette"] == "hit"
        other = {**BODY, "seed": 4}
        assert post(front, f"/v1/{SLUG}", other).headers["x-mock-cassette"] == "miss"
        stats = httpx.get(f"{front}/_mock/stats").json()
        journal = httpx.get(f"{front}/_mock/journal").json()["entries"]
    assert stats["cassette"] == {"mode": "replay", "calls": {"hit": 1, "recorded": 0, "miss": 1}}
    assert [entry["cassette"] for entry in journal] == ["hit", "miss"]


def test_a_dead_upstream_is_a_json_502_and_nothing_is_spent_or_recorded(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with serving(mode="record", dir=str(tmp_path), upstream=dead, max_spend_usd=1) as (front, _):
        answer = post(front, f"/v1/{SLUG}", BODY)
        credits = httpx.get(f"{front}/v1/get-user-credits", headers={"x-api-key": SECRET})
    assert answer.status_code == 502 and credits.status_code == 502
    assert answer.json()["error"].startswith(f"Upstream {dead} did not answer")
    assert answer.headers["x-mock-cassette"] == "miss"
    assert not (tmp_path / INDEX).exists()  # nothing recorded, nothing spent
    assert_no_secret(tmp_path)


def test_a_call_that_never_reached_the_upstream_spends_nothing_of_the_budget() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with serving(mode="passthrough", upstream=dead, max_spend_usd=0.625) as (front, _):
        answers = [post(front, f"/v1/{SLUG}", BODY) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [502, 502]  # not a 402 the second time


@pytest.mark.anyio
async def test_recording_a_v2_call_without_the_lifespan_is_a_503_and_sends_nothing(
    tmp_path: Path,
) -> None:
    """The recorder that follows an upstream job runs in the app's lifespan: without it
    (httpx's in-process transport runs none) the call is refused before it costs anything."""
    with serving() as (upstream, upstream_app):
        cassette = CassetteConfig(
            mode="record", dir=str(tmp_path), upstream=upstream, max_spend_usd=1
        )
        front = create_app(make_config(keys=[KeyConfig(key=SECRET)], cassette=cassette))
        transport = httpx.ASGITransport(app=front)
        async with httpx.AsyncClient(transport=transport, base_url="http://front.test") as client:
            answer = await client.post(f"/v2/{SLUG}", json=BODY, headers={"x-api-key": SECRET})
        v2_calls = MockHandle(upstream_app.state.emulator).journal(path=f"/v2/{SLUG}")
    assert answer.status_code == 503
    assert "serve the app through its lifespan" in answer.json()["error"]
    assert v2_calls == [] and charged(upstream_app) == []
    assert not (tmp_path / INDEX).exists()  # nothing recorded, nothing spent
