"""A mkdocs hook: the reference pages are generated from the code, so they cannot drift.

A page asks for a generated section with a marker line, replaced at build time:

- `<!-- generated: cli -->`: every command and option of `wan26-mock`, `wan26` and
  `wan26-contracts`, from their argparse parsers (`build_parser()`);
- `<!-- generated: config -->`: every setting, from the `Config` dataclasses: name,
  type, default, and the comment written beside the field in `mockserver/config.py`;
- `<!-- generated: control-plane -->`: every route of `mockserver/control/control-plane.yaml`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import yaml

MARKER = re.compile(r"^<!-- generated: (?P<name>[\w-]+) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs' hook: replace each marker with its section; an unknown marker fails the build."""

    def render(found: re.Match[str]) -> str:
        name = found["name"]
        if name not in SECTIONS:
            raise ValueError(f"unknown generated section {name!r}; known: {sorted(SECTIONS)}")
        return SECTIONS[name]()

    return MARKER.sub(render, markdown)


# --- the command line -------------------------------------------------------------------


def cli() -> str:
    from wan26.client.cli import build_parser as client_parser
    from wan26.contracts.cli import build_parser as contracts_parser
    from wan26.mockserver.cli import build_parser as mock_parser

    return "\n".join(
        "\n".join(_command(parser, level=2))
        for parser in (mock_parser(), client_parser(), contracts_parser())
    )


def _command(parser: argparse.ArgumentParser, level: int) -> Iterator[str]:
    yield f"{'#' * level} `{parser.prog}`\n"
    if parser.description:
        yield f"{_one_line(parser.description)}\n"
    yield f"```text\n{parser.format_usage().strip()}\n```\n"
    rows = [_option_row(parser, action) for action in parser._actions if _documented(action)]
    if rows:
        yield "| option | description |\n| --- | --- |"
        yield from rows
        yield ""
    if parser.epilog:
        yield f"{_one_line(parser.epilog)}\n"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _command(sub, level + 1)


def _documented(action: argparse.Action) -> bool:
    return not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)


def _option_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if action.option_strings:
        metavar = _metavar(action)
        name = ", ".join(
            f"`{flag}{' ' + metavar if metavar else ''}`" for flag in action.option_strings
        )
    else:
        name = f"`{action.metavar or action.dest}`"
    help_text = (action.help or "") % {**vars(action), "prog": parser.prog}
    if action.choices and not isinstance(action.choices, dict):
        help_text += f" One of: {', '.join(f'`{choice}`' for choice in action.choices)}."
    return f"| {name} | {_cell(help_text)} |"


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.metavar:
        return str(action.metavar)
    if action.choices:
        return ""
    return action.dest.upper()


# --- the configuration ------------------------------------------------------------------


def config() -> str:
    from wan26.mockserver.config import Config

    return "\n".join(_settings(Config, prefix=""))


def _settings(cls: type, prefix: str) -> Iterator[str]:
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    title = f"`{prefix.rstrip('.')}`" if prefix else "Top level"
    yield f"### {title}\n"
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        yield f"{_one_line(cls.__doc__)}\n"
    yield "| setting | type | default | what |\n| --- | --- | --- | --- |"
    nested: list[tuple[type, str]] = []
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        inner = _dataclass_in(kind)
        if inner is not None:
            nested.append((inner, f"{prefix}{item.name}."))
        default = _default(item)
        doc = comments.get(item.name, "")
        if inner is not None and not doc:
            doc = f"see `{prefix}{item.name}` below"
        yield (
            f"| `{prefix}{item.name}` | `{_type_name(kind)}` | {_cell(default)} | {_cell(doc)} |"
        )
    yield ""
    for inner, inner_prefix in nested:
        yield from _settings(inner, inner_prefix)


def _dataclass_in(kind: Any) -> type | None:
    """The dataclass a field holds, itself or as list items (keys: a list of KeyConfig)."""
    candidates = [kind, *typing.get_args(kind)]
    return next(
        (c for c in candidates if dataclasses.is_dataclass(c) and isinstance(c, type)), None
    )


def _default(item: dataclasses.Field[Any]) -> str:
    if item.default is not dataclasses.MISSING:
        value = item.default
    elif item.default_factory is not dataclasses.MISSING:
        value = item.default_factory()
    else:
        return "required"
    if dataclasses.is_dataclass(value):
        return "(section)"
    text = yaml.safe_dump(value, default_flow_style=True, width=1000, sort_keys=False)
    return f"`{text.strip().removesuffix('...').strip()}`"


def _type_name(kind: Any) -> str:
    text = str(kind) if typing.get_origin(kind) else getattr(kind, "__name__", str(kind))
    text = re.sub(r"\b(typing|wan26\.mockserver\.\w+)\.", "", text).replace("NoneType", "None")
    return text.replace(" | ", " or ")  # a bar would split the table's cell


def _field_comments(cls: type) -> dict[str, str]:
    """The comment lines right above each field and the comment at its end, joined."""
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        field = re.match(r"^(\w+): [^#]*?(?:#\s*(?P<trailing>.*))?$", stripped)
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
        elif field and not stripped.startswith(("def ", "return ")):
            parts = [*pending, field["trailing"] or ""]
            found[field[1]] = " ".join(part for part in parts if part)
            pending = []
        else:
            pending = []
    return found


# --- the control plane ------------------------------------------------------------------


def control_plane() -> str:
    spec = yaml.safe_load(
        resources.files("wan26.mockserver.control")
        .joinpath("control-plane.yaml")
        .read_text("utf-8")
    )
    lines: list[str] = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters":
                continue
            lines += _operation(spec, method.upper(), path, operation, shared)
    return "\n".join(lines)


def _operation(
    spec: dict[str, Any], method: str, path: str, operation: dict[str, Any], shared: list[Any]
) -> Iterator[str]:
    yield f"### `{method} {path}`\n"
    about = operation.get("summary") or operation.get("description")
    if about:
        yield f"{_one_line(about)}\n"
    parameters = [_resolve(spec, p) for p in [*shared, *operation.get("parameters", [])]]
    if parameters:
        yield "| parameter | in | type | what |\n| --- | --- | --- | --- |"
        for parameter in parameters:
            yield (
                f"| `{parameter['name']}` | {parameter['in']} | "
                f"{_schema_type(spec, parameter.get('schema', {}))} | "
                f"{_cell(parameter.get('description', ''))} |"
            )
        yield ""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        schema = _resolve(spec, body["schema"])
        yield "| body field | type | what |\n| --- | --- | --- |"
        for name, field_schema in schema.get("properties", {}).items():
            required = " (required)" if name in schema.get("required", []) else ""
            resolved = _resolve(spec, field_schema)
            yield (
                f"| `{name}`{required} | {_schema_type(spec, resolved)} | "
                f"{_cell(resolved.get('description', ''))} |"
            )
        yield ""
    answers = [
        f"{status} {_one_line(_resolve(spec, response).get('description', '')).rstrip('.')}"
        for status, response in operation.get("responses", {}).items()
    ]
    yield f"Answers: {_cell('; '.join(answers))}\n"


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _schema_type(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    schema = _resolve(spec, schema)
    kind = schema.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    limits = [
        f"{word} {schema[name]}"
        for name, word in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "length ≤"))
        if name in schema
    ]
    if "enum" in schema:
        limits.append("one of " + ", ".join(f"`{value}`" for value in schema["enum"]))
    return _cell(" ".join([text, *limits]))


# --- shared -----------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


SECTIONS: dict[str, Callable[[], str]] = {
    "cli": cli,
    "config": config,
    "control-plane": control_plane,
}
