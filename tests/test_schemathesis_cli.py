"""schemathesis' own CLI on the contract, as a user runs it from the repository's root (where
it reads `schemathesis.toml`): every check, every phase, against `wan26-mock serve`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wan26.mockserver.server.background import free_port, running_command

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_schemathesis_run_with_every_check_and_phase_passes() -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    serve = [str(BIN / "wan26-mock"), "serve", "--time-scale", "0", "--offline"]
    serve += ["--host", "127.0.0.1", "--port", str(port)]
    # The key schemathesis.toml sends: the emulator's default, whatever the environment says.
    with running_command(serve, f"{base_url}/_mock/health", {"SEGMIND_API_KEY": "wan26-mock-key"}):
        run = subprocess.run(
            [
                str(BIN / "schemathesis"),
                "--no-color",
                "run",
                "openapi.yaml",
                "--url",
                base_url,
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                "15",
                "--seed",
                "20261203",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Configuration:    " in run.stdout and "schemathesis.toml" in run.stdout
