"""What a user gets from `pip install wan26-mock`, checked in a fresh virtual environment.

The environment gets the project's wheel and exactly the distributions that its
requirements pull in (the closure read from the installed metadata, copied from
this environment), so the check runs offline yet sees what a real install sees:
the plain install is the light client; `[mock]` adds the emulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from wan26.mockserver.server.background import free_port, running_command

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "wan26-mock"
SHIPPED_FILES = ("pyproject.toml", "README.md", "LICENSE", "openapi.yaml")
SHIPPED_FOLDERS = ("mockserver", "client", "contracts")
HEAVY = {"av", "numpy", "pillow", "starlette", "uvicorn", "schemathesis", "hypothesis"}


def closure(extras: set[str]) -> set[str]:
    """The distributions the project's requirements pull in with these extras."""
    seen: set[str] = set()
    todo = [(PROJECT, frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            marker_ok = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in wanted or {""}
            )
            if not marker_ok:
                continue
            child = canonicalize_name(requirement.name)
            if child == PROJECT:
                todo.append((PROJECT, frozenset(requirement.extras)))
            elif child not in seen:
                seen.add(child)
                todo.append((child, frozenset(requirement.extras)))
    return seen


def copy_distributions(names: set[str], site: Path) -> None:
    here = Path(sysconfig.get_paths()["purelib"])
    for name in names:
        for file in metadata.distribution(name).files or []:
            source = Path(str(file.locate()))
            if here not in source.parents or not source.is_file():
                continue  # scripts in bin/ and the like
            target = site / source.relative_to(here)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def not_shipped(folder: str, names: list[str]) -> set[str]:
    """Copy what the wheel is built from, nothing else (no venv, no build output)."""
    if Path(folder) == ROOT:
        return set(names) - {*SHIPPED_FILES, *SHIPPED_FOLDERS}
    return {name for name in names if name == "__pycache__"}


class Environment:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"
        self.site = Path(
            subprocess.check_output(
                [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                text=True,
            ).strip()
        )

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": f"{self.path / 'bin'}:{os.environ['PATH']}"}
        env.pop("PYTHONPATH", None)
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    def distributions(self) -> set[str]:
        code = "from importlib import metadata as m\nfor d in m.distributions(): print(d.name)"
        names = self.run(str(self.python), "-c", code).stdout.split()
        return {canonicalize_name(name) for name in names}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    base = tmp_path_factory.mktemp("install")
    source = base / "source"  # a copy, so the build leaves nothing in the repository
    shutil.copytree(ROOT, source, symlinks=True, ignore=not_shipped)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(base / "wheel"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    venv.create(base / "venv", with_pip=True)
    environment = Environment(base / "venv")
    wheel = next((base / "wheel").glob("*.whl"))
    result = environment.run(
        str(environment.python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)
    )
    assert result.returncode == 0, result.stderr
    copy_distributions(closure(set()), environment.site)
    yield environment


def test_the_plain_install_is_the_light_client(plain: Environment, tmp_path: Path) -> None:
    installed = plain.distributions()
    assert installed & HEAVY == set()
    assert {"httpx", "pyyaml", "jsonschema-rs"} <= installed
    (tmp_path / "client.py").write_text("raise SystemExit('the user module was imported')\n")
    code = (
        "import sys\nfrom wan26.client import Wan26Client\n"
        "Wan26Client(base_url='http://127.0.0.1:9', api_key='k').close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('av', 'numpy', 'PIL', 'starlette', 'uvicorn', 'schemathesis', 'hypothesis')))"
    )
    result = plain.run(str(plain.python), "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_extra_is_one_line_naming_the_install(plain: Environment) -> None:
    commands = {
        "mock": ["wan26-mock", "serve"],
        "contracts": ["wan26-contracts", "run", "--base-url", "http://127.0.0.1:9"],
    }
    for extra, command in commands.items():
        result = plain.run(*command)
        assert result.returncode == 2
        assert f"install 'wan26-mock[{extra}]'" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_every_command_says_its_version_without_its_extra(plain: Environment) -> None:
    """The quick start installs `[mock]` only: all three commands are there all the same."""
    for command in ("wan26-mock", "wan26", "wan26-contracts"):
        result = plain.run(command, "--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [command, metadata.version(PROJECT)]


def test_the_example_image_ships_with_the_client(plain: Environment, tmp_path: Path) -> None:
    code = "from wan26.client import EXAMPLE_IMAGE\nprint(EXAMPLE_IMAGE.read_bytes()[:8])"
    result = plain.run(str(plain.python), "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(b"\x89PNG\r\n\x1a\n")


def test_user_type_checkers_see_the_client_types(plain: Environment, tmp_path: Path) -> None:
    user = tmp_path / "app.py"
    user.write_text(
        "from wan26.client import Wan26Client\n\n"
        "client = Wan26Client(base_url='http://127.0.0.1:9', api_key='k')\n"
        "client.generate(image='https://example.com/a.png', prompt='p', duration=7)\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--python-executable",
            str(plain.python),
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            str(user),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout
    assert 'Argument "duration"' in result.stdout
    assert "missing library stubs or py.typed" not in result.stdout


def test_the_mock_extra_serves(plain: Environment) -> None:
    copy_distributions(closure({"mock"}), plain.site)
    port = free_port()
    command = [
        str(plain.path / "bin" / "wan26-mock"),
        "serve",
        "--port",
        str(port),
        "--time-scale",
        "0",
        "--offline",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with running_command(command, f"{base_url}/_mock/health", {}):
        credits = httpx.get(
            f"{base_url}/v1/get-user-credits", headers={"x-api-key": "wan26-mock-key"}
        )
    assert credits.status_code == 200
