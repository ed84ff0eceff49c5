"""Both specs as third-party linters see them: Redocly CLI's recommended rules and Spectral's
`spectral:oas`. Bare, neither finds an error (no error is waived); with the committed
rulesets (`redocly.yaml`, `.spectral.yaml`) neither finds an error or a warning.

The linters come from npm: `.ci/run` installs them into `.ci/lint-tools` (the test needs no
network); without them the tests are skipped with the command that installs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS = ["openapi.yaml", "mockserver/control/control-plane.yaml"]
TOOLS = ROOT / ".ci" / "lint-tools" / "node_modules" / ".bin"
INSTALL = "npm install --prefix .ci/lint-tools @redocly/cli@2.77.0 @stoplight/spectral-cli@6.16.3"
# Redocly would otherwise try to send telemetry and look for a newer release.
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}


def _tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in {TOOLS.relative_to(ROOT)}: run `{INSTALL}`")
    return path


def _run(command: list[str | Path]) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        env={**os.environ, **QUIET},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout


def redocly(config: Path) -> list[dict[str, Any]]:
    """Redocly's report of each spec (it prints one JSON document per file)."""
    output = _run([_tool("redocly"), "lint", *SPECS, "--format=json", f"--config={config}"])
    decoder, reports, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        report, at = decoder.raw_decode(output, at)
        reports.append(report)
    assert len(reports) == len(SPECS), output
    return reports


def spectral(ruleset: Path, tmp_path: Path) -> list[dict[str, Any]]:
    # Spectral prints a sentence after its JSON on stdout: the results go to a file.
    results_file = tmp_path / "spectral.json"
    _run([_tool("spectral"), "lint", "-f", "json", "-o", results_file, "-r", ruleset, *SPECS])
    results: list[dict[str, Any]] = json.loads(results_file.read_text())
    return results


def _listed(problems: list[dict[str, Any]]) -> str:
    def where(problem: dict[str, Any]) -> str:
        if "source" in problem:
            return f"{problem['source']}:{problem['range']['start']['line'] + 1}"
        return str(problem["location"][0]["source"]["ref"])

    return "\n".join(
        f"{where(p)} {p.get('ruleId') or p.get('code')}: {p['message']}" for p in problems
    )


@pytest.mark.slow  # Node.js linters: 3-8 s a run
def test_redocly_finds_no_error_even_with_nothing_waived(tmp_path: Path) -> None:
    bare = tmp_path / "redocly.yaml"
    bare.write_text("extends:\n  - recommended\n")
    problems = [p for report in redocly(bare) for p in report["problems"]]
    errors = [p for p in problems if p["severity"] == "error"]
    assert errors == [], _listed(errors)


@pytest.mark.slow  # Node.js linters: 3-8 s a run
def test_redocly_with_the_committed_config_finds_nothing() -> None:
    reports = redocly(ROOT / "redocly.yaml")
    problems = [p for report in reports for p in report["problems"]]
    assert problems == [], _listed(problems)
    # A waiver belongs in redocly.yaml with its reason, not in an ignore file.
    assert all(report["totals"]["ignored"] == 0 for report in reports)


@pytest.mark.slow  # Node.js linters: 3-8 s a run
def test_spectral_finds_no_error_even_with_nothing_waived(tmp_path: Path) -> None:
    bare = tmp_path / "spectral.yaml"
    bare.write_text('extends: ["spectral:oas"]\n')
    errors = [r for r in spectral(bare, tmp_path) if r["severity"] == 0]
    assert errors == [], _listed(errors)


@pytest.mark.slow  # Node.js linters: 3-8 s a run
def test_spectral_with_the_committed_ruleset_finds_no_error_or_warning(tmp_path: Path) -> None:
    found = [r for r in spectral(ROOT / ".spectral.yaml", tmp_path) if r["severity"] <= 1]
    assert found == [], _listed(found)


def _stray_keys(node: Any, where: str) -> list[str]:
    """Keys an unquoted comma in a flow mapping makes: `{description: a, b}` reads as
    `description: a` plus a key `b` with no value."""
    if isinstance(node, list):
        return [k for i, item in enumerate(node) for k in _stray_keys(item, f"{where}/{i}")]
    if not isinstance(node, dict):
        return []
    found = [f"{where}/{key}" for key, value in node.items() if value is None and " " in key]
    return found + [k for key, value in node.items() for k in _stray_keys(value, f"{where}/{key}")]


@pytest.mark.parametrize("spec", SPECS)
def test_no_unquoted_comma_made_a_stray_key(spec: str) -> None:
    assert _stray_keys(yaml.safe_load((ROOT / spec).read_text(encoding="utf-8")), "#") == []
