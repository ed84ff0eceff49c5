"""Which contract a run or a diff reads: loaded from a file, checked to be OpenAPI, hashed.

A bad file is a `ContractError` with a one-line message, so the CLI exits 2 with
that line instead of a traceback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from wan26.contracts.core.spec import Contract, contract_path

METHODS = ("get", "post", "put", "patch", "delete")


class ContractError(ValueError):
    """The file cannot be read as an OpenAPI document."""


@dataclass(frozen=True)
class ContractSource:
    path: Path
    sha256: str  # of the file's bytes, so a report names exactly what it checked against
    contract: Contract


def bundled() -> ContractSource:
    return load(contract_path())


def load(path: Path) -> ContractSource:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ContractError(f"{path}: not valid YAML{where}: {problem}") from None
    _check_shape(path, document)
    return ContractSource(path, hashlib.sha256(data).hexdigest(), Contract(document))


def _check_shape(path: Path, document: object) -> None:
    """Just enough structure for the harness to walk it without tripping."""
    if not isinstance(document, dict):
        raise ContractError(f"{path}: not an OpenAPI document (a YAML mapping is expected)")
    if not str(document.get("openapi", "")).startswith("3."):
        raise ContractError(f"{path}: not an OpenAPI 3 document (no 'openapi: 3.x' field)")
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise ContractError(f"{path}: not an OpenAPI document ('paths' must be a mapping)")
    for name, item in paths.items():
        if not isinstance(item, dict) or any(
            not isinstance(item[method], dict) for method in METHODS if method in item
        ):
            raise ContractError(f"{path}: path {name!r} is not a mapping of operations")
