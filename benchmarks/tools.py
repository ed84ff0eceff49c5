"""What the benchmark's sections share: the key, the requests wrk sends, wrk itself, and a
server command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from starlette.types import ASGIApp

KEY = "bench-key"

REQUESTS = {
    "400 (bad enum)": (
        {"x-api-key": KEY, "content-type": "application/json"},
        {"image": "https://example.com/a.png", "prompt": "p", "duration": 7},
    ),
    "401 (no key)": (
        {"content-type": "application/json"},
        {"image": "https://example.com/a.png", "prompt": "p"},
    ),
}

V2_BODY = {"image": "https://example.com/a.png", "prompt": "p", "seed": 1}


def wrk(
    url: str,
    headers: dict[str, str],
    body: dict,
    seconds: int,
    connections: int,
    expect_errors: bool = True,
) -> float:
    script = "wrk.method = 'POST'\nwrk.body = " + json.dumps(json.dumps(body)) + "\n"
    script += "".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items()
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match or ("Non-2xx" in output) != expect_errors:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(match.group(1))


def in_process_client(app: ASGIApp) -> httpx.AsyncClient:
    """A client of `app` with the benchmark's key, straight through ASGI (no sockets)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"x-api-key": KEY},
        timeout=120,
    )


def status_of(url: str, headers: dict[str, str], body: dict) -> int:
    return httpx.post(url, headers=headers, content=json.dumps(body), timeout=10).status_code


def emulator_command(port: int, time_scale: float, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wan26.mockserver",
        "serve",
        "--port",
        str(port),
        "--offline",
        "--time-scale",
        str(time_scale),
        "--log-level",
        "warning",
        *flags,
    ]


def rss_mb(pid: int) -> float:
    """A process's resident memory, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024
