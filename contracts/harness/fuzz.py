"""schemathesis over the contract: positive and negative generation for every operation,
with its conformance checks and ours (the MP4 inside, the error shape) in the same pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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

from wan26.contracts.harness import checks
from wan26.contracts.harness.probes import Target
from wan26.contracts.harness.report import Row

EMULATOR_HEADERS = frozenset({"x-mock-scenario", "prefer", "x-mock-token"})
Check = Callable[[Any, Any, Any], None]


@dataclass(frozen=True)
class FuzzFailure:
    """The (shrunk) example that failed: what broke, schemathesis' full account, a curl."""

    summary: str
    detail: str
    curl: str

    def account(self) -> str:
        """The whole story for a report; the key shows as [Filtered] in the curl."""
        if self.curl in self.detail:
            return self.detail
        return f"{self.detail}\n\nReproduce with:\n\n    {self.curl}"


def mp4_matches_request(spec: checks.Spec) -> Check:
    """schemathesis does not look inside binary bodies: decode the video, compare with the ask."""

    def mp4_matches_request(ctx: Any, response: Any, case: Any) -> None:
        if not response.headers.get("content-type", [""])[0].startswith("video/mp4"):
            return
        body = case.body if isinstance(case.body, dict) else {}
        duration = body.get("duration", spec.model.defaults()["duration"])
        failed = [
            row
            for row in checks.video("fuzz", response.content, spec.model.output, duration, None)
            if row.verdict != "match"
        ]
        if failed:
            raise AssertionError(
                "; ".join(f"{r.check}: expected {r.expected}, saw {r.observed}" for r in failed)
            )

    return mp4_matches_request


def errors_have_the_documented_shape(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code < 400 or response.status_code == 405:
        return
    flat = {name: values[0] for name, values in response.headers.items() if values}
    row = checks.error_shape(
        "fuzz", httpx.Response(response.status_code, content=response.content, headers=flat)
    )
    if row.verdict != "match":
        raise AssertionError(row.observed)


def fuzz(target: Target, spec: checks.Spec, contract: Path, max_examples: int) -> Iterator[Row]:
    """One row per operation and generation mode, as each finishes: match, or drift with the
    failing example's whole account and a curl command that reproduces it."""
    schema = schemathesis.openapi.from_path(str(contract))
    conformance = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        mp4_matches_request(spec),
        errors_have_the_documented_shape,
    ]
    for result in schema.get_all_operations():
        # An Err only for a broken operation; test_contract.py validates openapi.yaml.
        operation = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _run(operation, mode, target, max_examples, conformance)
            yield Row(
                f"fuzz {operation.label} ({mode.value})",
                "fuzz",
                "every generated request answered as documented",
                failure.summary if failure else f"{max_examples} examples conform",
                "drift" if failure else "match",
                failure.account() if failure else "",
            )


def exercise(
    operation: Any,
    mode: GenerationMode,
    max_examples: int,
    api_key: str,
    send: Callable[[Any, dict[str, str]], None],
) -> None:
    """Draw up to `max_examples` requests for `operation` and hand each to `send` with its
    headers; an exception in `send` fails the run (hypothesis then replays the failing
    example last). The emulator's own test suite fuzzes with this too."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def each(case: Any) -> None:
        # Generated headers may hit the emulator's own control headers by chance (hypothesis
        # draws names from the code's string constants): those are not part of the API.
        headers = {
            name: value
            for name, value in (case.headers or {}).items()
            if name.lower() not in EMULATOR_HEADERS
        } | {"x-api-key": api_key}
        case.headers = headers
        send(case, headers)

    each()


def _run(
    operation: Any,
    mode: GenerationMode,
    target: Target,
    max_examples: int,
    conformance: list[Check],
) -> FuzzFailure | None:
    failures: list[FuzzFailure] = []

    def send(case: Any, headers: dict[str, str]) -> None:
        response = case.call(base_url=target.base_url, headers=headers, timeout=target.timeout_s)
        try:
            case.validate_response(response, checks=conformance, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # grouped by schemathesis
            failures.append(_failure(exc, case.as_curl_command(base_url=target.base_url)))
            raise

    try:
        exercise(operation, mode, max_examples, target.api_key, send)
    except (AssertionError, BaseExceptionGroup):
        # hypothesis replays the failing example last, so its account is the last one
        return failures[-1]
    return None


def _failure(exc: BaseException, curl: str) -> FuzzFailure:
    text = (getattr(exc, "message", None) or str(exc)).strip() or exc.__class__.__name__
    leaves = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    titles = [getattr(leaf, "title", None) or str(leaf).split("\n")[0] for leaf in leaves]
    return FuzzFailure("; ".join(dict.fromkeys(t.strip() for t in titles)) or text, text, curl)
