"""The harness under stress: a real-time emulator, a target that times out, drops or
goes away mid-run, Ctrl-C, a bad contract file. A report is always written and says why."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import API_KEY, make_config
from wan26.contracts.cli import main
from wan26.contracts.core.extras import version
from wan26.contracts.harness.checks import Spec
from wan26.contracts.harness.probes import Target
from wan26.contracts.harness.report import Report
from wan26.contracts.harness.runner import make_plan, run
from wan26.contracts.harness.source import bundled
from wan26.mockserver import Config, create_app
from wan26.mockserver.config import DEFAULT_API_KEY, MediaConfig
from wan26.mockserver.server.background import running_server
from wan26.mockserver.testing.handle import MockHandle

REAL_TIME_V1_S = 120  # one real-time 5 s 720p generation takes ~139 s


@pytest.fixture
def wan26_config(wan26_config: Config) -> Config:
    """The emulator as `wan26-mock serve` starts it: real time."""
    return wan26_config.replace(time_scale=1.0)


def reports(tmp_path: Path) -> tuple[Path, Path, Path, list[str]]:
    md, js, xml = tmp_path / "r.md", tmp_path / "r.json", tmp_path / "r.xml"
    return md, js, xml, ["--report-md", str(md), "--report-json", str(js), "--junit", str(xml)]


def time_scale(url: str) -> float:
    return httpx.get(f"{url}/_mock/settings").json()["time_scale"]


def test_a_real_time_emulator_is_checked_in_seconds_and_left_as_it_was(
    wan26_server: str, tmp_path: Path
) -> None:
    md, js, xml, options = reports(tmp_path)
    started = time.monotonic()
    code = main(["run", "--base-url", wan26_server, "--fuzz", "1", *options])
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < REAL_TIME_V1_S, "a generation waited its real time"
    assert time_scale(wan26_server) == 1.0
    report = json.loads(js.read_text())
    assert report["complete"] is True and report["stopped"] is None
    assert "emulator time scale 1 -> 0 for this run; restored to 1" in report["notes"]
    rows = {row["check"]: row for row in report["rows"]}
    assert rows["v1-generate/video-duration"]["verdict"] == "match"
    assert rows["v2-lifecycle/states"]["verdict"] == "match"
    assert "restored to 1" in md.read_text()
    assert ET.parse(xml).getroot().find("testsuite").get("errors") == "0"


def test_every_report_states_time_version_target_and_contract_hash(
    wan26_server: str, tmp_path: Path
) -> None:
    md, js, xml, options = reports(tmp_path)
    before = time.time()
    assert main(["run", "--base-url", wan26_server, "--fuzz", "0", *options]) == 0
    contract = bundled()
    report = json.loads(js.read_text())
    started = report["started_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", started)
    assert before - 1 <= datetime.fromisoformat(started).timestamp() <= time.time()
    expected = {
        "started_at": started,
        "tool_version": version(),
        "target": wan26_server,
        "contract": str(contract.path),
        "contract_sha256": contract.sha256,
    }
    assert {name: report[name] for name in expected} == expected
    text = md.read_text()
    assert all(f"`{value}`" in text for value in expected.values())
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite.get("timestamp") == started
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == expected


def test_a_probe_that_times_out_stops_the_run_with_every_report_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--keep-time-scale leaves a slow emulator slow: the v1 generation outlasts the timeout."""
    config = make_config(time_scale=0.05, media=MediaConfig(offline=True))
    md, js, xml, options = reports(tmp_path)
    with running_server(create_app(config)) as url:
        code = main(
            [
                "run",
                "--base-url",
                url,
                "--api-key",
                API_KEY,
                "--keep-time-scale",
                "--timeout-s",
                "2",
                *options,
            ]
        )
        assert time_scale(url) == 0.05
    assert code == 2
    report = json.loads(js.read_text())
    assert report["complete"] is False
    assert report["stopped"].startswith("probe v1-generate failed: ReadTimeout")
    rows = {row["check"]: row["verdict"] for row in report["rows"]}
    assert rows["auth-missing/status"] == "match" and rows["credits/schema"] == "match"
    assert rows["v1-generate"] == "inconclusive"
    assert "forced-429/status" not in rows
    assert any(note.startswith("not run: v2-lifecycle, forced-403") for note in report["notes"])
    assert "Run stopped before it finished: probe v1-generate failed" in md.read_text()
    error = ET.parse(xml).getroot().find("testsuite/testcase/error")
    assert error is not None and "ReadTimeout" in error.get("message")
    assert "stopped early: probe v1-generate" in capsys.readouterr().err


