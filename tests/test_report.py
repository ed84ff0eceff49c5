"""The integration report: what an integration would waste on the real service, and which
documented failures its calls never met (`GET /_mock/report`, `wan26-mock report`)."""

from __future__ import annotations

import base64
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from segmind import SegmindClient
from starlette.applications import Starlette

from conftest import API_KEY, OFFLINE_IMAGE
from test_media_bombs import peak_rss_mb
from wan26.client import Wan26Client
from wan26.contracts.core.matching import describe, fingerprint
from wan26.mockserver import KeyConfig
from wan26.mockserver.cli import main as cli_main
from wan26.mockserver.config import QueueConfig, ReportConfig
from wan26.mockserver.http.asgi import Receive, Scope, Send
from wan26.mockserver.http.journal import JournalMiddleware, find_entries
from wan26.mockserver.server.background import free_port, running_command, running_server
from wan26.mockserver.store.memory import MemoryStore

OTHER_KEY = "wan26-well-behaved-key"
V1, V2 = "/v1/wan-2.6-i2v", "/v2/wan-2.6-i2v"
# A time scale at which a generation takes 2 to 4 s: longer than a 0.3 s client timeout
# and than a second of polling, short enough for a test.
SCALE = 0.02
CAT = Path(__file__).parent.parent / "examples" / "cat.png"


