"""`wan26-contracts run`: reports in three formats, exit codes, and a live mode that never
spends beyond its budget (proven against a stand-in that counts charged calls)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from segmind import SegmindClient
from starlette.applications import Starlette

from conftest import API_KEY, make_config
from wan26.contracts.cli import main
from wan26.contracts.core.cassette import INDEX
from wan26.contracts.harness.probes import input_image
from wan26.mockserver import create_app
from wan26.mockserver.config import CassetteConfig, ControlConfig, KeyConfig, MediaConfig
from wan26.mockserver.core.drift import DriftConfig
from wan26.mockserver.server.background import free_port, running_server
from wan26.mockserver.testing.handle import MockHandle

SECRET = "sk-live-very-secret-key-1234"


@pytest.fixture
def emulator_url() -> Iterator[str]:
    config = make_config(media=MediaConfig(offline=True))
    with running_server(create_app(config)) as url:
        yield url


def fake_live_api() -> Starlette:
    """The emulator with its control plane off: from outside, just a paid API."""
    return create_app(
        make_config(
            keys=[KeyConfig(key=SECRET, credits=100.0)], control=ControlConfig(enabled=False)
        )
    )


def test_run_against_the_emulator_passes_and_writes_every_report(
    emulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md, js, xml = tmp_path / "r.md", tmp_path / "r.json", tmp_path / "r.xml"
    code = main(
        [
            "run",
            "--base-url",
            emulator_url,
            "--api-key",
            API_KEY,
            "--report-md",
            str(md),
            "--report-json",
            str(js),
            "--junit",
            str(xml),
        ]
    )
    assert code == 0
    report = json.loads(js.read_text())
    assert set(report["counts"]) == {"match"} and report["counts"]["match"] > 50
    assert "| v1-generate/video-size | match | 1280x720 | 1280x720 |" in md.read_text()
    assert xml.read_text().count("<testcase") == len(report["rows"])
    err = capsys.readouterr().err
    assert "no real money spent" in err and "forced-429" in err


def test_drift_exits_1_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(drift=DriftConfig(drop_headers=["x-seed-value"]))
    with running_server(create_app(config)) as url:
        assert main(["run", "--base-url", url, "--api-key", API_KEY]) == 1
    assert "DRIFT        v1-generate/headers" in capsys.readouterr().out


def test_harness_failures_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--base-url", f"http://127.0.0.1:{free_port()}"]) == 2
    assert "cannot reach" in capsys.readouterr().err


def test_live_mode_needs_a_key(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    assert main(["run", "--live"]) == 2
    assert "--live needs SEGMIND_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(("budget", "charged"), [(0, 0), (0.7, 1), (1.25, 2), (10, 2)])
def test_live_mode_never_spends_beyond_its_budget(
    budget: float, charged: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = fake_live_api()
    record = tmp_path / "observed"
    report = tmp_path / "live.md"
    with running_server(app) as url:
        code = main(
            [
                "run",
                "--live",
                "--base-url",
                url,
                "--api-key",
                SECRET,
                "--max-spend-usd",
                str(budget),
                "--record",
                str(record),
                "--report-md",
                str(report),
                "--wait-s",
                "60",
            ]
        )
    spent = MockHandle(app.state.emulator).journal(charged=True)
    assert len(spent) == charged
    assert sum(e["charged_usd"] for e in spent) <= budget
    assert code == 0
    out, err = capsys.readouterr()
    assert err.startswith("plan:") and ("$" in err.splitlines()[0] or budget == 0)
    assert SECRET not in out + err + report.read_text()
    files = [path for path in record.rglob("*") if path.is_file()]
    assert all(SECRET.encode() not in path.read_bytes() for path in files)
    tape = json.loads((record / INDEX).read_text())
    assert tape["spent_usd"] == pytest.approx(sum(e["charged_usd"] for e in spent))
    by_status = {(e["request"]["auth"], e["response"]["status"]) for e in tape["exchanges"]}
    assert {("absent", 401), ("invalid", 401), ("valid", 400)} <= by_status
    videos = [e for e in tape["exchanges"] if e["response"].get("media") or "job" in e]
    assert len(videos) == charged
    stored = list((record / "media").glob("*.mp4"))  # one file per distinct video
    assert len(stored) <= charged and bool(stored) == bool(charged)


@pytest.mark.skipif(
    not (os.environ.get("WAN26_LIVE") == "1" and os.environ.get("SEGMIND_API_KEY")),
    reason="live check of api.segmind.com: set WAN26_LIVE=1 and SEGMIND_API_KEY (free probes)",
)
def test_the_live_api_still_matches_the_contract(tmp_path: Path) -> None:
    assert main(["run", "--live", "--report-md", str(tmp_path / "live.md")]) == 0


def test_a_recording_makes_the_emulator_answer_like_the_real_service(tmp_path: Path) -> None:
    live = create_app(
        make_config(
            keys=[KeyConfig(key=SECRET)],
            control=ControlConfig(enabled=False),
            messages={"missing-key": "API key required {see docs}", "not-found": "No such model"},
        )
    )
    record = tmp_path / "observed"
    with running_server(live) as url:
        main(["run", "--live", "--base-url", url, "--api-key", SECRET, "--record", str(record)])
    emulator = create_app(make_config(recording=str(record)))
    with running_server(emulator) as url:
        missing = httpx.post(f"{url}/v1/wan-2.6-i2v", json={})
        unknown = httpx.post(f"{url}/v1/nope", json={}, headers={"x-api-key": API_KEY})
    assert missing.json() == {"error": "API key required {see docs}"}
    assert unknown.json() == {"error": "No such model"}


def test_an_old_json_recording_still_gives_its_messages(tmp_path: Path) -> None:
    old = tmp_path / "observed.json"
    old.write_text(json.dumps({"auth-missing": {"status": 401, "error": "Key please"}}))
    with running_server(create_app(make_config(recording=str(old)))) as url:
        assert httpx.post(f"{url}/v1/wan-2.6-i2v", json={}).json() == {"error": "Key please"}


def test_a_harness_recording_replays_with_the_service_gone(tmp_path: Path) -> None:
    record = tmp_path / "tape"
    live = fake_live_api()
    with running_server(live) as url:
        argv = ["run", "--live", "--base-url", url, "--api-key", SECRET, "--record", str(record)]
        assert main([*argv, "--max-spend-usd", "2", "--wait-s", "60"]) == 0
        body = {
            "image": input_image(),
            "prompt": "A slow pan over a gradient",
            "duration": 5,
            "resolution": "720p",
        }
        real = httpx.post(f"{url}/v1/wan-2.6-i2v", json=body, headers={"x-api-key": "nope"})
    charged = len(MockHandle(live.state.emulator).journal(charged=True))
    replay = create_app(
        make_config(
            keys=[KeyConfig(key=SECRET)],
            cassette=CassetteConfig(mode="replay", dir=str(record), on_miss="error"),
        )
    )
    with running_server(replay) as url:
        v1 = httpx.post(f"{url}/v1/wan-2.6-i2v", json=body, headers={"x-api-key": SECRET})
        refused = httpx.post(f"{url}/v1/wan-2.6-i2v", json=body, headers={"x-api-key": "nope"})
        job = SegmindClient(api_key=SECRET, base_url=f"{url}/v1").run("wan-2.6-i2v", **body)
        v2_video = httpx.get(job["output"]).content
    assert charged == 2
    assert v1.headers["x-mock-cassette"] == "hit" and v1.headers["content-type"] == "video/mp4"
    videos = {path.read_bytes() for path in (record / "media").glob("*.mp4")}
    assert v1.content in videos and v2_video in videos
    assert refused.headers["x-mock-cassette"] == "hit" and refused.json() == real.json()
    assert job["status"] == "COMPLETED"
