"""What the installed commands import is declared in the base dependencies, so
`pip install .` is enough for `wan26-mock`, `wan26` and `wan26-contracts`."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mockserver", "client", "contracts")
# Import names that differ from the distribution's name.
DISTRIBUTIONS = {"yaml": "pyyaml", "PIL": "pillow", "jsonschema_rs": "jsonschema-rs"}
# Loaded only by pytest itself, through the pytest11 entry point.
PYTEST_ONLY = {"mockserver/pytest_plugin.py"}


def imported_distributions() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if str(path.relative_to(ROOT)) in PYTEST_ONLY:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.add(DISTRIBUTIONS.get(top, top).lower())
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        requirement.split(">")[0].split("[")[0].split("=")[0].strip().lower()
        for requirement in project["dependencies"]
    }
    assert imported_distributions() - declared == set()
