"""The documentation site builds strictly, offline, and its references come from the code.

`mkdocs build --strict` fails on a broken link, a missing anchor, a page that cannot be
read or an API object that cannot be found. The references (the command line, the
configuration, the control plane) are generated at build time by docs/_hooks/generated.py,
so a new option, setting or route shows up without anyone editing a page. The code
blocks of every page run in tests/test_readme.py.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wan26.client.cli import build_parser as client_parser
from wan26.contracts.cli import build_parser as contracts_parser
from wan26.mockserver.cli import build_parser as mock_parser
from wan26.mockserver.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
import generated  # noqa: E402  (the hook is a plain file beside the pages, not a package)

README_MAX_LINES = 250


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with `mkdocs build --strict` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return out


def test_the_site_builds_strictly_with_every_page_in_the_nav(site: Path) -> None:
    pages = [page for page in site.rglob("index.html") if "search" not in page.parts]
    assert len(pages) >= 8
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    assert [next(iter(section)) for section in nav] == [
        "Home",
        "Get started",
        "How-to",
        "Reference",
        "Explanation",
        "Changelog",
    ]


def test_the_site_fetches_nothing_when_built_or_viewed(site: Path) -> None:
    """No Google Fonts (the theme's default) and no plugin that downloads at build time."""
    for page in site.rglob("*.html"):
        assert "fonts.googleapis.com" not in page.read_text(encoding="utf-8"), page


def test_the_references_are_generated_from_the_code(site: Path) -> None:
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for parser in (mock_parser(), client_parser(), contracts_parser()):
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in cli
    for flag in ("--report-md", "--log-level", "--poll-interval", "--state-dir"):
        assert flag in cli
    configuration = (site / "reference" / "configuration" / "index.html").read_text("utf-8")
    for name in ("media.render_processes", "cassette.on_miss", "keys.plan", "redis_prefix"):
        assert name in configuration
    control = (site / "reference" / "control-plane" / "index.html").read_text("utf-8")
    spec = yaml.safe_load(
        (ROOT / "mockserver" / "control" / "control-plane.yaml").read_text("utf-8")
    )
    for path in spec["paths"]:
        assert path.replace("{", "").replace("}", "") in control.replace("{", "").replace("}", "")
    client = (site / "reference" / "client" / "index.html").read_text("utf-8")
    assert "wan26.client.Wan26Client" in client and "generate_sync" in client
    changelog = (site / "changelog" / "index.html").read_text("utf-8")
    assert "Keep a Changelog" in changelog


def test_every_setting_says_what_it_does() -> None:
    """A new Config field without a comment beside it would be an empty row."""
    rows = [line for line in generated.config().splitlines() if line.startswith("| `")]
    settings = {field.name for field in dataclasses.fields(Config)}
    assert {row.split("`")[1] for row in rows} >= settings
    undocumented = [row.split("`")[1] for row in rows if row.endswith("|  |")]
    assert undocumented == []


def test_an_unknown_generated_section_fails_the_build() -> None:
    with pytest.raises(ValueError, match="unknown generated section 'clli'"):
        generated.on_page_markdown("<!-- generated: clli -->\n")


def test_the_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert "docs/dashboard-1280x800.png" in readme


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = "<!-- readme-test: skip (set-up: installs and runs this very suite) -->\n```sh\n"
    command = readme.split(marker, 1)[1].split("\n", 1)[0]
    assert command.endswith(".venv/bin/python -m pytest")
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_the_readmes_start_block_is_the_quick_start() -> None:
    """The first minute: the emulator, all three commands, and calls of about a second."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = "<!-- readme-test: skip (set-up: installs, then serves until stopped) -->\n```sh\n"
    command = readme.split(marker, 1)[1].split("\n", 1)[0]
    assert "pip install '.[mock]'" in command
    assert command.endswith("wan26-mock serve --time-scale 0.01")
    assert "http://127.0.0.1:8000/_mock/ui" in readme
