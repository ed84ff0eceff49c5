"""Breaking and non-breaking changes between two versions of the contract.

Breaking: an operation, parameter, response code or header removed; a field
renamed; a new required field; an enum narrowed; a type changed; a limit
tightened. Non-breaking: additions, widened enums, loosened limits, new defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wan26.contracts.core.spec import Contract
from wan26.contracts.harness.report import ContractRef, Report, Row
from wan26.contracts.harness.source import METHODS, ContractError, load


def diff_files(old: Path, new: Path) -> Report:
    """Raises `ContractError` (one line) for a file that is not a usable OpenAPI document."""
    before, after = load(old), load(new)
    try:
        report = diff(before.contract, after.contract, f"{old} -> {new}")
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise ContractError(
            f"{old} or {new} is not a well-formed OpenAPI document "
            f"({exc.__class__.__name__}: {exc})"
        ) from None
    report.contracts = [
        ContractRef("old", str(old), before.sha256),
        ContractRef("new", str(new), after.sha256),
    ]
    return report


def diff(old: Contract, new: Contract, target: str = "old -> new") -> Report:
    report = Report(title="Contract changes", target=target)
    old_ops, new_ops = _operations(old), _operations(new)
    for key in sorted(old_ops.keys() - new_ops.keys()):
        report.add(_row(key, "operation", "present", "removed", True))
    for key in sorted(new_ops.keys() - old_ops.keys()):
        report.add(_row(key, "operation", "absent", "added", False))
    for key in sorted(old_ops.keys() & new_ops.keys()):
        before, after = old_ops[key], new_ops[key]
        report.add(*_request_changes(key, _body_schema(old, before), _body_schema(new, after)))
        report.add(
            *_response_changes(
                key,
                old.resolve(before.get("responses", {})),
                new.resolve(after.get("responses", {})),
            )
        )
    if not report.rows:
        report.notes.append("no changes")
    return report


def _operations(contract: Contract) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": item[method]
        for path, item in contract.document.get("paths", {}).items()
        for method in METHODS
        if method in item
    }


def _body_schema(contract: Contract, operation: dict[str, Any]) -> dict[str, Any]:
    content = contract.resolve(operation.get("requestBody", {})).get("content", {})
    body_schema: dict[str, Any] = content.get("application/json", {}).get("schema", {})
    return body_schema


def _request_changes(op: str, old: dict[str, Any], new: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    removed = sorted(old_props.keys() - new_props.keys())
    added = sorted(new_props.keys() - old_props.keys())
    renamed = {}
    if (
        len(removed) == 1
        and len(added) == 1
        and _type(old_props[removed[0]]) == _type(new_props[added[0]])
    ):
        renamed = {removed[0]: added[0]}
    for name in removed:
        change = f"renamed to '{renamed[name]}'" if name in renamed else "removed"
        rows.append(_row(f"{op} parameter '{name}'", "request", "present", change, True))
    for name in added:
        if name in renamed.values():
            continue
        required = name in new_required
        rows.append(
            _row(
                f"{op} parameter '{name}'",
                "request",
                "absent",
                "added, required" if required else "added, optional",
                required,
            )
        )
    for name in sorted(old_props.keys() & new_props.keys()):
        rows += _property_changes(f"{op} parameter '{name}'", old_props[name], new_props[name])
        if name in new_required and name not in old_required:
            rows.append(
                _row(f"{op} parameter '{name}'", "request", "optional", "now required", True)
            )
        if name in old_required and name not in new_required:
            rows.append(
                _row(f"{op} parameter '{name}'", "request", "required", "now optional", False)
            )
    return rows


def _property_changes(check: str, old: dict[str, Any], new: dict[str, Any]) -> list[Row]:
    rows = []
    if _type(old) != _type(new):
        rows.append(_row(f"{check} type", "request", str(_type(old)), str(_type(new)), True))
    if "enum" in old or "enum" in new:
        before, after = old.get("enum"), new.get("enum")
        dropped = [v for v in before or [] if after is not None and v not in after]
        gained = [v for v in after or [] if before is not None and v not in before]
        if dropped or (before is None and after is not None):
            rows.append(_row(f"{check} enum", "request", str(before), f"{after} (narrowed)", True))
        elif gained or (after is None and before is not None):
            rows.append(_row(f"{check} enum", "request", str(before), f"{after} (widened)", False))
    for limit, tighter in (
        ("maxLength", min),
        ("maximum", min),
        ("minimum", max),
        ("minLength", max),
    ):
        before, after = old.get(limit), new.get(limit)
        if before != after:
            breaking = after is not None and (before is None or tighter(before, after) == after)
            rows.append(_row(f"{check} {limit}", "request", str(before), str(after), breaking))
    if old.get("default") != new.get("default"):
        rows.append(
            _row(
                f"{check} default",
                "request",
                repr(old.get("default")),
                repr(new.get("default")),
                False,
            )
        )
    return rows


def _response_changes(op: str, old: dict[str, Any], new: dict[str, Any]) -> list[Row]:
    rows = []
    for code in sorted(old.keys() - new.keys()):
        rows.append(_row(f"{op} response {code}", "response", "documented", "removed", True))
    for code in sorted(new.keys() - old.keys()):
        rows.append(_row(f"{op} response {code}", "response", "absent", "added", False))
    for code in sorted(old.keys() & new.keys()):
        old_headers = set(old[code].get("headers", {}))
        new_headers = set(new[code].get("headers", {}))
        for header in sorted(old_headers - new_headers):
            rows.append(
                _row(
                    f"{op} response {code} header {header}",
                    "response",
                    "documented",
                    "removed",
                    True,
                )
            )
        for header in sorted(new_headers - old_headers):
            rows.append(
                _row(f"{op} response {code} header {header}", "response", "absent", "added", False)
            )
    return rows


def _type(spec: dict[str, Any]) -> Any:
    declared = spec.get("type")
    return sorted(declared) if isinstance(declared, list) else declared


def _row(check: str, category: str, before: str, after: str, breaking: bool) -> Row:
    return Row(check, category, before, after, "breaking" if breaking else "non-breaking")