def test_a_target_that_drops_the_connection_mid_run_still_gets_its_reports(
    tmp_path: Path,
) -> None:
    config = make_config(media=MediaConfig(offline=True))
    md, js, xml, options = reports(tmp_path)
    with running_server(create_app(config)) as url:
        httpx.post(
            f"{url}/_mock/scenarios",
            json={"outcome": "empty-response", "times": 100, "path": "/v1/get-user-credits"},
        ).raise_for_status()
        code = main(["run", "--base-url", url, "--api-key", API_KEY, *options])
    assert code == 2
    report = json.loads(js.read_text())
    assert re.match(r"probe credits failed: (RemoteProtocolError|ReadError)", report["stopped"])
    assert report["counts"]["match"] >= 10  # the probes before it
    assert "Run stopped before it finished" in md.read_text()
    assert ET.parse(xml).getroot().find("testsuite").get("errors") == "1"


def counting_client(hook_at: int, action) -> httpx.Client:
    """A client that calls `action` just before its `hook_at`-th request."""
    sent = 0

    def before(request: httpx.Request) -> None:
        nonlocal sent
        sent += 1
        if sent == hook_at:
            action()

    return httpx.Client(timeout=30, event_hooks={"request": [before]})


def run_harness(url: str, http: httpx.Client) -> Report:
    source = bundled()
    plan = make_plan(Spec.of(source.contract), emulator=True, live=False, max_spend_usd=0)
    target = Target(url, DEFAULT_API_KEY, http, True, poll_interval_s=0.02)
    return run(target, plan, source, live=False, fuzz_examples=1)


def test_a_target_that_goes_away_mid_run(wan26_app) -> None:
    with ExitStack() as server:
        url = server.enter_context(running_server(wan26_app))
        with counting_client(12, server.close) as http:
            report = run_harness(url, http)
    assert re.match(r"probe \S+ failed: (ConnectError|RemoteProtocolError)", report.stopped)
    assert len([row for row in report.rows if row.verdict == "match"]) >= 9
    assert report.notes[-1].startswith("emulator time scale 1 -> 0 for this run; NOT restored")
    assert not any(row.check.startswith("fuzz") for row in report.rows)


def test_ctrl_c_mid_run_keeps_what_was_seen_and_restores_the_time_scale(
    wan26_server: str,
) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    with counting_client(15, interrupt) as http:
        report = run_harness(wan26_server, http)
    assert report.stopped == "interrupted (Ctrl-C or SIGTERM)"
    assert len(report.rows) >= 10 and report.failing == []
    assert time_scale(wan26_server) == 1.0
    assert report.notes[-1] == "emulator time scale 1 -> 0 for this run; restored to 1"
    assert "Run stopped before it finished: interrupted (Ctrl-C or SIGTERM)" in report.to_markdown()


