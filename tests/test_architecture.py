"""The shape the code keeps (step 12), so later changes cannot quietly undo it: imports point
one way (import-linter's contracts in pyproject.toml), no cycles, small modules and store
classes, few modules that know Starlette."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mockserver", "client", "contracts")
MAX_TOP_LEVEL_MODULES = 14
MAX_STARLETTE_MODULES = 12
MAX_MODULE_LINES = 500
MAX_STORE_CLASS_METHODS = 14


def sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_imports_point_the_way_pyproject_says() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_counting_every_import_statement() -> None:
    """Module level, under TYPE_CHECKING and inside functions alike."""
    graph = grimp.build_graph(
        *(f"wan26.{package}" for package in PACKAGES), exclude_type_checking_imports=False
    )
    assert cycles(graph) == []


def test_the_emulator_package_has_few_top_level_modules() -> None:
    top_level = sorted(path.name for path in (ROOT / "mockserver").glob("*.py"))
    assert len(top_level) <= MAX_TOP_LEVEL_MODULES, top_level


def test_few_modules_know_starlette() -> None:
    importing = [
        str(path.relative_to(ROOT))
        for path in sources()
        if re.search(r"^\s*(from|import) starlette\b", path.read_text(), re.MULTILINE)
    ]
    assert len(importing) <= MAX_STARLETTE_MODULES, importing


def test_no_module_is_over_the_line_limit() -> None:
    """The packages, the tests and the benchmark alike."""
    everything = [*sources(), *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    long = {
        str(path.relative_to(ROOT)): lines
        for path in everything
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_store_class_has_more_than_a_few_public_methods() -> None:
    big = {}
    for path in (ROOT / "mockserver" / "store").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                public = [
                    item.name
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    and not item.name.startswith("_")
                ]
                if len(public) > MAX_STORE_CLASS_METHODS:
                    big[f"{path.name}:{node.name}"] = len(public)
    assert big == {}


def test_the_slow_tier_names_files_that_exist() -> None:
    from conftest import SLOW_FILES

    present = {path.name for path in (ROOT / "tests").glob("test_*.py")}
    assert present >= SLOW_FILES, SLOW_FILES - present
