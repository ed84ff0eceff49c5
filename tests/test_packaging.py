"""What each install brings: the plain install is the light client, `[mock]` adds the
emulator, `[contracts]` the harness; every import is declared where it is needed."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Import names that differ from the distribution's name.
DISTRIBUTIONS = {"yaml": "pyyaml", "PIL": "pillow", "jsonschema_rs": "jsonschema-rs"}
# Which extras each folder may rely on, beyond the base dependencies.
EXTRAS_OF = {"client": (), "mockserver": ("mock",), "contracts": ("contracts", "mock")}
# Loaded only by pytest itself, through the pytest11 entry point.
PYTEST_ONLY = {"mockserver/testing/plugin.py", "mockserver/testing/handle.py"}
HEAVY = ("av", "numpy", "PIL", "starlette", "uvicorn", "schemathesis", "hypothesis")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {
        requirement.split(">")[0].split("[")[0].split("=")[0].strip().lower()
        for requirement in requirements
    }


def imported_distributions(folder: str) -> set[str]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        if str(path.relative_to(ROOT)) in PYTEST_ONLY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "wan26":
                    found.add(DISTRIBUTIONS.get(top, top).lower())
    return found


def test_every_third_party_import_is_declared_in_the_base_or_the_folders_extra() -> None:
    declared = project()["optional-dependencies"]
    for folder, extras in EXTRAS_OF.items():
        allowed = names(project()["dependencies"])
        for extra in extras:
            allowed |= names(declared[extra])
        assert imported_distributions(folder) - allowed == set(), folder


def test_the_client_and_the_contract_import_nothing_heavy() -> None:
    code = (
        "import sys, wan26.client, wan26.client.cli, wan26.mockserver.cli, "
        "wan26.contracts.cli, wan26.mockserver.testing.plugin\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_wheel_ships_typing_markers_and_both_specs() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package in ("wan26.mockserver", "wan26.client", "wan26.contracts"):
        assert "py.typed" in data["package-data"][package]
        assert (ROOT / data["package-dir"][package] / "py.typed").is_file()
    assert "openapi.yaml" in data["package-data"]["wan26.contracts.core"]
    assert "control-plane.yaml" in data["package-data"]["wan26.mockserver.control"]


def test_the_wheel_ships_every_subpackage_and_the_redis_scripts() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in data["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            name = ".".join([package, *init.parent.relative_to(ROOT / folder).parts])
            assert name in data["packages"], name
    assert "scripts/*.lua" in data["package-data"]["wan26.mockserver.store"]
    assert list((ROOT / "mockserver" / "store" / "scripts").glob("*.lua"))