# The terminal's Ctrl-C, even when the test itself runs with SIGINT ignored (in the background).
COMMAND = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from wan26.contracts.cli import main; sys.exit(main())"
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signalled_command_writes_its_reports_and_restores_the_time_scale(
    signum: int, tmp_path: Path
) -> None:
    app = create_app(make_config(time_scale=1.0, media=MediaConfig(offline=True)))
    mock = MockHandle(app.state.emulator)
    md, js, xml, options = reports(tmp_path)
    with running_server(app) as url:
        httpx.post(
            f"{url}/_mock/scenarios",
            json={"outcome": "slow-body; seconds=5", "path": "/v1/get-user-credits"},
        ).raise_for_status()
        command = [sys.executable, "-c", COMMAND, "run", "--base-url", url, "--api-key", API_KEY]
        process = subprocess.Popen(
            [*command, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not mock.journal(path="/v1/get-user-credits"):  # the credits answer is dribbling
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        assert time_scale(url) == 1.0
    assert process.returncode == 2, err
    report = json.loads(js.read_text())
    assert report["stopped"] == "interrupted (Ctrl-C or SIGTERM)"
    assert report["counts"]["match"] >= 10
    assert report["notes"][-1] == "emulator time scale 1 -> 0 for this run; restored to 1"
    assert "interrupted" in md.read_text() and "<error" in xml.read_text()
    assert "Traceback" not in err


def test_the_settings_control_refuses_bad_values(wan26_server: str) -> None:
    url = f"{wan26_server}/_mock/settings"
    for body in ({"time_scale": -1}, {"time_scale": "fast"}, {"time_scale": True}, {"speed": 0}):
        answer = httpx.put(url, json=body)
        assert answer.status_code == 400 and set(answer.json()) == {"error"}, body
    as_json = {"content-type": "application/json"}
    assert httpx.put(url, content=b"[1e999", headers=as_json).status_code == 400
    assert httpx.put(url, content=b'{"time_scale": 1e999}', headers=as_json).json() == {
        "error": "Invalid JSON body: the number '1e999' is out of range"
    }
    negative = httpx.put(url, json={"time_scale": -1}).json()["error"]
    assert negative == "Invalid parameter 'time_scale': must be at least 0 (got -1)"
    endless = httpx.put(url, json={"time_scale": 1e308}).json()["error"]
    assert endless.startswith("Invalid parameter 'time_scale': must be at most 100")
    assert httpx.put(url, json={"time_scale": 0.5}).json() == {"time_scale": 0.5}
    assert httpx.get(f"{wan26_server}/_mock/state").json()["time_scale"] == 0.5


@pytest.fixture
def contract_with_a_new_header(tmp_path: Path) -> Iterator[Path]:
    document = yaml.safe_load(bundled().path.read_text())
    ok = document["paths"]["/v1/wan-2.6-i2v"]["post"]["responses"]["200"]
    ok["headers"]["x-contract-test"] = {"schema": {"type": "string"}}
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(document))
    yield path


def test_run_checks_against_the_given_contract(
    contract_with_a_new_header: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(media=MediaConfig(offline=True))
    js = tmp_path / "r.json"
    with running_server(create_app(config)) as url:
        args = ["run", "--base-url", url, "--api-key", API_KEY, "--fuzz", "0"]
        args += ["--report-json", str(js)]
        code = main([*args, "--contract", str(contract_with_a_new_header)])
    assert code == 1
    report = json.loads(js.read_text())
    assert report["contract"] == str(contract_with_a_new_header)
    assert report["contract_sha256"] != bundled().sha256
    [drift] = [row for row in report["rows"] if row["verdict"] == "drift"]
    assert drift["check"] == "v1-generate/headers"
    assert "x-contract-test" in drift["observed"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("paths: {a: [1, 2\n", "not valid YAML at line"),
        ("- just\n- a list\n", "a YAML mapping is expected"),
        ("just: text\n", "not an OpenAPI 3 document"),
        ("openapi: 3.1.0\npaths: [1]\n", "'paths' must be a mapping"),
        ("openapi: 3.1.0\npaths: {/x: {get: 7}}\n", "is not a mapping of operations"),
        (
            "openapi: 3.1.0\npaths: {/x: {get: {responses: [1]}}}\n",
            "not a well-formed OpenAPI document",
        ),
    ],
    ids=["unparsable", "a-list", "not-openapi", "paths-a-list", "operation-a-number", "deep"],
)
def test_diff_of_a_bad_contract_exits_2_with_one_line(
    text: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["diff", str(bad), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err, err
    assert err.startswith(f"wan26-contracts: {bad}")


def test_diff_and_run_of_a_missing_contract_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["diff", str(missing), str(missing)]) == 2
    assert (
        capsys.readouterr().err
        == f"wan26-contracts: {missing}: cannot read it (No such file or directory)\n"
    )
    md, js, xml, options = reports(tmp_path)
    assert (
        main(["run", "--base-url", "http://127.0.0.1:9", "--contract", str(missing), *options]) == 2
    )
    assert json.loads(js.read_text())["stopped"].endswith("(No such file or directory)")
    assert md.exists() and xml.exists()
