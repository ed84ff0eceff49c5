"""schemathesis over `openapi.yaml`: positive and negative generation for every operation,
with its conformance checks and ours (the MP4 inside, the error shape) in the same pass."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wan26.contracts import checks
from wan26.contracts.probes import Target
from wan26.contracts.report import Row
from wan26.mockserver.contract import contract_path


@schemathesis.check
def mp4_matches_request(ctx: Any, response: Any, case: Any) -> None:
    """schemathesis does not look inside binary bodies: decode the video, compare with the ask."""
    if not response.headers.get("content-type", [""])[0].startswith("video/mp4"):
        return
    body = case.body if isinstance(case.body, dict) else {}
    duration = body.get("duration", checks.MODEL.defaults()["duration"])
    failed = [
        row
        for row in checks.video("fuzz", response.content, duration, None)
        if row.verdict != "match"
    ]
    if failed:
        raise AssertionError(
            "; ".join(f"{r.check}: expected {r.expected}, saw {r.observed}" for r in failed)
        )


@schemathesis.check
def errors_have_the_documented_shape(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code < 400 or response.status_code == 405:
        return
    flat = {name: values[0] for name, values in response.headers.items() if values}
    row = checks.error_shape(
        "fuzz", httpx.Response(response.status_code, content=response.content, headers=flat)
    )
    if row.verdict != "match":
        raise AssertionError(row.observed)


EMULATOR_HEADERS = frozenset({"x-mock-scenario", "prefer", "x-mock-token"})
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    mp4_matches_request,
    errors_have_the_documented_shape,
]


def fuzz(target: Target, max_examples: int, timeout_s: float = 120.0) -> list[Row]:
    """One row per operation and generation mode: match, or drift with the first failure."""
    schema = schemathesis.openapi.from_path(str(contract_path()))
    rows = []
    for result in schema.get_all_operations():
        # An Err only for a broken operation; test_contract.py validates openapi.yaml.
        operation = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            name = f"fuzz {operation.label} ({mode.value})"
            failure = _run(operation, mode, target, max_examples, timeout_s)
            rows.append(
                Row(
                    name,
                    "fuzz",
                    "every generated request answered as documented",
                    failure or f"{max_examples} examples conform",
                    "drift" if failure else "match",
                )
            )
    return rows


def _run(
    operation: Any, mode: GenerationMode, target: Target, max_examples: int, timeout_s: float
) -> str | None:
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: Any) -> None:
        # Generated headers may hit the emulator's own control headers by chance (hypothesis
        # draws names from the code's string constants): those are not part of the API.
        headers = {
            name: value
            for name, value in (case.headers or {}).items()
            if name.lower() not in EMULATOR_HEADERS
        } | {"x-api-key": target.api_key}
        case.headers = headers
        response = case.call(base_url=target.base_url, headers=headers, timeout=timeout_s)
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        exercise()
    except (AssertionError, BaseExceptionGroup) as exc:  # failed checks, grouped by schemathesis
        text = " ".join(str(exc).split())
        return text[:300] or exc.__class__.__name__
    return None
