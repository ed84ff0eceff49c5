"""The harness catches drift: each drift profile of the emulator is reported, exactly that one,
with a message that names it; the faithful emulator shows none."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import API_KEY, make_config
from wan26.contracts.harness import checks
from wan26.contracts.harness.checks import Spec
from wan26.contracts.harness.fuzz import fuzz
from wan26.contracts.harness.probes import Target
from wan26.contracts.harness.report import Report
from wan26.contracts.harness.runner import is_emulator, make_plan, run
from wan26.contracts.harness.source import bundled
from wan26.mockserver import create_app
from wan26.mockserver.config import MediaConfig
from wan26.mockserver.core.drift import DriftConfig
from wan26.mockserver.server.background import running_server

SPEC = Spec.of(bundled().contract)


def check_against(drift: DriftConfig) -> Report:
    config = make_config(drift=drift, media=MediaConfig(offline=True))
    with running_server(create_app(config)) as url, httpx.Client(timeout=60) as http:
        emulator = is_emulator(http, url)
        source = bundled()
        plan = make_plan(SPEC, emulator=emulator, live=False, max_spend_usd=0)
        target = Target(url, API_KEY, http, emulator, poll_interval_s=0.02)
        return run(target, plan, source, live=False)


@pytest.fixture(scope="module")
def faithful() -> Iterator[Report]:
    yield check_against(DriftConfig())


def test_the_faithful_emulator_shows_no_drift(faithful: Report) -> None:
    assert faithful.failing == []
    assert {row.verdict for row in faithful.rows} == {"match"}
    assert len(faithful.rows) > 50


@pytest.mark.parametrize(
    ("drift", "category", "words"),
    [
        (DriftConfig(error_field="message"), "error-shape", "error field 'error' missing"),
        (DriftConfig(status_map={400: 422}), "status", "HTTP 422"),
        (DriftConfig(add_enum={"duration": [8]}), "enum", "enum value 8 added"),
        (DriftConfig(drop_enum={"duration": [15]}), "enum", "enum value 15 dropped"),
        (DriftConfig(drop_headers=["x-cost"]), "header", "missing: x-cost"),
        (DriftConfig(json_output=True), "body-type", "application/json"),
        (DriftConfig(failed_status=200), "status", "HTTP 200"),
        (DriftConfig(video_seconds_short=1), "video", "4.000 s"),
        (DriftConfig(video_size=[640, 360]), "video", "640x360"),
    ],
    ids=[
        "error-field-renamed",
        "400-becomes-422",
        "enum-value-added",
        "enum-value-dropped",
        "header-missing",
        "json-instead-of-mp4",
        "failed-served-as-200",
        "video-shorter",
        "video-wrong-size",
    ],
)
def test_each_drift_profile_is_caught(drift: DriftConfig, category: str, words: str) -> None:
    report = check_against(drift)
    failing = report.failing
    assert failing, "the drift went unnoticed"
    assert {row.category for row in failing} == {category}
    assert any(words in f"{row.observed} {row.detail}" for row in failing), failing
    assert report.to_markdown().count("**drift**") == len(failing)


@pytest.mark.parametrize(
    ("drift", "failing_operation"),
    [
        (DriftConfig(), None),
        (DriftConfig(drop_headers=["x-cost"]), "fuzz POST /v1/wan-2.6-i2v (positive)"),
        (DriftConfig(video_seconds_short=1), "fuzz POST /v1/wan-2.6-i2v (positive)"),
    ],
    ids=["faithful", "header-missing", "video-shorter"],
)
def test_schemathesis_pass_with_our_checks(
    drift: DriftConfig, failing_operation: str | None, tmp_path: Path
) -> None:
    config = make_config(drift=drift, media=MediaConfig(offline=True))
    with running_server(create_app(config)) as url, httpx.Client(timeout=60) as http:
        target = Target(url, API_KEY, http, True)
        rows = list(fuzz(target, SPEC, bundled().path, max_examples=6))
        drifted = [row for row in rows if row.verdict == "drift"]
        for row in drifted:
            assert_reproduces(row.detail, drift, tmp_path)
    assert len(rows) == 12  # six operations, positive and negative
    failing = [row.check for row in drifted]
    if failing_operation is None:
        assert failing == []
    else:
        # A negative case can end up valid (its only flaw an extra header that is not
        # sent), so the drift may show in the negative row of the same operation too.
        assert failing_operation in failing
        assert {check.rsplit(" (", 1)[0] for check in failing} == {
            failing_operation.rsplit(" (", 1)[0]
        }, [r.observed for r in drifted]
        markdown = Report("t", url, rows=rows).to_markdown()
        assert "## Details" in markdown and "Reproduce with:" in markdown


def assert_reproduces(detail: str, drift: DriftConfig, folder: Path) -> None:
    """The curl command in a fuzz failure's detail, run as it stands (with the key put in
    place of [Filtered]), shows the same drift."""
    line = next(x.strip() for x in detail.splitlines() if x.strip().startswith("curl "))
    command = shlex.split(line.replace("[Filtered]", API_KEY))
    body = json.loads(command[command.index("-d") + 1])
    video = folder / "reproduced.mp4"
    done = subprocess.run(
        [*command, "-s", "-D", "-", "-o", str(video)], capture_output=True, text=True, timeout=60
    )
    headers = done.stdout.lower()
    assert headers.startswith("http/1.1 200"), done.stdout
    if drift.drop_headers:
        assert "x-seed-value:" in headers and "x-cost:" not in headers
    else:
        asked = body.get("duration", 5)
        rows = checks.video("again", video.read_bytes(), SPEC.model.output, asked, None)
        [duration] = [r for r in rows if r.check == "again/video-duration"]
        assert duration.observed == f"{asked - 1:.3f} s"
