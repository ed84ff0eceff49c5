"""The contract: a valid OpenAPI 3.1 document, shipped with the package, driving the emulator."""

from __future__ import annotations

from pathlib import Path

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from wan26.contracts.core.spec import contract_path, default_contract, load_contract
from wan26.contracts.core.validation import RequestValidator

ROOT_CONTRACT = Path(__file__).resolve().parent.parent / "openapi.yaml"


def test_contract_is_a_valid_openapi_31_document() -> None:
    document, _ = read_from_filename(str(ROOT_CONTRACT))
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_installed_package_ships_the_same_contract() -> None:
    assert contract_path().is_file()
    assert contract_path().read_bytes() == ROOT_CONTRACT.read_bytes()


def test_request_schema_holds_the_documented_parameters() -> None:
    operation = default_contract().models()["wan-2.6-i2v"]
    assert operation.path == "/v1/wan-2.6-i2v"
    assert operation.request_schema["required"] == ["image", "prompt"]
    assert operation.enum("duration") == [5, 10, 15]
    assert operation.enum("resolution") == ["720p", "1080p"]
    assert operation.defaults() == {
        "audio": None,
        "duration": 5,
        "enable_prompt_expansion": True,
        "multi_shots": False,
        "negative_prompt": "",
        "resolution": "720p",
        "seed": None,
    }
    assert operation.properties["prompt"]["maxLength"] == 1500
    assert operation.properties["negative_prompt"]["maxLength"] == 500
    assert operation.properties["seed"]["maximum"] == 2147483647


def test_every_documented_error_code_has_the_error_shape() -> None:
    document = yaml.safe_load(ROOT_CONTRACT.read_text())
    responses = document["paths"]["/v1/wan-2.6-i2v"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "403", "404", "406", "429", "500", "502", "504"}
    contract = default_contract()
    for status, response in responses.items():
        resolved = contract.resolve(response)
        if status == "200":
            assert set(resolved["headers"]) == {
                "x-request-id",
                "x-cost",
                "x-remaining-credits",
                "x-generation-time",
                "x-seed-value",
            }
            assert "video/mp4" in resolved["content"]
        else:
            schema = resolved["content"]["application/json"]["schema"]
            assert schema["required"] == ["error"]
    rate_limited = contract.resolve(responses["429"])
    assert "x-rate-limit-reset-at-utc" in rate_limited["headers"]


def test_changing_the_contract_changes_the_emulators_rules(tmp_path: Path) -> None:
    document = yaml.safe_load(ROOT_CONTRACT.read_text())
    schema = document["components"]["schemas"]["Wan26I2VRequest"]["properties"]
    schema["duration"]["enum"] = [5, 8]
    schema["duration"]["default"] = 8
    edited = tmp_path / "openapi.yaml"
    edited.write_text(yaml.safe_dump(document))
    validator = RequestValidator(load_contract(edited).models()["wan-2.6-i2v"].request_schema)
    params = validator.validate({"image": "https://x.test/a.png", "prompt": "p"})
    assert params["duration"] == 8
    assert validator.validate({"image": "https://x.test/a.png", "prompt": "p", "duration": 8})


def test_control_plane_spec_is_valid_and_covers_every_control_route() -> None:
    from wan26.mockserver.control import plane as control

    path = control.SPEC_PATH
    document, _ = read_from_filename(str(path))
    validate(document)
    documented = set(document["paths"])
    mounted = {control.MOUNT.path + getattr(route, "path", "") for route in control.MOUNT.routes}
    served = mounted | {"/outputs/{name}"}
    assert documented == served