def body(seed: int) -> dict[str, Any]:
    return {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": seed}


def report(http: httpx.Client, key: str | None = None) -> dict[str, Any]:
    answer = http.get("/_mock/report", params={"key": key} if key else None)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def kinds(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {finding["kind"]: finding for finding in result["findings"]}


def until(check: Callable[[], Any], what: str, deadline_s: float = 60.0) -> Any:
    """`check()` once it is truthy; fails after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
    return found


@pytest.fixture
def emulator(app_factory: Callable[..., Starlette]) -> Iterator[httpx.Client]:
    """The emulator on a real socket (a client timeout needs one), two keys, at `SCALE`."""
    app = app_factory(
        time_scale=SCALE,
        keys=[KeyConfig(key=API_KEY), KeyConfig(key=OTHER_KEY)],
        queue=QueueConfig(workers=2),
    )
    with (
        running_server(app) as base_url,
        httpx.Client(base_url=base_url, headers={"x-api-key": API_KEY}, timeout=60) as http,
    ):
        yield http


def careless_integration(http: httpx.Client) -> str:
    """The issue's scenario: the same paid body twice, a paid call abandoned by a 0.3 s
    timeout, a v2 job polled 25 times in a second and never fetched, one 400. The job id.
    The three v1 calls run side by side, each on a client of its own (they take seconds)."""

    def post_v1(seed: int, timeout: float = 60) -> httpx.Response:
        with httpx.Client(base_url=http.base_url, headers=http.headers, timeout=timeout) as own:
            return own.post(V1, json=body(seed))

    with ThreadPoolExecutor(3) as pool:
        paid = [pool.submit(post_v1, 1) for _ in range(2)]
        abandoned = pool.submit(post_v1, 2, 0.3)
        job = http.post(V2, json=body(3)).json()["request_id"]
        for _ in range(25):
            http.get(f"/v2/requests/{job}/status")
            time.sleep(0.04)
        assert http.post(V1, json={**body(4), "duration": 7}).status_code == 400
        assert [call.result().status_code for call in paid] == [200, 200]
        with pytest.raises(httpx.ReadTimeout):
            abandoned.result()
    return str(job)


def well_behaved_integration(http: httpx.Client) -> None:
    """Submit once, poll every second, fetch the result (and the video)."""
    headers = {"x-api-key": OTHER_KEY}
    job = http.post(V2, json=body(5), headers=headers).json()["request_id"]
    deadline = time.monotonic() + 120
    while http.get(f"/v2/requests/{job}/status", headers=headers).json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline, "the job never completed"
        time.sleep(1.0)  # a poll a second: what a well-behaved integration does
    result = http.get(f"/v2/requests/{job}", headers=headers).json()
    assert httpx.get(result["output"]).status_code == 200


@pytest.mark.every_state_backend
def test_the_report_finds_what_a_careless_integration_would_waste(
    emulator: httpx.Client,
) -> None:
    with (
        ThreadPoolExecutor(1) as pool,
        httpx.Client(base_url=emulator.base_url, timeout=60) as other,
    ):
        well_behaved = pool.submit(well_behaved_integration, other)
        job = careless_integration(emulator)
        well_behaved.result()

    # The 499 is journaled once the emulator sees the client gone; the job completes later.
    def complete() -> dict[str, Any] | None:
        found = report(emulator, API_KEY)
        return found if {"abandoned-paid-call", "unfetched-result"} <= set(kinds(found)) else None

    found = until(complete, "the abandoned call and the completed job")
    findings = kinds(found)
    assert {
        "duplicate-paid-call",
        "abandoned-paid-call",
        "over-polling",
        "unfetched-result",
    } <= set(findings)
    assert findings["duplicate-paid-call"]["count"] == 1
    assert findings["duplicate-paid-call"]["usd_at_risk"] >= 0.625
    assert findings["abandoned-paid-call"]["usd_at_risk"] == 0.625
    assert "not documented" in findings["abandoned-paid-call"]["notes"][0]
    assert findings["over-polling"]["count"] == 1 and len(findings["over-polling"]["entries"]) >= 5
    assert findings["unfetched-result"]["usd_at_risk"] == 0.625
    for finding in findings.values():
        assert finding["advice"] and finding["entries"]
    assert "bad-request" in found["outcomes"]["exercised"]
    assert {"rate-limited", "insufficient-credits", "job-failed"} <= set(found["outcomes"]["never"])
    assert found["spent_usd"] == 0.625 * 3  # the two v1 calls answered, the job completed
    # Every entry a finding names is in the journal, and is this key's.
    journal = emulator.get("/_mock/journal", params={"key": API_KEY}).json()["entries"]
    ids = {entry["id"] for entry in journal}
    assert all(set(f["entries"]) <= ids for f in findings.values())
    polls = [e for e in journal if e["id"] in findings["over-polling"]["entries"]]
    assert {e["path"] for e in polls} == {f"/v2/requests/{job}/status"}

    assert report(emulator, OTHER_KEY)["findings"] == []
    assert {f["kind"] for f in report(emulator)["findings"]} == set(findings)

    assert emulator.post("/_mock/reset").status_code == 200
    after = report(emulator, API_KEY)
    assert after["findings"] == [] and after["calls"] == 0 and after["spent_usd"] == 0


def test_forced_and_met_failures_count_as_exercised(emulator: httpx.Client) -> None:
    emulator.post("/_mock/scenarios", json={"outcome": "job-failed", "times": 1})
    job = emulator.post(V2, json=body(6)).json()["request_id"]
    until(lambda: emulator.get(f"/v2/requests/{job}").status_code == 422, "the failed job")
    emulator.post(V1, json=body(7), headers={"x-mock-scenario": "rate-limited"})
    emulator.get("/v1/get-user-credits", headers={"x-api-key": "nobody"})
    emulator.post(V1, content=b"{}", headers={"content-type": "text/plain"})
    outcomes = report(emulator)["outcomes"]
    assert {"job-failed", "rate-limited", "invalid-key", "invalid-content-type"} <= set(
        outcomes["exercised"]
    )
    assert "insufficient-credits" in outcomes["never"]
    assert set(outcomes["exercised"]).isdisjoint(outcomes["never"])


def test_a_call_sent_before_the_rate_limit_resets_is_flagged(emulator: httpx.Client) -> None:
    refused = emulator.post(V1, json=body(1), headers={"x-mock-scenario": "rate-limited"})
    assert refused.status_code == 429
    assert emulator.post(V2, json=body(1)).status_code == 200  # at once, not at the reset
    finding = kinds(report(emulator))["retry-before-reset"]
    assert finding["count"] == 1 and finding["usd_at_risk"] == 0
    journal = emulator.get("/_mock/journal").json()["entries"]
    assert journal[0]["reset_at"] == refused.headers["x-rate-limit-reset-at-utc"]
    assert finding["entries"] == [journal[1]["id"]]


def test_our_client_used_as_documented_gets_no_finding(emulator: httpx.Client) -> None:
    client = Wan26Client(api_key=OTHER_KEY, base_url=str(emulator.base_url))
    with client:
        video = client.generate(image=OFFLINE_IMAGE, prompt="a cat", duration=5, seed=8)
    assert video.cost == 0.625
    found = report(emulator, OTHER_KEY)
    assert found["findings"] == [] and found["spent_usd"] == 0.625


def test_the_official_sdk_run_gets_no_finding(emulator: httpx.Client) -> None:
    sdk = SegmindClient(api_key=OTHER_KEY, base_url=f"{emulator.base_url}/v1")
    result = sdk.run("wan-2.6-i2v", **body(9))
    assert result["status"] == "COMPLETED"
    found = report(emulator, OTHER_KEY)
    assert found["findings"] == [] and found["spent_usd"] == 0.625


def test_report_settings_change_what_is_flagged(app_factory: Callable[..., Starlette]) -> None:
    app = app_factory(report=ReportConfig(duplicate_window_s=0, abandoned_billed=False))
    with (
        running_server(app) as base_url,
        httpx.Client(base_url=base_url, headers={"x-api-key": API_KEY}, timeout=60) as http,
    ):
        http.post(V1, json=body(1))
        http.post(V1, json=body(1))
        assert report(http)["findings"] == []  # the second came later than 0 s after


def test_the_cli_prints_the_report_as_text_json_and_junit(
    emulator: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        emulator.post(V2, json=body(1))
    url = str(emulator.base_url)

    assert cli_main(["report", "--url", url, "--key", API_KEY]) == 0
    text = capsys.readouterr().out
    assert "duplicate-paid-call" in text and "$0.625 at risk" in text
    assert "never exercised:" in text and "rate-limited" in text

    assert cli_main(["report", "--url", url, "--format", "json"]) == 0
    assert kinds(json.loads(capsys.readouterr().out))["duplicate-paid-call"]["count"] == 1

    assert cli_main(["report", "--url", url, "--format", "junit"]) == 0
    suite = ET.fromstring(capsys.readouterr().out).find("testsuite")
    assert suite is not None
    failed = [
        case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None
    ]
    assert "duplicate-paid-call" in failed

    assert cli_main(["report", "--url", url, "--max-waste-usd", "0"]) == 1
    assert "exceeds --max-waste-usd" in capsys.readouterr().err
    assert cli_main(["report", "--url", url, "--max-waste-usd", "100"]) == 0


def test_the_cli_refuses_an_unreachable_emulator_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for url in (f"http://127.0.0.1:{free_port()}", "http://[::1", "ftp://127.0.0.1"):
        assert cli_main(["report", "--url", url]) == 2
        err = capsys.readouterr().err
        assert err.startswith("wan26-mock report: no report from ") and err.count("\n") == 1


# ---- issue 17, defect 4: journal entries have a byte limit --------------------------------------


def test_calls_with_huge_headers_keep_the_journal_and_memory_bounded() -> None:
    """300 unauthenticated calls with 64 KB of headers: the journal stays under 6 MB, the
    emulator's peak RSS grows under 60 MB (unbounded, it kept 19 MB of header text, more as
    Python objects, and served it all as JSON)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    headers = {f"x-padding-{i}": "p" * 4000 for i in range(15)}  # 60 KB, under a 64 KB cap
    with (
        running_command(command, f"{base_url}/_mock/health", {"WAN26_MOCK_TIME_SCALE": "0"}) as p,
        httpx.Client(base_url=base_url, timeout=60) as http,
    ):
        for _ in range(20):  # warm up
            http.get("/v1/get-user-credits", headers=headers)
        before = peak_rss_mb(p.pid)
        for _ in range(300):
            assert http.get("/v1/get-user-credits", headers=headers).status_code == 401
        journal = http.get("/_mock/journal")
        growth = peak_rss_mb(p.pid) - before
    assert len(journal.content) < 6 * 1024 * 1024, len(journal.content)
    assert growth < 60, f"RSS grew by {growth:.1f} MB"
    entry = journal.json()["entries"][-1]
    assert entry["truncated"]["headers"] > 50_000
    assert entry["status"] == 401


@pytest.mark.anyio
async def test_an_entry_keeps_its_key_and_marks_what_it_cut(
    client: httpx.AsyncClient,
) -> None:
    """The key header, sent after 100 KB of others, is still kept (masked); the body past
    its share is cut with a visible mark."""
    headers = {"x-padding": "p" * 100_000, "x-api-key": API_KEY}
    prompt = "q" * 30_000
    answer = await client.post(V1, json={"image": OFFLINE_IMAGE, "prompt": prompt}, headers=headers)
    assert answer.status_code == 400  # the prompt is too long
    entries = (await client.get("/_mock/journal", params={"key": API_KEY})).json()["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["headers"]["x-api-key"] == entry["key"] != API_KEY
    assert entry["truncated"]["headers"] >= 100_000 - 4096
    assert entry["truncated"]["body"] > 10_000 and "more bytes)" in entry["body"]
    assert len(json.dumps(entry)) < 17 * 1024


@pytest.mark.anyio
async def test_an_answers_headers_are_cut_to_their_share() -> None:
    """An answer with 100 KB of headers: its entry keeps the first ones, marks the cut and
    stays within `journal_entry_bytes`."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"x-cost", b"0.625"), (b"x-padding", b"p" * 100_000)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    store = MemoryStore(journal_size=10, output_bytes=1024)
    journaled = JournalMiddleware(answer, store, entry_bytes=16 * 1024)
    transport = httpx.ASGITransport(app=journaled)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get(V1)).status_code == 200
    (entry,) = find_entries(await store.journal.entries())
    assert entry["response_headers"]["x-cost"] == "0.625"
    assert entry["truncated"]["response_headers"] >= 100_000 - 1024
    assert len(json.dumps(entry)) < 17 * 1024


@pytest.mark.anyio
async def test_an_admitted_call_keeps_the_cassettes_fingerprint(
    app_factory: Callable[..., Starlette],
    client_for: Callable[[Starlette], httpx.AsyncClient],
) -> None:
    """Media as a URL or as a data URI (hashed off the event loop), defaults filled."""
    app = app_factory()
    client = client_for(app)
    validator = app.state.emulator.models["wan-2.6-i2v"].validator
    cat = "data:image/png;base64," + base64.b64encode(CAT.read_bytes()).decode()
    for image in (OFFLINE_IMAGE, cat):
        sent = {"image": image, "prompt": "a cat", "seed": 3}
        assert (await client.post(V1, json=sent)).status_code == 200
        entry = (await client.get("/_mock/journal")).json()["entries"][-1]
        raw = json.dumps(sent).encode()
        call = describe("POST", V1, "", "valid", "application/json", raw, validator)
        assert entry["fingerprint"] == fingerprint(call)
        assert entry["price_usd"] == 0.625
