"""Every fenced code block of README.md and of every page of the documentation site
(docs/) runs as written, or says why not: the documentation cannot rot.

Blocks are read from the Markdown files at collection time. Python and shell examples
run in a fresh folder against an emulator on a free loopback port at time scale 0,
offline: `127.0.0.1:8000` in the text becomes that port. Python examples run in an empty
folder, so they cannot depend on the repository's files (the client's `EXAMPLE_IMAGE`
is how they find a picture); shell examples run in a folder with `examples/` in it, as
at the repository root, where the documentation says to run them. A Python block
defining `test_...` functions runs under pytest with the plugin's fixtures. JSON must
parse; YAML must be a valid emulator config. A block that cannot run offline (installs,
live calls, CI files) needs `<!-- readme-test: skip (reason) -->` on the line before it;
the test reports the skip.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from wan26.mockserver.config import load_config

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
README_ADDRESS = "127.0.0.1:8000"
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>.+)\)\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
SHELL_LANGS = {"sh", "bash", "shell", "console"}
SHELL_COMMANDS = {"curl", "wan26", "wan26-contracts", "wan26-mock"}
# Commands that check a server themselves: their exit code is the verdict, and the
# errors they provoke on purpose are expected.
SELF_CHECKING = {"wan26-contracts", "wan26-mock"}
# Only `wan26-mock`'s commands that end by themselves (not `serve`) run here.
ENDLESS = re.compile(r"\bwan26-mock\s+serve\b")
BLOCK_TIMEOUT_S = 300
URL = re.compile(r"https?://[^\s'\"]+")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None  # the marker's reason
    source: str = "README.md"

    @property
    def id(self) -> str:
        return f"{self.source}:line{self.line}-{self.lang or 'plain'}"

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


def readme_blocks(text: str, source: str = "README.md") -> list[Block]:
    """The fenced blocks of a Markdown text, each with the skip reason above it, if any."""
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        end = next(
            (i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), len(lines)
        )
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = SKIP_MARKER.search(previous)
        code = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
        reason = marker["reason"].strip() if marker else None
        found.append(Block(index + 1, opening["lang"], code, reason, source))
        index = end + 1
    return found


def documented_files() -> list[Path]:
    """The README and every page of the site (not the hook's own files)."""
    pages = sorted(page for page in DOCS.rglob("*.md") if "_hooks" not in page.parts)
    return [README, *pages]


BLOCKS = [
    block
    for path in documented_files()
    for block in readme_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
]


def clean_env() -> dict[str, str]:
    """The environment of an example: no user key or emulator settings leak in."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SEGMIND_", "WAN26_", "PYTEST_"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`wan26-mock serve` on a free loopback port, time scale 0, offline; its base URL."""
    log = tmp_path_factory.mktemp("emulator") / "stderr.log"
    command = [str(BIN / "wan26-mock"), "serve", "--port", "0", "--time-scale", "0"]
    command += ["--offline", "--log-level", "warning"]
    with log.open("w") as stderr:
        server = subprocess.Popen(command, stderr=stderr, env=clean_env())
    try:
        yield wait_for_banner(server, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_for_banner(server: subprocess.Popen, log: Path) -> str:
    """The base URL the emulator printed, once it answers its health check."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"wan26-mock serve exited {server.returncode}: {log.read_text()}")
        found = re.search(r"http://127\.0\.0\.1:\d+", log.read_text())
        if found:
            try:
                if httpx.get(f"{found[0]}/_mock/health", timeout=5).is_success:
                    return found[0]
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    pytest.fail(f"wan26-mock serve did not come up: {log.read_text()}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty folder, away from the repository."""
    return tmp_path


def like_the_repository_root(workdir: Path) -> None:
    """`examples/` in the folder, for shell examples run where the docs say: the repository."""
    (workdir / "examples").symlink_to(ROOT / "examples", target_is_directory=True)


def run(command: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def first_command(code: str) -> str:
    """The block's first command word, after any `NAME=value` assignments."""
    words = shlex.split(code, comments=True)
    return next((word for word in words if not re.match(r"^\w+=", word)), "")


def api_answers(base_url: str) -> list[dict]:
    return httpx.get(f"{base_url}/_mock/journal", timeout=30).json()["entries"]


def assert_succeeded(result: subprocess.CompletedProcess[str], block: Block) -> None:
    assert result.returncode == 0, (
        f"{block.where} ({block.lang}) exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    )


def run_against_emulator(
    block: Block, command: list[str], emulator: str, workdir: Path, self_checking: bool
) -> None:
    """Run one example; unless it checks a server itself, every API call it made must have
    reached the emulator and succeeded."""
    httpx.delete(f"{emulator}/_mock/journal", timeout=30)
    assert_succeeded(run(command, workdir), block)
    if self_checking:
        return
    answers = api_answers(emulator)
    assert answers, f"{block.where} never reached the emulator"
    failed = [(a["method"], a["path"], a["status"]) for a in answers if a["status"] >= 400]
    assert failed == [], f"{block.where}: API calls failed: {failed}"


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_readme_block(block: Block, emulator: str, workdir: Path) -> None:
    if block.skip:
        pytest.skip(f"{block.where}: {block.skip}")
    code = block.code.replace(README_ADDRESS, emulator.removeprefix("http://"))
    if block.lang == "python" and re.search(r"^(async )?def test_", code, re.MULTILINE):
        (workdir / "test_readme_example.py").write_text(code)
        result = run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "test_readme_example.py",
            ],
            workdir,
        )
        assert_succeeded(result, block)
        assert " passed" in result.stdout and "skipped" not in result.stdout
    elif block.lang == "python":
        (workdir / "readme_example.py").write_text(code)
        command = [sys.executable, "readme_example.py"]
        # An example that names no server checks itself (its asserts are the verdict).
        self_checking = README_ADDRESS not in block.code and "create_app" not in code
        run_against_emulator(block, command, emulator, workdir, self_checking)
    elif block.lang in SHELL_LANGS:
        name = first_command(code)
        if name not in SHELL_COMMANDS or ENDLESS.search(code):
            pytest.fail(
                f"{block.where}: `{name}` is not run offline here "
                f"(only {', '.join(sorted(SHELL_COMMANDS))}); add "
                "<!-- readme-test: skip (reason) --> on the line before the block"
            )
        like_the_repository_root(workdir)
        command = ["bash", "-e", "-o", "pipefail", "-c", code]
        only_control = all("/_mock" in url for url in URL.findall(code))
        run_against_emulator(
            block, command, emulator, workdir, name in SELF_CHECKING or only_control
        )
    elif block.lang == "json":
        assert isinstance(json.loads(code), dict | list)
    elif block.lang == "yaml":
        config_file = workdir / "config.yaml"
        config_file.write_text(code)
        assert load_config(config_file, env={}).keys
    else:
        pytest.fail(
            f"{block.where}: no runner for ```{block.lang}; make it one of "
            "python, sh, json, yaml or add <!-- readme-test: skip (reason) --> before it"
        )


def test_the_parser_honours_skip_markers_and_indented_fences() -> None:
    text = (
        "intro\n\n<!-- readme-test: skip (needs the internet) -->\n```sh\ncurl x\n```\n"
        "- a list item:\n\n  ```python\n  print(1)\n  ```\n"
    )
    assert readme_blocks(text) == [
        Block(4, "sh", "curl x\n", "needs the internet"),
        Block(9, "python", "print(1)\n", None),
    ]


def test_the_readme_has_runnable_python_and_shell_examples() -> None:
    run_here = [block for block in BLOCKS if not block.skip]
    assert {"python", "sh"} <= {block.lang for block in run_here}
    assert any(first_command(block.code) == "wan26" for block in run_here if block.lang == "sh")


def test_the_pages_of_the_site_are_read_too() -> None:
    sources = {block.source for block in BLOCKS if not block.skip}
    assert {"README.md", "docs/get-started.md", "docs/reference/client.md"} <= sources
    assert "docs/how-to/pytest-plugin.md" in sources
