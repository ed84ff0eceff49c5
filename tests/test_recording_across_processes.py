"""One budget and one cassette per directory, however many processes record into it.

The upstream is an emulator on loopback that counts what it charged; the recorders are
real `wan26-mock serve --record` processes: two on one directory, or one with
`--workers 2`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
from test_cassette import BODY, SLUG, charged, post, serving

from wan26.contracts.core.cassette import INDEX, Cassette
from wan26.mockserver.recording.budget import IN_FLIGHT, SharedBudget
from wan26.mockserver.server.background import free_port, running_command

PRICE = Decimal("0.625")  # 5 s at 720p


@contextmanager
def recorder(folder: Path, upstream: str, budget: Decimal, *more: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    command += ["--record", str(folder), "--upstream", upstream, "--max-spend-usd", str(budget)]
    command += ["--log-level", "warning", *more]
    base = f"http://127.0.0.1:{port}"
    log = folder.parent / f"recorder-{port}.log"
    with log.open("wb") as output:
        try:
            with running_command(command, f"{base}/_mock/health", output=output.fileno()):
                yield base
        except BaseException:
            print(f"--- {log.name}:\n{log.read_text(errors='replace')[-4000:]}")
            raise


def record_distinct_calls(bases: list[str], calls: int) -> list[httpx.Response]:
    """`calls` different paid calls at once, spread over `bases`."""
    with ThreadPoolExecutor(calls) as pool:
        return list(
            pool.map(
                lambda n: post(bases[n % len(bases)], f"/v1/{SLUG}", {**BODY, "seed": 100 + n}),
                range(calls),
            )
        )


def assert_one_budget_and_nothing_lost(folder: Path, upstream_app: object, budget: Decimal) -> None:
    paid = charged(upstream_app)
    total = sum((Decimal(str(entry["charged_usd"])) for entry in paid), Decimal(0))
    assert 0 < total <= budget, f"the upstream charged ${total} on a ${budget} budget"
    index = json.loads((folder / INDEX).read_text())
    assert Decimal(str(index["spent_usd"])) == total
    costs = [Decimal(str(e["cost_usd"])) for e in index["exchanges"] if e["cost_usd"]]
    assert len(costs) == len(paid) and sum(costs, Decimal(0)) == total  # every paid call kept


def test_two_recorders_on_one_directory_share_the_budget_and_the_cassette(tmp_path: Path) -> None:
    folder = tmp_path / "cassette"
    budget = 2 * PRICE
    with serving(time_scale=0.01) as (upstream, upstream_app), ExitStack() as stack:
        bases = [stack.enter_context(recorder(folder, upstream, budget)) for _ in range(2)]
        answers = record_distinct_calls(bases, 8)
        assert sorted(a.status_code for a in answers) == [200] * 2 + [402] * 6
        assert_one_budget_and_nothing_lost(folder, upstream_app, budget)
        # What one recorder saved, the other replays rather than paying for it again.
        for answer in answers:
            if answer.status_code == 200:
                seed = int(answer.headers["x-seed-value"])
                for base in bases:
                    again = post(base, f"/v1/{SLUG}", {**BODY, "seed": seed})
                    assert again.headers["x-mock-cassette"] == "hit"
        assert len(charged(upstream_app)) == 2


def test_workers_share_the_budget_and_the_cassette(tmp_path: Path) -> None:
    folder = tmp_path / "cassette"
    state = ["--workers", "2", "--state-dir", str(tmp_path / "state")]
    budget = PRICE
    with serving(time_scale=0.01) as (upstream, upstream_app):
        with recorder(folder, upstream, budget, *state) as base:
            answers = record_distinct_calls([base], 16)
        assert sorted(a.status_code for a in answers) == [200] + [402] * 15
        assert_one_budget_and_nothing_lost(folder, upstream_app, budget)


def test_two_recorders_in_one_process_share_the_budget_too(tmp_path: Path) -> None:
    with serving(time_scale=0.01) as (upstream, upstream_app), ExitStack() as stack:
        cassette = {"mode": "record", "dir": str(tmp_path), "upstream": upstream}
        bases = [
            stack.enter_context(serving(**cassette, max_spend_usd=float(PRICE)))[0]
            for _ in range(2)
        ]
        answers = record_distinct_calls(bases, 6)
        assert sorted(a.status_code for a in answers) == [200] + [402] * 5
        assert_one_budget_and_nothing_lost(tmp_path, upstream_app, PRICE)


def test_a_reservation_left_by_a_process_that_ended_counts_as_spent(tmp_path: Path) -> None:
    """It may have been charged (sent, never answered): the budget never forgets it."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    hold = {"host": socket.gethostname(), "pid": int(ended.stdout), "usd": str(PRICE)}
    (tmp_path / IN_FLIGHT).write_text(json.dumps([hold, {"usd": "not money"}]))
    budget = SharedBudget(2 * PRICE, Cassette.open(tmp_path, create=True))
    assert budget.reserve(PRICE) is None
    refusal = budget.reserve(PRICE)
    assert refusal is not None and "($0.625 spent, $0.625 in flight)" in refusal
    assert json.loads((tmp_path / INDEX).read_text())["spent_usd"] == float(PRICE)
    budget.settle(PRICE, charged=False)
    assert not (tmp_path / IN_FLIGHT).exists()


def test_passthrough_with_a_budget_and_workers_is_refused(tmp_path: Path) -> None:
    """Passthrough keeps no directory to share a budget through: refused, not multiplied."""
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", "0"]
    command += ["--upstream", "http://127.0.0.1:9", "--max-spend-usd", "1"]
    command += ["--workers", "2", "--state-dir", str(tmp_path / "state")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--max-spend-usd" in done.stderr
