"""The emulator's parts wired together, and the order in which a model call is judged."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

import anyio
from anyio.abc import TaskStatus

from wan26.contracts.core.money import as_json, plain, price_list, price_of, usd
from wan26.contracts.core.spec import Contract, ModelOperation
from wan26.contracts.core.validation import RequestInvalid, RequestValidator, parse_json
from wan26.mockserver.config import Config
from wan26.mockserver.core.accounts import Account, configured_accounts
from wan26.mockserver.core.answers import Answer
from wan26.mockserver.core.errors import CATALOGUE, MessageBook, Refusal, method_not_allowed
from wan26.mockserver.core.generation import Generator, Inputs, Video
from wan26.mockserver.core.in_flight import InFlight
from wan26.mockserver.core.jobs import STORE_RETRY_S, Job, JobState, Workers
from wan26.mockserver.core.latency import LatencyModel, RunTime
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.core.records import JournalEntry
from wan26.mockserver.core.scenarios import Outcome, Scenarios
from wan26.mockserver.core.shared import validator_for
from wan26.mockserver.media.errors import MediaError
from wan26.mockserver.media.workers import WORKERS
from wan26.mockserver.recording.learning import Learned
from wan26.mockserver.recording.loader import load_recording
from wan26.mockserver.store.backends import open_store
from wan26.mockserver.store.base import BEAT_S, Hold, Store, StoreUnavailable
from wan26.mockserver.store.memory import MemoryStore

API_KEY_HEADER = "x-api-key"
STANDIN_HEADER = "x-mock-standin"
READ_METHODS = ["GET", "HEAD"]
RESET_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # whole seconds: a reset time is rounded up to one
# How often idle workers look for jobs other processes queued (shared backends only).
JOB_POLL_S = 0.1
# How long a poll waits for a job whose emulated run is over but whose video is still
# being made here: the emulator's own slowness is not the API's.
OVERDUE_WAIT_S = 1.0
TAKE_WAIT_S = 0.1  # how long a poll of a QUEUED job waits for an idle worker here to look
WORKERS_STOPPED = (
    "The emulator's workers are not running, so a queued job would never start: serve the app "
    "through its lifespan (uvicorn does; in process, `async with wan26.mockserver.running(app)`)"
)
logger = logging.getLogger("wan26.mockserver")


@dataclass
class Model:
    """One model endpoint of the contract with everything needed to serve it."""

    operation: ModelOperation
    validator: RequestValidator
    prices: dict[str, Decimal]
    latency: LatencyModel
    generator: Generator

    def price(self, params: dict[str, Any]) -> Decimal:
        return price_of(self.prices, params["duration"], params["resolution"])


@dataclass
class Admitted:
    """A model call that passed every check; its price is held on the account."""

    key: str
    slug: str
    model: Model
    params: dict[str, Any]
    cost: Decimal
    seed: int
    run: RunTime
    hold: Hold


class Emulator:
    def __init__(self, config: Config, contract: Contract) -> None:
        self.config = config
        self.contract = contract
        self.rng = random.Random(config.seed)
        self.accounts = configured_accounts(config, contract.plans)  # a bad key fails here
        self.store: Store = open_store(config)
        if isinstance(self.store, MemoryStore):
            self.store.seed(self.accounts)
        self.scenarios = Scenarios(self.store)
        self.clock: Callable[[], float] = time.time  # rate-limit windows
        self.messages = MessageBook(config.messages)
        self.in_flight = InFlight()
        self.workers = Workers(
            self.store,
            config.queue.workers,
            self._work,
            poll_s=None if isinstance(self.store, MemoryStore) else JOB_POLL_S,
        )
        self._started = False
        self.models = {
            slug: Model(
                operation=operation,
                validator=validator_for(operation.request_schema),
                prices=price_list(operation, config.pricing_per_second),
                latency=LatencyModel(
                    config.latency, operation.run_time_s, config.time_scale, self.rng
                ),
                generator=Generator(operation, config.media, config.drift),
            )
            for slug, operation in contract.models().items()
        }
        self.learned = Learned()
        self.apply(load_recording(config.recording) if config.recording else Learned())

    def apply(self, learned: Learned) -> None:
        """Take a recording's lessons for the calls emulated; the config's messages win."""
        self.learned = learned
        self.messages = MessageBook({**learned.messages, **self.config.messages})
        for slug, model in self.models.items():
            model.latency.learned = learned.run_times.get(slug, {})

    @property
    def shared(self) -> bool:
        return self.config.shared_state

    async def start(self) -> None:
        """Open the store; configured keys a shared store does not know yet are added (the
        ones it knows keep their balances: the state outlives the config)."""
        if self._started:
            return
        WORKERS.check(self.config.media.encoding_processes)
        await self.store.start()
        if self.shared:
            kept = 0
            for account in self.accounts:
                if await self.store.accounts.get(account.key) is None:
                    await self.store.accounts.put(account)
                else:
                    kept += 1
            if kept:  # a warning: the config's values for these keys are not applied
                logger.warning(
                    "%d configured key(s) found in the state keep their stored balance and "
                    "settings; POST /_mock/reset applies the config's",
                    kept,
                )
        self._started = True

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """What runs in the app's lifespan: the workers, and every `BEAT_S` the store's
        heartbeat and the expiry of old jobs."""
        async with anyio.create_task_group() as group:
            await group.start(self.workers.run)
            task_status.started()
            while True:
                await anyio.sleep(BEAT_S)
                try:
                    await self.store.beat()
                    await self.expire_jobs()
                except StoreUnavailable as exc:
                    logger.warning("%s", exc)
                except Exception:  # the next beat tries again; serving goes on
                    logger.exception("the store's heartbeat failed")

    async def aclose(self) -> None:
        self.workers.cancel()
        for model in self.models.values():
            await model.generator.aclose()
        await self.store.aclose()

    async def reset(self) -> None:
        """Back to the configured state: accounts, jobs, scenarios, journal, caches (the
        store's for every process; this process's caches)."""
        await self.store.reset(configured_accounts(self.config, self.contract.plans))
        self.workers.cancel()
        self.rng.seed(self.config.seed)
        for model in self.models.values():
            model.generator.cache.clear()

    def _expired_before(self) -> float:
        """Jobs submitted at or before this time are gone (the store drops them every beat)."""
        return time.time() - self.config.queue.ttl(self.config.time_scale)

    async def expire_jobs(self) -> None:
        self.workers.cancel(await self.store.jobs.expire(self._expired_before()))

    async def authenticate(self, headers: Mapping[str, str]) -> Account:
        """The caller's account; a `Refusal` (401) without a key or with an unknown one."""
        key = headers.get(API_KEY_HEADER)
        if not key:
            raise Refusal(Forced.MISSING_KEY)
        account = await self.store.accounts.get(key)
        if account is None:
            raise Refusal(Forced.INVALID_KEY)
        return account

    async def admit(
        self,
        slug: str,
        method: str,
        headers: Mapping[str, str],
        body: Callable[[], Awaitable[bytes]],
        owner: str | None = None,
    ) -> Admitted:
        """The checks in the real API's order; on success the price is held for `owner`
        (this process, or the job the call becomes).

        A failed check raises a `Refusal`. The body is read only once the checks that do
        not need it have passed.
        """
        account = await self.authenticate(headers)
        if not account.may_call(slug):
            raise Refusal(Forced.FORBIDDEN, model=slug)
        model = self.models.get(slug)
        if model is None:
            raise Refusal(Forced.NOT_FOUND, model=slug)
        if method != "POST":
            raise method_not_allowed(["POST"])
        if not _is_json(headers.get("content-type")):
            raise Refusal(Forced.INVALID_CONTENT_TYPE)
        try:
            params = model.validator.parse(await body())
        except BodyTooLarge:
            raise Refusal(Forced.PAYLOAD_TOO_LARGE, limit=self.config.max_body_bytes) from None
        except RequestInvalid as exc:
            raise Refusal(Forced.BAD_REQUEST, message=str(exc)) from None
        try:
            await model.generator.check(params)
        except MediaError as exc:
            raise Refusal(Forced.BAD_REQUEST, message=str(exc)) from None
        reset_at = await self.store.accounts.count_request(
            account.key, self.clock(), self.config.rate_limit_window_s
        )
        if reset_at is not None:
            raise _rate_limited(reset_at)
        cost = model.price(params)
        hold = await self.store.accounts.hold(account.key, cost, owner or self.store.owner)
        if not isinstance(hold, Hold):
            raise _insufficient(hold, cost)
        seed = params["seed"] if params["seed"] is not None else self.rng.randrange(2**31)
        run = model.latency.draw(params["duration"], params["resolution"])
        return Admitted(account.key, slug, model, params, cost, seed, run, hold)

    async def run_v1(
        self, call: Admitted, outcome: Outcome | None, entry: JournalEntry | None
    ) -> Answer:
        """A synchronous generation; the hold becomes a charge only on a 200.

        A failed one raises a `Refusal`."""
        settled = False
        try:
            if call.model.latency.over_gateway_timeout(call.run) or (
                outcome and outcome.name == Forced.JOB_HANG
            ):
                await self._gateway_timeout(call.model)
            try:
                inputs, video = await self._produce(
                    call.model, call.params, call.seed, call.run, time.time()
                )
            except MediaError as exc:
                raise Refusal(Forced.BAD_REQUEST, message=str(exc)) from None
            if outcome and outcome.name == Forced.JOB_FAILED:
                raise Refusal(Forced.SERVER_ERROR, message=outcome.message)
            balance = await self.store.accounts.charge(call.hold)
            settled = True
            if balance is None:  # a reset came in between: the call is free
                account = await self.store.accounts.get(call.key)
                balance = account.balance if account else Decimal(0)
            elif entry is not None:
                entry.charged_usd = as_json(call.cost)
            if entry is not None:
                entry.render = video.key
            headers = {
                "x-request-id": self.request_id(),
                "x-cost": usd(call.cost),
                "x-remaining-credits": usd(balance),
                "x-generation-time": f"{call.run.emulated_s:.2f}",
                "x-seed-value": str(call.seed),
            }
            if inputs.standins:
                headers[STANDIN_HEADER] = ",".join(inputs.standins)
            return Answer(video.data, media_type="video/mp4", headers=headers)
        finally:
            if not settled:
                with anyio.CancelScope(shield=True):
                    await self.store.accounts.release(call.hold)

    def job_owner(self, job_id: str) -> str:
        """The owner of a v2 call's hold: the job, so it outlives the process that took it."""
        return f"job:{job_id}"

    async def submit_v2(
        self, job_id: str, call: Admitted, outcome: Outcome | None, entry: JournalEntry | None
    ) -> Job:
        """The call queued as a job; the app answers with its id and links."""
        job = Job(
            id=job_id,
            key=call.key,
            slug=call.slug,
            params=call.params,
            cost=call.cost,
            seed=call.seed,
            run=call.run,
            hold=call.hold,
            submitted_at=time.time(),
            outcome=outcome.name if outcome and outcome.is_job else None,
            failure_message=outcome.message if outcome else "",
            journal_id=entry.id if entry is not None else None,
        )
        if entry is not None:
            entry.job_id = job.id
        await self.store.jobs.add(job)
        self.workers.wake()
        return job

    async def _work(self, job: Job) -> None:
        """A job run to its end whatever happens. While the store cannot be reached the job
        is tried again (every step can be repeated: a second charge of the same hold finds
        it gone); an error of the emulator's own fails the job with the API's message
        rather than stopping the workers."""
        while True:
            try:
                await self._run_job(job)
                return
            except StoreUnavailable as exc:
                logger.warning("job %s waits for the store: %s", job.id, exc)
                await anyio.sleep(STORE_RETRY_S)
            except Exception:
                logger.exception("job %s failed in the emulator", job.id)
                with contextlib.suppress(StoreUnavailable):
                    await self._fail(job, CATALOGUE[Forced.SERVER_ERROR].message)
                return

    async def _run_job(self, job: Job) -> None:
        """What an emulated GPU worker does with a job: charged only on COMPLETED. A job
        cancelled here (expired, reset, shutdown) keeps its hold: the store drops it with
        the job, or it resumes after a restart."""
        if job.outcome == Forced.JOB_HANG:
            while await self.store.jobs.get(job.id) is not None:  # until it expires
                await anyio.sleep(BEAT_S)
            return
        model = self._model_or_default(job.slug)
        try:
            assert job.started_at is not None
            _, video = await self._produce(model, job.params, job.seed, job.run, job.started_at)
        except MediaError as exc:
            await self._fail(job, str(exc))
            return
        if job.outcome == Forced.JOB_FAILED:
            await self._fail(job, job.failure_message)
            return
        output = await self.store.outputs.put(video.data)
        balance = await self.store.accounts.charge(job.hold)
        if balance is None and await self.store.jobs.get(job.id) is None:
            return  # expired or reset while rendering: nothing charged, nothing kept
        job.complete(output, time.time())
        await self.store.jobs.save(job)
        if balance is not None and job.journal_id is not None:
            await self.store.journal.charged(job.journal_id, as_json(job.cost))

    async def _fail(self, job: Job, error: str) -> None:
        job.fail(error, time.time())
        await self.store.jobs.save(job)
        await self.store.accounts.release(job.hold)

    async def job_response(
        self,
        job_id: str,
        method: str,
        headers: Mapping[str, str],
        output_url: Callable[[str], str],
        full: bool,
        entry: JournalEntry | None = None,
    ) -> Answer:
        """`GET /v2/requests/{id}[/status]`: FAILED is a 422 on both, as the real API does.

        `output_url` is the public URL of a finished job's file (the app's `/outputs`); the
        journal entry is told the job and the state answered."""
        account = await self.authenticate(headers)
        if method not in READ_METHODS:
            raise method_not_allowed(READ_METHODS)
        job = await self._own_job(job_id, account.key)
        if job.state is JobState.QUEUED and await self.workers.take_now(job.id, TAKE_WAIT_S):
            job = await self._own_job(job_id, account.key)
        if job.overdue(time.time()) and await self.workers.done_with(job.id, OVERDUE_WAIT_S):
            job = await self._own_job(job_id, account.key)  # reset meanwhile: a 404
        if entry is not None:
            entry.job_id, entry.job_state = job.id, job.state.value
        metrics = {"inference_time": job.run.emulated_s} if job.finished else {}
        if job.state is JobState.FAILED:
            return Answer(
                {"status": "FAILED", "error": job.error, "metrics": metrics, "request_id": job.id},
                status=422,
            )
        if not full:
            return Answer({"status": job.state.value, "request_id": job.id})
        output = output_url(job.output) if job.output else None
        return Answer(
            {
                "status": job.state.value,
                "error": None,
                "metrics": metrics,
                "output": output,
                "request_id": job.id,
            }
        )

    async def _own_job(self, job_id: str, key: str) -> Job:
        """The key's job, or the API's 404 (unknown, another key's or expired)."""
        job = await self.store.jobs.get(job_id)
        if job is None or job.key != key or job.submitted_at <= self._expired_before():
            raise Refusal(Forced.NOT_FOUND, message=f"Request {job_id} not found")
        return job

    async def _produce(
        self, model: Model, params: dict[str, Any], seed: int, run: RunTime, started: float
    ) -> tuple[Inputs, Video]:
        """Inputs and render, ending no sooner than the emulated run time (scaled) after
        `started` (epoch seconds: a job resumed after a restart waits only what is left)."""
        generator = model.generator
        inputs = await generator.load_inputs(params)
        video = await generator.render(params, seed, inputs)
        await anyio.sleep(max(0.0, run.wall_s - (time.time() - started)))
        return inputs, video

    async def forced(
        self, outcome: Outcome, slug: str, headers: Mapping[str, str], body: bytes
    ) -> NoReturn:
        """A failure the caller asked for, raised as a `Refusal`; nothing is charged or counted."""
        name = outcome.name
        if name == Forced.GATEWAY_TIMEOUT:
            await self._gateway_timeout(self._model_or_default(slug), outcome.seconds)
        if name == Forced.RATE_LIMITED:
            raise _rate_limited(time.time() + self.config.rate_limit_window_s)
        if name == Forced.INSUFFICIENT_CREDITS:
            account = await self.store.accounts.get(headers.get(API_KEY_HEADER, ""))
            balance = Decimal(0) if account is None else account.available
            raise _insufficient(balance, self._likely_price(slug, body))
        raise Refusal(name, model=slug)

    async def _gateway_timeout(self, model: Model, seconds: float | None = None) -> NoReturn:
        """A 504 after the (scaled) gateway timeout, or after `seconds` when given."""
        latency = model.latency
        await anyio.sleep(
            latency.scaled(latency.config.gateway_timeout_s) if seconds is None else seconds
        )
        raise Refusal(Forced.GATEWAY_TIMEOUT)

    def _model_or_default(self, slug: str) -> Model:
        return self.models.get(slug) or next(iter(self.models.values()))

    def _likely_price(self, slug: str, body: bytes) -> Decimal:
        """The price of the body's duration and resolution where it names valid ones."""
        model = self._model_or_default(slug)
        params = model.operation.defaults()
        try:
            sent = parse_json(body) if body else {}
        except RequestInvalid:
            sent = {}
        if isinstance(sent, dict):
            for name in ("duration", "resolution"):
                if sent.get(name) in model.operation.enum(name):
                    params[name] = sent[name]
        return model.price(params)

    def request_id(self) -> str:
        """Seeded ids repeat run after run; processes sharing a store draw their own."""
        if self.shared:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _insufficient(balance: Decimal, cost: Decimal) -> Refusal:
    return Refusal(Forced.INSUFFICIENT_CREDITS, balance=plain(balance), cost=plain(cost))


def _rate_limited(reset_at: float) -> Refusal:
    """The reset time rounded up to the header's whole seconds, so a client that waits
    until the time it reads is let in."""
    stamp = time.strftime(RESET_AT_FORMAT, time.gmtime(math.ceil(reset_at)))
    return Refusal(
        Forced.RATE_LIMITED, headers={"x-rate-limit-reset-at-utc": stamp}, reset_at=stamp
    )


class BodyTooLarge(Exception):
    """The request body is over `max_body_bytes`; it was not read further."""


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")
