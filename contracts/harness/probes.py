"""Probes: requests that provoke each documented behaviour on purpose, and what to expect.

Free probes cost nothing on the live API (they fail before any generation).
Paid probes make one real generation each. Scenario probes need the emulator's
`X-Mock-Scenario` header and run only against it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image

from wan26.contracts.core.money import price_list, price_of
from wan26.contracts.harness import checks
from wan26.contracts.harness.report import Row

if TYPE_CHECKING:
    from wan26.contracts.harness.tape import Recorder

V1 = "/v1/wan-2.6-i2v"
V2 = "/v2/wan-2.6-i2v"
INPUT_SIZE = (1280, 720)  # 16:9, so 720p output is 1280x720


def input_image() -> str:
    """A 16:9 PNG as a data URI: no network needed, and the expected output size is known."""
    image = Image.linear_gradient("L").resize(INPUT_SIZE).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Target:
    base_url: str
    api_key: str
    http: httpx.Client
    emulator: bool  # honours X-Mock-Scenario and costs nothing
    image: str = field(default_factory=input_image)
    poll_interval_s: float = 2.0
    wait_s: float = 1800.0
    recorder: Recorder | None = None  # `--record DIR`: every exchange goes to a cassette

    @property
    def timeout_s(self) -> float | None:
        """The read timeout of every request, the fuzz pass's too."""
        return self.http.timeout.read

    def send(
        self, method: str, path: str, *, key: str | None = "", **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key == "":
            key = self.api_key
        if key is not None:
            headers["x-api-key"] = key
        url = path if path.startswith("http") else self.base_url + path
        response = self.http.request(method, url, headers=headers, **kwargs)
        if self.recorder is not None:
            sent = response.request.url
            local = url.startswith(self.base_url + "/")
            self.recorder.saw(
                method,
                url[len(self.base_url) :].split("?", 1)[0] if local else sent.path,
                sent.query.decode(),
                key,
                response,
            )
        return response

    def body(self, **changes: Any) -> dict[str, Any]:
        return {
            "image": self.image,
            "prompt": "A slow pan over a gradient",
            "duration": 5,
            "resolution": "720p",
            **changes,
        }


@dataclass(frozen=True)
class ProbeResult:
    rows: list[Row]  # the verdicts
    seen: dict[str, Any]  # what a recording keeps (never the key, never a video)


@dataclass(frozen=True)
class Probe:
    name: str
    summary: str
    run: Callable[[Target], ProbeResult]
    cost_usd: float = 0.0
    scenario: bool = False  # emulator only


def observe(response: httpx.Response) -> dict[str, Any]:
    """What a recording keeps of a response: never the key, never a video body."""
    kept = {
        name: value
        for name, value in response.headers.items()
        if name.startswith("x-") or name in ("content-type", "retry-after")
    }
    seen: dict[str, Any] = {"status": response.status_code, "headers": kept}
    if "json" in kept.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            seen["error"] = body["error"]
    return seen


def error_probe(
    name: str,
    expected: int,
    request: Callable[[Target], httpx.Response],
    summary: str,
    extra_headers: tuple[str, ...] = (),
) -> Probe:
    def run(target: Target) -> ProbeResult:
        response = request(target)
        rows = [checks.status(name, response, expected)]
        if expected != 405:  # the real gateway answers 405 in HTML
            rows.append(checks.error_shape(name, response))
        if extra_headers:
            rows.append(checks.headers(name, response, list(extra_headers)))
        return ProbeResult(rows, observe(response))

    return Probe(name, summary, run)


def enum_probe(field_name: str, value: Any, documented: bool) -> Probe:
    """Free: send the value with `prompt` left out. The 400 must name `prompt`; it names
    the field too exactly when the server refuses the value."""
    name = f"enum-{field_name}-{value}"

    def run(target: Target) -> ProbeResult:
        body = target.body(**{field_name: value})
        del body["prompt"]
        response = target.send("POST", V1, json=body)
        message = str(checks.error_text(response))
        expected = "accepted" if documented else "refused"
        if response.status_code != 400 or "prompt" not in message:
            row = Row(
                name,
                "enum",
                f"{field_name}={value} {expected}",
                f"HTTP {response.status_code}: {message[:80]}",
                "inconclusive",
                "the server did not report the missing prompt",
            )
            return ProbeResult([row], observe(response))
        refused = f"'{field_name}'" in message or f"{field_name}:" in message
        seen = "refused" if refused else "accepted"
        row = Row(
            name,
            "enum",
            f"{field_name}={value} {expected}",
            seen,
            "match" if seen == expected else "drift",
            f"enum value {value!r} {'dropped' if documented else 'added'}"
            if seen != expected
            else "",
        )
        return ProbeResult([row], observe(response))

    return Probe(
        name, f"{field_name}={value!r} is {'in' if documented else 'not in'} the enum", run
    )


def free_probes(spec: checks.Spec) -> list[Probe]:
    probes = [
        error_probe(
            "auth-missing",
            401,
            lambda t: t.send("POST", V1, key=None, json=t.body()),
            "no x-api-key",
        ),
        error_probe(
            "auth-invalid",
            401,
            lambda t: t.send("POST", V1, key="invalid-key-for-contract-test", json=t.body()),
            "an unknown key",
        ),
        error_probe(
            "validation-enum",
            400,
            lambda t: t.send("POST", V1, json=t.body(duration=7)),
            "duration 7",
        ),
        error_probe(
            "validation-required",
            400,
            lambda t: t.send("POST", V1, json={"image": t.image}),
            "no prompt",
        ),
        error_probe(
            "unknown-model",
            404,
            lambda t: t.send("POST", "/v1/wan-0.0-contract-test", json=t.body()),
            "a slug that does not exist",
        ),
        error_probe("wrong-method", 405, lambda t: t.send("GET", V1), "GET on the model"),
        error_probe(
            "content-type",
            406,
            lambda t: t.send("POST", V1, content=b"{}", headers={"content-type": "text/plain"}),
            "text/plain body",
        ),
        Probe("credits", "GET /v1/get-user-credits", partial(_credits, spec)),
        error_probe(
            "v2-unknown-job",
            404,
            lambda t: t.send("GET", "/v2/requests/00000000-0000-4000-8000-000000000000/status"),
            "a job id that does not exist",
        ),
    ]
    for field_name in ("duration", "resolution"):
        documented = spec.model.enum(field_name)
        probes += [enum_probe(field_name, value, True) for value in documented]
        outside = 8 if field_name == "duration" else "4k"
        probes.append(enum_probe(field_name, outside, False))
    return probes


def _credits(spec: checks.Spec, target: Target) -> ProbeResult:
    response = target.send("GET", "/v1/get-user-credits")
    rows = [
        checks.status("credits", response, 200),
        checks.body_schema("credits", response, spec, "Credits"),
    ]
    return ProbeResult(rows, observe(response))


def paid_probes(spec: checks.Spec) -> list[Probe]:
    price = float(price_of(price_list(spec.model), 5, "720p"))
    return [
        Probe(
            "v1-generate",
            "one 5 s 720p video (v1)",
            partial(_v1_generate, spec),
            cost_usd=price,
        ),
        Probe(
            "v2-lifecycle",
            "one 5 s 720p video through the v2 queue",
            partial(_v2_lifecycle, spec),
            cost_usd=price,
        ),
    ]


def _v1_generate(spec: checks.Spec, target: Target) -> ProbeResult:
    response = target.send("POST", V1, json=target.body())
    seen = observe(response)
    rows = [checks.status("v1-generate", response, 200)]
    if response.status_code != 200:
        return ProbeResult(rows, seen)
    rows += [
        checks.content_type("v1-generate", response, "video/mp4"),
        checks.headers("v1-generate", response, spec.documented_headers(V1, "post", "200")),
    ]
    if response.headers.get("content-type", "").startswith("video/"):
        rows += checks.video(
            "v1-generate", response.content, spec.model.output, 5, spec.model.tier_size("720p")
        )
        seen["media"] = _media_summary(response.content)
    return ProbeResult(rows, seen)


def _v2_lifecycle(spec: checks.Spec, target: Target) -> ProbeResult:
    submit = target.send("POST", V2, json=target.body())
    rows = [checks.status("v2-submit", submit, 200)]
    seen: dict[str, Any] = {"submit": observe(submit)}
    if submit.status_code != 200:
        return ProbeResult(rows, seen)
    rows.append(checks.body_schema("v2-submit", submit, spec, "QueuedJob"))
    job = submit.json()
    states, final = _poll(target, job["status_url"])
    seen["states"] = states
    order = ["QUEUED", "PROCESSING", "COMPLETED"]
    in_order = all(s in order for s in states) and states == sorted(states, key=order.index)
    rows.append(
        Row(
            "v2-lifecycle/states",
            "v2",
            "QUEUED → PROCESSING → COMPLETED, in order",
            " → ".join(states) or "none",
            "match" if in_order and states[-1:] == ["COMPLETED"] else "drift",
        )
    )
    if final is None or states[-1:] != ["COMPLETED"]:
        return ProbeResult(rows, seen)
    result = target.send("GET", job["response_url"])
    rows.append(checks.body_schema("v2-result", result, spec, "JobResult"))
    output = result.json().get("output") if result.status_code == 200 else None
    if isinstance(output, str) and output.startswith("http"):
        download = target.send("GET", output, key=None)
        rows.append(checks.content_type("v2-output", download, "video/mp4"))
        rows += checks.video(
            "v2-output", download.content, spec.model.output, 5, spec.model.tier_size("720p")
        )
        seen["media"] = _media_summary(download.content)
    else:
        rows.append(
            Row(
                "v2-output/url",
                "body-type",
                "output is the URL of the MP4",
                repr(output)[:80],
                "drift",
            )
        )
    return ProbeResult(rows, seen)


def _poll(target: Target, url: str) -> tuple[list[str], httpx.Response | None]:
    states: list[str] = []
    deadline = time.monotonic() + target.wait_s
    while time.monotonic() < deadline:
        response = target.send("GET", url)
        state = (
            response.json().get("status")
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if state and (not states or states[-1] != state):
            states.append(state)
        if state in ("COMPLETED", "FAILED") or response.status_code not in (200, 422):
            return states, response
        time.sleep(target.poll_interval_s)
    return states, None


def scenario_probes(spec: checks.Spec) -> list[Probe]:
    """Every other documented error, provoked on the emulator with its scenario header."""

    def forced(name: str) -> Callable[[Target], httpx.Response]:
        return lambda t: t.send("POST", V1, json=t.body(), headers={"x-mock-scenario": name})

    rate_headers = tuple(spec.documented_headers(V1, "post", "429"))
    probes = [
        error_probe("forced-403", 403, forced("forbidden"), "key may not call the model"),
        error_probe("forced-406-credits", 406, forced("insufficient-credits"), "no credits"),
        error_probe("forced-429", 429, forced("rate-limited"), "over the plan", rate_headers),
        error_probe("forced-500", 500, forced("server-error"), "internal error"),
        error_probe("forced-502", 502, forced("bad-gateway"), "upstream unavailable"),
        error_probe("forced-504", 504, forced("gateway-timeout; seconds=0"), "gateway timeout"),
        Probe("v2-failed", "a job forced to FAIL is served as 422", partial(_v2_failed, spec)),
    ]
    return [Probe(p.name, p.summary, p.run, p.cost_usd, scenario=True) for p in probes]


def _v2_failed(spec: checks.Spec, target: Target) -> ProbeResult:
    submit = target.send(
        "POST",
        V2,
        json=target.body(),
        headers={"x-mock-scenario": "job-failed; message=contract test"},
    )
    if submit.status_code != 200:
        return ProbeResult([checks.status("v2-failed-submit", submit, 200)], observe(submit))
    _, final = _poll(target, submit.json()["status_url"])
    if final is None:
        return ProbeResult(
            [Row("v2-failed/status", "v2", "HTTP 422", "no terminal state", "drift")], {}
        )
    rows = [
        checks.status("v2-failed", final, 422),
        checks.body_schema("v2-failed", final, spec, "FailedJob"),
    ]
    return ProbeResult(rows, observe(final))


def _media_summary(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
