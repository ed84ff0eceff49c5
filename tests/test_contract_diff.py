"""`wan26-contracts diff`: breaking and non-breaking changes between two small specs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from wan26.contracts.cli import main
from wan26.contracts.core.spec import Contract
from wan26.contracts.harness.diff import diff

BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/v1/model": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["prompt"],
                                "properties": {
                                    "prompt": {"type": "string", "maxLength": 100},
                                    "duration": {"type": "integer", "enum": [5, 10], "default": 5},
                                    "seed": {"type": "integer", "maximum": 1000},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": {"description": "ok", "headers": {"x-cost": {"schema": {}}}},
                    "400": {"description": "bad"},
                },
            }
        },
        "/v1/credits": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
}


def changed(edit) -> Contract:
    document = copy.deepcopy(BASE)
    edit(document)
    return Contract(document)


def props(document: dict) -> dict:
    return document["paths"]["/v1/model"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["properties"]


def verdicts(new: Contract) -> list[tuple[str, str, str]]:
    return [(row.check, row.observed, row.verdict) for row in diff(Contract(BASE), new).rows]


def test_identical_contracts_have_no_changes() -> None:
    report = diff(Contract(BASE), Contract(copy.deepcopy(BASE)))
    assert report.rows == [] and report.notes == ["no changes"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: props(d).pop("seed"),
            ("POST /v1/model parameter 'seed'", "removed", "breaking"),
        ),
        (
            lambda d: props(d).__setitem__("noise", props(d).pop("seed")),
            ("POST /v1/model parameter 'seed'", "renamed to 'noise'", "breaking"),
        ),
        (
            lambda d: props(d)["duration"].__setitem__("enum", [5]),
            ("POST /v1/model parameter 'duration' enum", "[5] (narrowed)", "breaking"),
        ),
        (
            lambda d: props(d)["duration"].__setitem__("enum", [5, 10, 15]),
            ("POST /v1/model parameter 'duration' enum", "[5, 10, 15] (widened)", "non-breaking"),
        ),
        (
            lambda d: props(d)["duration"].__setitem__("type", "string"),
            ("POST /v1/model parameter 'duration' type", "string", "breaking"),
        ),
        (
            lambda d: props(d)["prompt"].__setitem__("maxLength", 50),
            ("POST /v1/model parameter 'prompt' maxLength", "50", "breaking"),
        ),
        (
            lambda d: props(d)["prompt"].__setitem__("maxLength", 500),
            ("POST /v1/model parameter 'prompt' maxLength", "500", "non-breaking"),
        ),
        (
            lambda d: d["paths"]["/v1/model"]["post"]["requestBody"]["content"]["application/json"][
                "schema"
            ]["required"].append("seed"),
            ("POST /v1/model parameter 'seed'", "now required", "breaking"),
        ),
        (
            lambda d: props(d).__setitem__("style", {"type": "string"}),
            ("POST /v1/model parameter 'style'", "added, optional", "non-breaking"),
        ),
        (
            lambda d: d["paths"]["/v1/model"]["post"]["responses"].pop("400"),
            ("POST /v1/model response 400", "removed", "breaking"),
        ),
        (
            lambda d: d["paths"]["/v1/model"]["post"]["responses"]["200"]["headers"].pop("x-cost"),
            ("POST /v1/model response 200 header x-cost", "removed", "breaking"),
        ),
        (lambda d: d["paths"].pop("/v1/credits"), ("GET /v1/credits", "removed", "breaking")),
        (
            lambda d: props(d)["duration"].__setitem__("default", 10),
            ("POST /v1/model parameter 'duration' default", "10", "non-breaking"),
        ),
    ],
)
def test_each_kind_of_change_is_classified(edit, expected: tuple[str, str, str]) -> None:
    assert verdicts(changed(edit)) == [expected]


def test_new_required_field_is_breaking() -> None:
    def edit(document: dict) -> None:
        props(document)["style"] = {"type": "string"}
        document["paths"]["/v1/model"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]["required"].append("style")

    assert verdicts(changed(edit)) == [
        ("POST /v1/model parameter 'style'", "added, required", "breaking")
    ]


def test_cli_exit_codes_and_reports(tmp_path: Path) -> None:
    old, new, same = tmp_path / "old.yaml", tmp_path / "new.yaml", tmp_path / "same.yaml"
    old.write_text(yaml.safe_dump(BASE))
    same.write_text(yaml.safe_dump(BASE))
    narrowed = copy.deepcopy(BASE)
    props(narrowed)["duration"]["enum"] = [5]
    new.write_text(yaml.safe_dump(narrowed))
    report = tmp_path / "diff.json"
    assert (
        main(
            [
                "diff",
                str(old),
                str(new),
                "--report-json",
                str(report),
                "--junit",
                str(tmp_path / "diff.xml"),
            ]
        )
        == 1
    )
    assert json.loads(report.read_text())["counts"] == {"breaking": 1}
    assert "<failure" in (tmp_path / "diff.xml").read_text()
    assert main(["diff", str(old), str(same)]) == 0
    (tmp_path / "broken.yaml").write_text("just: text\n")
    assert main(["diff", str(old), str(tmp_path / "broken.yaml")]) == 2


def test_the_shipped_contract_against_itself() -> None:
    root = Path(__file__).resolve().parent.parent / "openapi.yaml"
    assert main(["diff", str(root), str(root)]) == 0
