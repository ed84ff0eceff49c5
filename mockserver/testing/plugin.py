"""pytest fixtures for testing code that calls the Wan 2.6 API against the emulator.

Registered through the `pytest11` entry point, so installing the package is
enough. Every pytest run of a project that has the client installed loads this
file, so it imports the emulator only inside the fixtures that use it.

- `wan26_config`: the settings (override it to change any);
- `wan26_app`: the ASGI app, in-process;
- `wan26_client`: an `httpx.AsyncClient` wired to it (no socket; anyio tests);
- `wan26_server`: the same app on a real uvicorn at 127.0.0.1, port 0: its base URL;
- `wan26_mock`: a handle to force outcomes and read the journal and accounts;
- `wan26_cassette`: the cassette the emulator answers from: `--wan26-replay DIR`
  (CI) or `--wan26-record DIR` (a developer, with `$SEGMIND_API_KEY`); off by default.

At the end of a session whose tests called the emulator, the integration report (see
mockserver/report.py) of every test's emulator, added up over pytest-xdist workers, is
printed; `--wan26-no-report` turns it off and `--wan26-max-waste-usd X` fails the
session when more than X is at risk.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from wan26.contracts.core.extras import require
from wan26.mockserver.control import report_format
from wan26.mockserver.core.outcomes import Forced

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from wan26.mockserver.config import CassetteConfig, Config
    from wan26.mockserver.testing.handle import MockHandle

IN_PROCESS_HOST = "wan26.test"  # wan26_client's base URL: no socket, no DNS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wan26", "Wan 2.6 emulator")
    group.addoption("--wan26-replay", metavar="DIR", help="answer from the cassette in DIR")
    group.addoption(
        "--wan26-record", metavar="DIR", help="forward unrecorded calls upstream, keep them in DIR"
    )
    group.addoption("--wan26-upstream", metavar="URL", help="where --wan26-record forwards")
    group.addoption(
        "--wan26-max-spend-usd", type=float, help="--wan26-record's budget (default 0: free only)"
    )
    group.addoption(
        "--wan26-on-miss", choices=("emulate", "error"), help="replay: an unrecorded call"
    )
    group.addoption(
        "--wan26-no-report",
        action="store_true",
        help="no integration report at the end of the session",
    )
    group.addoption(
        "--wan26-max-waste-usd",
        type=float,
        metavar="USD",
        help="fail the session when the integration report puts more than this at risk",
    )


@pytest.fixture
def wan26_cassette(request: pytest.FixtureRequest) -> CassetteConfig:
    """From the command-line options; override it to pin a cassette in a conftest."""
    require("mock")
    from wan26.mockserver.config import CassetteConfig

    option = request.config.getoption
    replay, record = option("--wan26-replay"), option("--wan26-record")
    if replay and record:
        raise pytest.UsageError("--wan26-replay and --wan26-record exclude each other")
    if not (replay or record):
        return CassetteConfig()
    settings = {
        "upstream": option("--wan26-upstream"),
        "max_spend_usd": option("--wan26-max-spend-usd"),
        "on_miss": option("--wan26-on-miss"),
    }
    return CassetteConfig(
        mode="replay" if replay else "record",
        dir=replay or record,
        **{name: value for name, value in settings.items() if value is not None},
    )


@pytest.fixture
def wan26_config(wan26_cassette: CassetteConfig) -> Config:
    """No delays and no internet (a URL the media rules accept gets the stand-in; as
    against the real service, loopback and private addresses are a 400 unless
    `media.allow_private_addresses` is set); the key is `$SEGMIND_API_KEY` or
    `wan26-mock-key`. To change a setting, override it and start from this one:
    `def wan26_config(wan26_config): return wan26_config.replace(...)`."""
    require("mock")
    from wan26.mockserver.config import Config, MediaConfig

    return Config(time_scale=0.0, media=MediaConfig(offline=True), cassette=wan26_cassette)


@pytest.fixture
def wan26_app(wan26_config: Config, request: pytest.FixtureRequest) -> Iterator[Starlette]:
    from wan26.mockserver.http.app import create_app
    from wan26.mockserver.store.memory import MemoryStore

    control = wan26_config.control  # `/_mock` answers wan26_client's made-up host too
    hosts = [*control.allowed_hosts, IN_PROCESS_HOST]
    config = wan26_config.replace(control=dataclasses.replace(control, allowed_hosts=hosts))
    app = create_app(config.with_default_key(os.environ))
    yield app
    store = app.state.emulator.store
    if isinstance(store, MemoryStore):
        if not request.config.getoption("--wan26-no-report"):
            _keep_report(request.config, request.node.nodeid, app)
        store.outputs.files.close()


@pytest.fixture
async def wan26_client(wan26_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    from wan26.mockserver.http.app import running

    key = wan26_app.state.emulator.config.keys[0].key
    async with (
        running(wan26_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=wan26_app),
            base_url=f"http://{IN_PROCESS_HOST}",
            headers={"x-api-key": key},
            timeout=120,
        ) as client,
    ):
        yield client


@pytest.fixture
def wan26_server(wan26_app: Starlette) -> Iterator[str]:
    from wan26.mockserver.server.background import running_server

    with running_server(wan26_app) as base_url:
        yield base_url


@pytest.fixture
def wan26_mock(wan26_app: Starlette) -> MockHandle:
    from wan26.mockserver.testing.handle import MockHandle

    return MockHandle(wan26_app.state.emulator)


# ---- the integration report, added up over the session ----------------------------------------

_REPORTS = pytest.StashKey[list[dict[str, Any]]]()
_WORKER_OUTPUT = "wan26_reports"


def _reports(config: pytest.Config) -> list[dict[str, Any]]:
    return config.stash.setdefault(_REPORTS, [])


def _keep_report(config: pytest.Config, test: str, app: Starlette) -> None:
    """This test's emulator's report, if it saw calls (read from the memory store, the
    plugin's: its journal is plain data)."""
    from wan26.mockserver.control.report import build_report

    emulator = app.state.emulator
    report = build_report(list(emulator.store.journal.kept), emulator.config.report)
    if not report.calls:
        return
    _reports(config).append({"test": test, **report.as_json()})
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller adds them up
        workeroutput[_WORKER_OUTPUT] = json.dumps(_reports(config))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker's reports, to the controller's."""
    sent = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
    if sent:
        _reports(node.config).extend(json.loads(sent))


def _session_report(config: pytest.Config) -> dict[str, Any] | None:
    """Every test's report added up: findings by kind with the tests that showed them,
    outcomes never exercised by any test."""
    reports = _reports(config)
    if not reports or hasattr(config, "workerinput"):
        return None
    findings: dict[str, dict[str, Any]] = {}
    for report in reports:
        for finding in report["findings"]:
            total = findings.setdefault(
                finding["kind"],
                {**finding, "count": 0, "usd_at_risk": 0.0, "entries": [], "tests": []},
            )
            total["count"] += finding["count"]
            total["usd_at_risk"] = _add(total["usd_at_risk"], finding["usd_at_risk"])
            total["tests"].append(report["test"])
    met = {name for report in reports for name in report["outcomes"]["exercised"]}
    kinds = reports[0]["kinds"]
    return {
        "calls": sum(report["calls"] for report in reports),
        "spent_usd": float(sum((Decimal(str(r["spent_usd"])) for r in reports), Decimal(0))),
        "kinds": kinds,
        "findings": [findings[kind] for kind in kinds if kind in findings],
        "outcomes": {
            "exercised": [name.value for name in Forced if name.value in met],
            "never": [name.value for name in Forced if name.value not in met],
        },
        "tests": len({report["test"] for report in reports}),
    }


def _add(a: float, b: float) -> float:
    return float(Decimal(str(a)) + Decimal(str(b)))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Past `--wan26-max-waste-usd`, the session fails (exit code 1)."""
    limit = session.config.getoption("--wan26-max-waste-usd")
    report = _session_report(session.config)
    if limit is None or report is None:
        return
    if report_format.at_risk(report) > limit and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = _session_report(config)
    if report is None:
        return
    terminalreporter.write_sep("=", report_format.TITLE)
    where = f"on the emulators of {report['tests']} test(s)"
    for line in report_format.text(report, [where]).splitlines():
        terminalreporter.write_line(line)
    limit = config.getoption("--wan26-max-waste-usd")
    wasted = report_format.at_risk(report)
    if limit is not None and wasted > limit:
        terminalreporter.write_line(
            f"wan26: {report_format.usd(wasted)} at risk exceeds --wan26-max-waste-usd "
            f"{limit:g}: the session fails",
            red=True,
            bold=True,
        )
