"""Every JSON body of both specs, request or response, carries an example, and every example
in them (bodies, parameters, headers) is valid against its own schema, formats included:
what generated docs, Postman collections and schemathesis' examples phase show is real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from wan26.contracts.core.spec import Contract, contract_path, load_contract
from wan26.mockserver.control.plane import SPEC_PATH

SPECS = {"api": contract_path(), "control": SPEC_PATH}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _bodies(contract: Contract) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each JSON media type of a request or response body, with where it is."""
    for path, item in contract.document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            request = contract.resolve(operation.get("requestBody", {}))
            if "application/json" in request.get("content", {}):
                yield f"{where} request", request["content"]["application/json"]
            for status, response in operation["responses"].items():
                content = contract.resolve(response).get("content", {})
                if "application/json" in content:
                    yield f"{where} {status}", content["application/json"]


def _examples(node: dict[str, Any]) -> list[Any]:
    """The examples a media type, parameter or header gives, and those of its schema."""
    found = [node["example"]] if "example" in node else []
    found += [example["value"] for example in node.get("examples", {}).values()]
    schema = node.get("schema", {})
    found += [schema["example"]] if "example" in schema else []
    return found + list(schema.get("examples", []))


def _with_schemas(contract: Contract) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node that pairs a schema with examples: bodies, parameters, headers."""
    yield from _bodies(contract)
    document = contract.document
    parameters = [*document.get("components", {}).get("parameters", {}).values()]
    for item in document["paths"].values():
        parameters += item.get("parameters", [])
        for method, operation in item.items():
            if method in METHODS:
                parameters += operation.get("parameters", [])
                for response in operation["responses"].values():
                    parameters += contract.resolve(response).get("headers", {}).values()
    parameters += document.get("components", {}).get("headers", {}).values()
    for parameter in parameters:
        resolved = contract.resolve(parameter)
        yield resolved.get("name", "header"), resolved


CASES = [
    pytest.param(spec, where, node, id=f"{spec}:{where}")
    for spec, path in SPECS.items()
    for where, node in _with_schemas(load_contract(path))
    if _examples(node)
]


@pytest.mark.parametrize("spec", SPECS)
def test_every_json_body_has_an_example(spec: str) -> None:
    contract = load_contract(SPECS[spec])
    bodies = list(_bodies(contract))
    assert len(bodies) > 5
    assert [where for where, media in bodies if not _examples(media)] == []


@pytest.mark.parametrize(("spec", "where", "node"), CASES)
def test_every_example_is_valid_against_its_schema(
    spec: str, where: str, node: dict[str, Any]
) -> None:
    validator = jsonschema_rs.Draft202012Validator(node["schema"], validate_formats=True)
    for example in _examples(node):
        errors = [error.message for error in validator.iter_errors(example)]
        assert errors == [], f"{where}: {example!r}"
