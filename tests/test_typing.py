"""mypy --strict over the three packages, under the names they install as.

The folders are mapped to `wan26.*` by setuptools, which mypy cannot follow
through an editable install, so the check runs on a tree of links named as
installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("client", "mockserver", "contracts")


def test_mypy_strict_passes(tmp_path: Path) -> None:
    namespace = tmp_path / "wan26"
    namespace.mkdir()
    for package in PACKAGES:
        (namespace / package).symlink_to(ROOT / package, target_is_directory=True)
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    command += ["--cache-dir", str(tmp_path / ".mypy_cache")]
    for package in PACKAGES:
        command += ["-p", f"wan26.{package}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
