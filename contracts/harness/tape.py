"""`wan26-contracts run --record DIR`: the probes' exchanges as a cassette.

The same format as `wan26-mock serve --record DIR` (mockserver/cassette.py, matched by
mockserver/matching.py's fingerprint), so `wan26-mock serve --replay DIR` replays what
the harness saw and `recording: DIR` teaches an emulator the real service's messages,
extra headers and run times. The key is never stored; videos are kept once by hash.

Kept: the answers of the model, credits and other API calls with a status a cassette
keeps (not 429 or 5xx); a v2 job as its submit answer, its states with their timing,
its result and its video. Not kept: calls carrying `X-Mock-Scenario` (forced answers
the fingerprint cannot tell apart), polls (part of their job), the emulator's `/_mock`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from wan26.contracts.core.cassette import (
    RECORDED_STATUSES,
    Cassette,
    is_submit_answer,
    new_exchange,
    recorded_response,
)
from wan26.contracts.core.matching import MODEL_CALL, POLL, describe, fingerprint
from wan26.contracts.core.money import as_json, price_list, price_of
from wan26.contracts.core.spec import ModelOperation
from wan26.contracts.core.validation import RequestValidator

SCENARIO_HEADER = "x-mock-scenario"
SUBMIT_URLS = ("request_id", "poll_url", "status_url", "response_url")


@dataclass
class _Job:
    """A v2 job being followed: kept once its video (or its failure) is seen."""

    call: dict[str, Any]
    submitted: dict[str, Any]
    cost: Decimal
    started: float = field(default_factory=time.monotonic)
    states: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    output: str | None = None


class Recorder:
    def __init__(self, folder: Path, model: ModelOperation, api_key: str) -> None:
        if folder.exists() and not folder.is_dir():
            raise ValueError(
                f"--record takes a directory (a cassette, as wan26-mock serve --record "
                f"writes); {folder} is a file"
            )
        self.cassette = Cassette.open(folder, create=True)  # a bad cassette fails here
        self.model = model
        self.validator = RequestValidator(model.request_schema)
        self.prices = price_list(model)
        self.api_key = api_key
        self._jobs: dict[str, _Job] = {}  # status, result and output URLs -> job

    def close(self) -> None:
        """Save, even with nothing recorded: the directory is a cassette afterwards."""
        self.cassette.save()

    def saw(
        self, method: str, path: str, query: str, key: str | None, response: httpx.Response
    ) -> None:
        """One exchange the harness made; `path` and `query` as sent to the target."""
        request = response.request
        if request.headers.get(SCENARIO_HEADER) or path.startswith("/_mock"):
            return
        url = str(request.url)
        if url in self._jobs:
            self._follow(url, response)
            return
        if POLL.match(path) or response.status_code not in RECORDED_STATUSES:
            return
        auth = "absent" if not key else "valid" if key == self.api_key else "invalid"
        if response.status_code == 401 and auth == "valid":
            auth = "invalid"
        content_type = request.headers.get("content-type")
        validator = self.validator if MODEL_CALL.match(path) and method == "POST" else None
        call = describe(method, path, query, auth, content_type, request.content, validator)
        if self.cassette.get(fingerprint(call)) is not None:
            return
        cost = self._price(call) if response.status_code == 200 else Decimal(0)
        model_call = MODEL_CALL.match(path)
        if model_call and model_call[1] == "2" and is_submit_answer(response):
            submitted = response.json()
            job = _Job(call, submitted, cost)
            for name in ("status_url", "response_url"):
                self._jobs[submitted[name]] = job
            return
        response_kept = recorded_response(self.cassette, call, response, secret=self.api_key)
        self._keep(call, response_kept, cost)

    def _follow(self, url: str, response: httpx.Response) -> None:
        job = self._jobs[url]
        if job.output is not None and url == job.output:
            self._keep_job(job, self.cassette.put_media(response.content))
            return
        try:
            body = response.json()
        except ValueError:
            return
        state = body.get("status") if isinstance(body, dict) else None
        if state not in ("QUEUED", "PROCESSING", "COMPLETED", "FAILED"):
            return
        if not job.states or job.states[-1]["status"] != state:
            at = round(time.monotonic() - job.started, 3)
            job.states.append({"status": state, "at_s": at})
        if state in ("COMPLETED", "FAILED") and url == job.submitted["response_url"]:
            result = {name: v for name, v in body.items() if name != "request_id"}
            output = result.get("output")
            job.result = {"status": response.status_code, "json": result}
            if state == "FAILED":
                self._keep_job(job, None)
            elif isinstance(output, str):
                result["output"] = None  # the service's URL; a replay serves the video itself
                job.output = output
                self._jobs[output] = job
        elif state == "FAILED" and job.result is None:
            job.result = {"status": response.status_code, "json": dict(body)}
            self._keep_job(job, None)

    def _keep_job(self, job: _Job, media: str | None) -> None:
        assert job.result is not None
        for url in [u for u, j in self._jobs.items() if j is job]:
            del self._jobs[url]
        response = {
            "status": 200,
            "headers": {},
            "json": {k: v for k, v in job.submitted.items() if k not in SUBMIT_URLS},
        }
        completed = media is not None
        exchange = new_exchange(job.call, response, 0.0)
        exchange["job"] = {"states": job.states, "result": job.result, "media": media}
        self._keep(job.call, None, job.cost if completed else Decimal(0), exchange)

    def _keep(
        self,
        call: dict[str, Any],
        response: dict[str, Any] | None,
        cost: Decimal,
        exchange: dict[str, Any] | None = None,
    ) -> None:
        exchange = exchange or new_exchange(call, response or {}, 0.0)
        exchange["cost_usd"] = as_json(cost)
        if self.api_key:  # whatever a server echoes, the key is not kept
            text = json.dumps(exchange)
            if self.api_key in text:
                exchange = json.loads(text.replace(self.api_key, "***"))
        if cost:
            self.cassette.add_spent(cost)
        self.cassette.add(exchange)

    def _price(self, call: dict[str, Any]) -> Decimal:
        body = call["body"]
        if not MODEL_CALL.match(call["path"]) or not isinstance(body, dict):
            return Decimal(0)
        try:
            return price_of(self.prices, int(body["duration"]), str(body["resolution"]))
        except (KeyError, TypeError, ValueError):
            return Decimal(0)
