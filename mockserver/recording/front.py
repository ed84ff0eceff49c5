"""What the emulator does with an API call in record, replay and passthrough modes.

Replay answers from the cassette (or lets the emulator answer a miss); record
also forwards a miss to the upstream with the caller's key, within the budget,
and keeps the answer; passthrough forwards everything. `handle` returns None
when the emulator itself should answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup, TaskStatus
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wan26.contracts.core.access import fingerprint as key_hash
from wan26.contracts.core.cassette import (
    BALANCE_HEADER,
    CREDITS_PATH,
    RECORDED_AT_HEADER,
    RECORDED_STATUSES,
    Cassette,
    is_submit_answer,
    new_exchange,
    recorded_response,
)
from wan26.contracts.core.matching import (
    MODEL_CALL,
    POLL,
    describe,
    explain_miss,
    fingerprint,
    miss_message,
)
from wan26.contracts.core.money import as_json, balance_of, usd
from wan26.contracts.core.validation import RequestInvalid, RequestValidator
from wan26.mockserver.config import CassetteConfig
from wan26.mockserver.core.emulator import WORKERS_STOPPED, Emulator
from wan26.mockserver.http.answers import answer_response, error_response
from wan26.mockserver.http.journal import JournalEntry
from wan26.mockserver.recording.budget import Budget, SharedBudget
from wan26.mockserver.recording.learning import learn
from wan26.mockserver.recording.tapejobs import TapeJob, TapeJobs
from wan26.mockserver.recording.upstream import Upstream, UpstreamLost, answer_headers

MISS_STATUS = 404  # --on-miss error, as WireMock answers an unmatched request
BUDGET_STATUS = 402  # a paid call past --max-spend-usd: Payment Required, nothing forwarded
STRIPPED_ANSWER_HEADERS = frozenset({"date", "server"})  # the local server sets its own
logger = logging.getLogger("wan26.mockserver")


@dataclass
class Outcome:
    """An answer (None: let the emulator answer), its `x-mock-cassette` tag, and for the
    journal the call's fingerprint and, on a replay miss, why it missed."""

    response: Response | None
    tag: str
    fingerprint: str | None = None
    miss: dict[str, Any] | None = None


