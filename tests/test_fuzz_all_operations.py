"""schemathesis over every operation of both specs, in-process: no generated request, valid or
not, may get a 5xx (forced failures aside, which are the emulator's own headers)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from conftest import API_KEY, make_config
from wan26.contracts.core.spec import contract_path
from wan26.contracts.harness.fuzz import exercise
from wan26.mockserver import create_app
from wan26.mockserver.config import MediaConfig
from wan26.mockserver.control.plane import SPEC_PATH

MAX_EXAMPLES = 25
SPECS = {
    "api": schemathesis.openapi.from_path(str(contract_path())),
    "control": schemathesis.openapi.from_path(str(SPEC_PATH)),
}


def _modes(operation: Any) -> list[GenerationMode]:
    """Negative too, where something can be sent wrong (any string is a valid string)."""
    breakable = len(operation.body) > 0 or any(
        parameter.definition.get("schema", {}).get("type") != "string"
        for parameter in operation.iter_parameters()
    )
    return [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if breakable else [])]


OPERATIONS = [
    pytest.param(spec, operation, mode, id=f"{spec}:{operation.label}:{mode.value}")
    for spec, schema in SPECS.items()
    for operation in (result.ok() for result in schema.get_all_operations())
    for mode in _modes(operation)
]


@pytest.mark.parametrize(("spec", "operation", "mode"), OPERATIONS)
def test_no_generated_request_gets_a_server_error(
    spec: str, operation: Any, mode: GenerationMode
) -> None:
    # New seeds of the fixture image copy encoded segments, so model calls stay quick.
    app = create_app(make_config(media=MediaConfig(offline=True)))

    def send(case: Any, headers: dict[str, str]) -> None:
        response = case.call(app=app, headers=headers)
        case.validate_response(response, checks=[not_a_server_error], headers=headers)

    exercise(operation, mode, MAX_EXAMPLES, API_KEY, send)
