"""Style the code keeps: ruff-clean (rules and formatting in pyproject.toml), anyio not asyncio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The project's own concurrency is anyio's; asyncio only where anyio cannot reach.
ASYNCIO_ALLOWED = {
    # uvicorn's protocol layer is asyncio-only: its deadlines are the loop's timers.
    "mockserver/server/deadlines.py",
    # `WorkerPool.in_process`: anyio cannot await a concurrent.futures Future of a pool.
    "mockserver/media/workers.py",
}


def test_asyncio_is_imported_only_where_anyio_cannot_do_the_work() -> None:
    importing = sorted(
        str(path.relative_to(ROOT))
        for package in ("mockserver", "client", "contracts")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"^\s*(import asyncio\b|from asyncio\b)", path.read_text(), re.MULTILINE)
    )
    assert set(importing) <= ASYNCIO_ALLOWED, importing