class CassetteFront:
    def __init__(self, config: CassetteConfig, emulator: Emulator) -> None:
        self.config = config
        self.emulator = emulator
        self.cassette = (
            Cassette.open(config.dir, create=config.mode == "record")
            if config.mode in ("record", "replay") and config.dir
            else None
        )
        self.upstream = (
            Upstream(config.upstream, config.poll_interval_s)
            if config.mode in ("record", "passthrough")
            else None
        )
        if self.cassette is not None and config.mode == "replay":
            # Emulated misses speak, head and take time as recorded; `recording:` and config win.
            emulator.apply(learn(self.cassette.exchanges).under(emulator.learned))
        limit = None if config.max_spend_usd is None else balance_of(config.max_spend_usd)
        if limit is None and config.mode == "record":
            limit = Decimal(0)  # recording spends nothing unless told how much
        self.budget = (
            SharedBudget(limit, self.cassette)
            if self.cassette is not None and config.mode == "record"
            else Budget(limit)
        )
        time_scale = emulator.config.time_scale
        self.jobs = TapeJobs(emulator.config.queue.ttl(time_scale))
        self._accepted: dict[str, bool] = {}  # key hash -> did the upstream accept the key
        self._recorders: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """What runs in the app's lifespan: the recorders of upstream v2 jobs, until cancelled
        (the app shutting down), which cancels them."""
        async with anyio.create_task_group() as group:
            self._recorders = group
            try:
                task_status.started()
                await anyio.sleep_forever()
            finally:
                self._recorders = None

    async def aclose(self) -> None:
        if self.upstream is not None:
            await self.upstream.aclose()

    def output_tag(self, name: str) -> str:
        return "hit" if name in self.jobs.outputs else "miss"

    async def handle(self, request: Request, raw: bytes, entry: JournalEntry | None) -> Outcome:
        key = request.headers.get("x-api-key")
        poll = POLL.match(request.url.path)
        if poll and request.method == "GET":
            if key and self.jobs.knows(poll[1]):
                answer = answer_response(
                    self.jobs.answer(poll[1], key, str(request.base_url), poll[2] is None)
                )
                return Outcome(answer, self.jobs.jobs[poll[1]].tag)
            if self.upstream is None:
                return Outcome(None, "miss")
            return Outcome(await self._forward(request, raw), "miss")
        if self.config.mode == "passthrough":
            return Outcome(await self._forward(request, raw, entry), "miss")
        try:
            auth = await self._auth_class(key)
        except httpx.HTTPError as exc:
            return Outcome(self._unreachable(exc), "miss")
        call = describe(
            request.method,
            request.url.path,
            request.url.query,
            auth,
            request.headers.get("content-type"),
            raw,
            self._validator(request.method, request.url.path),
        )
        call_print = fingerprint(call)
        assert self.cassette is not None
        if self.config.mode == "record":
            self.cassette.refresh()  # what the directory's other recorders saved is a hit too
        exchange = self.cassette.get(call_print)
        balance = request.method == "GET" and request.url.path == CREDITS_PATH
        if exchange is not None and not (balance and self.config.mode == "record"):
            return Outcome(await self._replay(exchange, request), "hit", call_print)
        if self.config.mode == "replay":
            miss = explain_miss(call, self.cassette.requests())
            if self.config.on_miss == "error":
                answer = error_response(MISS_STATUS, miss_message(miss))
                return Outcome(answer, "miss", call_print, miss)
            return Outcome(None, "miss", call_print, miss)
        response, tag = await self._record(request, raw, call, entry)
        return Outcome(response, tag, call_print)

    async def _auth_class(self, key: str | None) -> str:
        """absent, valid or invalid: judged by the local accounts on replay, else upstream."""
        if not key:
            return "absent"
        if self.config.mode == "replay":
            return "valid" if await self.emulator.store.accounts.get(key) is not None else "invalid"
        hashed = key_hash(key)
        if hashed not in self._accepted:
            assert self.upstream is not None
            answer = await self.upstream.send("GET", CREDITS_PATH, {"x-api-key": key}, b"")
            self._accepted[hashed] = answer.status_code != 401
        return "valid" if self._accepted[hashed] else "invalid"

    def _validator(self, method: str, path: str) -> RequestValidator | None:
        match = MODEL_CALL.match(path)
        model = self.emulator.models.get(match[2]) if match and method == "POST" else None
        return model.validator if model is not None else None

    def _price(self, request: Request, raw: bytes) -> Decimal | None:
        """The documented price of a paid call; None for a call the contract says is free."""
        match = MODEL_CALL.match(request.url.path)
        model = self.emulator.models.get(match[2]) if match else None
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        json_body = content_type == "application/json" or content_type.endswith("+json")
        if model is None or request.method != "POST" or not json_body:
            return None
        if not request.headers.get("x-api-key"):
            return None
        try:
            return model.price(model.validator.parse(raw))
        except RequestInvalid:
            return None

    async def _replay(self, exchange: dict[str, Any], request: Request) -> Response:
        assert self.cassette is not None
        recorded = exchange["response"]
        headers = {**recorded["headers"], RECORDED_AT_HEADER: exchange["recorded_at"]}
        key = request.headers.get("x-api-key", "")
        account = await self.emulator.store.accounts.get(key)
        if "job" in exchange and recorded["status"] == 200:
            return await self._replay_job(exchange, key, str(request.base_url))
        if "media" in recorded:
            content = self.cassette.media(recorded["media"])
            headers["x-request-id"] = self.emulator.request_id()
            if account is not None and BALANCE_HEADER not in headers:
                headers[BALANCE_HEADER] = usd(account.balance)
        elif "json" in recorded:
            body = recorded["json"]
            if request.url.path == CREDITS_PATH and isinstance(body, dict) and account is not None:
                # Balances recorded as null (not kept unless asked) come from the local account.
                local = {
                    "credits": as_json(account.credits),
                    "free-credits": as_json(account.free_credits),
                }
                body = {name: local.get(name) if v is None else v for name, v in body.items()}
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            content = recorded.get("text", "").encode()
        return Response(content, status_code=recorded["status"], headers=headers)

    async def _replay_job(self, exchange: dict[str, Any], key: str, base_url: str) -> Response:
        """A new job id, the recorded states (scaled) and the recorded result and video."""
        assert self.cassette is not None
        job_record = exchange["job"]
        scale = self.emulator.config.time_scale
        output = None
        if job_record.get("media"):
            output = await self.emulator.store.outputs.put(self.cassette.media(job_record["media"]))
            self.jobs.outputs.add(output)
        job = TapeJob(
            id=self.emulator.request_id(),
            key_hash=key_hash(key),
            tag="hit",
            states=[(state["status"], state["at_s"] * scale) for state in job_record["states"]],
            final_status=job_record["result"]["status"],
            final=job_record["result"]["json"],
            output=output,
        )
        self.jobs.add(job)
        answer = _submitted(exchange["response"]["json"], job.id, base_url)
        answer.headers[RECORDED_AT_HEADER] = exchange["recorded_at"]
        return answer

    async def _record(
        self, request: Request, raw: bytes, call: dict[str, Any], entry: JournalEntry | None
    ) -> tuple[Response, str]:
        assert self.upstream is not None and self.cassette is not None
        price = self._price(request, raw) if call["auth"] == "valid" else None
        refusal = self.budget.reserve(price) if price is not None else None
        if refusal is not None:
            return error_response(BUDGET_STATUS, refusal), "miss"
        model_call = MODEL_CALL.match(request.url.path)
        if model_call is not None and model_call[1] == "2" and self._recorders is None:
            self._settle(price, charged=False)
            return error_response(503, WORKERS_STOPPED), "miss"  # no one could follow the job
        try:
            answer = await self.upstream.send(
                request.method, _target(request), dict(request.headers), raw
            )
        except httpx.HTTPError as exc:
            # Never connected: nothing ran. Sent but unanswered: it may have run, so it counts.
            self._settle(price, charged=not isinstance(exc, httpx.ConnectError))
            return self._unreachable(exc), "miss"
        if answer.status_code == 401 and call["auth"] == "valid":
            # The key was refused after all: keep this as the refused-key answer.
            self._accepted[key_hash(request.headers["x-api-key"])] = False
            call = {**call, "auth": "invalid"}
        if model_call is not None and model_call[1] == "2" and is_submit_answer(answer):
            return self._follow(request, call, answer, price, entry), "recorded"
        charged = answer.status_code == 200 and price is not None
        self._settle(price, charged)
        if charged and price is not None and entry is not None:
            entry.charged_usd = as_json(price)
        if answer.status_code not in RECORDED_STATUSES:
            return _relay(answer), "miss"
        cost = as_json(price) if charged and price is not None else 0.0
        secret = request.headers.get("x-api-key", "")
        kept = self.cassette.add(self._exchange(call, answer, cost, secret))
        return _relay(answer), "recorded" if kept else "miss"

    def _exchange(
        self, call: dict[str, Any], answer: httpx.Response, cost: float, secret: str
    ) -> dict[str, Any]:
        assert self.cassette is not None
        response = recorded_response(
            self.cassette, call, answer, self.config.record_credits, secret
        )
        return _exchange(call, response, cost)

    def _follow(
        self,
        request: Request,
        call: dict[str, Any],
        answer: httpx.Response,
        price: Decimal | None,
        entry: JournalEntry | None,
    ) -> Response:
        """Own the upstream job: the caller polls the recorder's view of it."""
        submitted = answer.json()
        key = request.headers["x-api-key"]
        job = TapeJob(id=str(submitted["request_id"]), key_hash=key_hash(key), tag="recorded")
        self.jobs.add(job)
        assert self._recorders is not None  # `_record` checked before forwarding the call
        self._recorders.start_soon(
            self._recorder, job, lambda: self._record_job(job, call, submitted, key, price, entry)
        )
        return _submitted(submitted, job.id, str(request.base_url))

    async def _recorder(self, job: TapeJob, record: Callable[[], Awaitable[None]]) -> None:
        """One recorder: a failure is logged, and stops neither the other recorders nor the
        app's lifespan, whose task group runs them."""
        try:
            await record()
        except Exception:
            logger.exception("wan26-mock could not record upstream job %s", job.id)

    async def _record_job(
        self,
        job: TapeJob,
        call: dict[str, Any],
        submitted: dict[str, Any],
        key: str,
        price: Decimal | None,
        entry: JournalEntry | None,
    ) -> None:
        assert self.upstream is not None and self.cassette is not None

        def seen(state: str) -> None:
            if state not in ("COMPLETED", "FAILED"):
                job.states.append((state, time.monotonic() - job.started))

        try:
            followed = await self.upstream.follow(
                submitted["status_url"], submitted["response_url"], key, seen
            )
        except (UpstreamLost, httpx.HTTPError, ValueError, KeyError) as exc:
            self._settle(price, charged=True)  # what the upstream did is unknown
            message = f"wan26-mock lost track of the upstream job: {exc}"
            job.finish(422, {"status": "FAILED", "error": message, "metrics": {}}, None)
            return
        completed = followed.states[-1][0] == "COMPLETED"
        self._settle(price, charged=completed)
        output = media = None
        if followed.video is not None:
            media = self.cassette.put_media(followed.video)
            output = await self.emulator.store.outputs.put(followed.video)
            self.jobs.outputs.add(output)
        result = {name: v for name, v in followed.result.items() if name != "request_id"}
        if completed:
            result["output"] = None  # the upstream's URL; replay serves the video itself
            if entry is not None:
                entry.charged_usd = as_json(price) if price is not None else 0.0
        states = [{"status": state, "at_s": at} for state, at in followed.states]
        recorded_job = {
            "states": states,
            "result": {"status": followed.result_status, "json": result},
            "media": media,
        }
        response = {
            "status": 200,
            "headers": {},
            "json": {
                name: v
                for name, v in submitted.items()
                if name not in ("request_id", "poll_url", "status_url", "response_url")
            },
        }
        cost = as_json(price) if completed and price is not None else 0.0
        self.cassette.add({**_exchange(call, response, cost), "job": recorded_job})
        job.finish(followed.result_status, result, output)

    async def _forward(
        self, request: Request, raw: bytes, entry: JournalEntry | None = None
    ) -> Response:
        """Passthrough: forward as is, within the budget if one is set; nothing is kept."""
        assert self.upstream is not None
        price = self._price(request, raw)
        refusal = self.budget.reserve(price) if price is not None else None
        if refusal is not None:
            return error_response(BUDGET_STATUS, refusal)
        try:
            answer = await self.upstream.send(
                request.method, _target(request), dict(request.headers), raw
            )
        except httpx.HTTPError as exc:
            self._settle(price, charged=not isinstance(exc, httpx.ConnectError))
            return self._unreachable(exc)
        charged = answer.status_code == 200 and price is not None
        self._settle(price, charged)
        if charged and price is not None and entry is not None:
            entry.charged_usd = as_json(price)
        if is_submit_answer(answer):
            body = answer.json()
            base = str(request.base_url).rstrip("/")
            for name in ("poll_url", "status_url", "response_url"):
                if isinstance(body.get(name), str):
                    body[name] = body[name].replace(self.upstream.base_url, base, 1)
            return JSONResponse(body, status_code=answer.status_code)
        return _relay(answer)

    def _settle(self, price: Decimal | None, charged: bool) -> None:
        if price is not None:
            self.budget.settle(price, charged)

    def _unreachable(self, exc: Exception) -> Response:
        assert self.upstream is not None
        reason = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        return error_response(502, f"Upstream {self.upstream.base_url} did not answer: {reason}")


_exchange = new_exchange


def _submitted(recorded: dict[str, Any], job_id: str, base_url: str) -> Response:
    """A v2 submit answer for a local job id, its URLs on this server."""
    base = base_url.rstrip("/")
    return JSONResponse(
        {
            **recorded,
            "request_id": job_id,
            "status": "QUEUED",
            "poll_url": f"{base}/v1/requests/{job_id}",
            "status_url": f"{base}/v2/requests/{job_id}/status",
            "response_url": f"{base}/v2/requests/{job_id}",
        }
    )


def _target(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _relay(answer: httpx.Response) -> Response:
    headers = {
        name: value
        for name, value in answer_headers(answer).items()
        if name.lower() not in STRIPPED_ANSWER_HEADERS
    }
    return Response(answer.content, status_code=answer.status_code, headers=headers)
