"""The emulator's parts wired together, and the order in which a model call is judged."""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.responses import Response

from mockserver.billing import price_list, price_of, usd
from mockserver.config import Config
from mockserver.contract import Contract, ModelOperation
from mockserver.errors import MessageBook
from mockserver.generation import Generator
from mockserver.latency import LatencyModel
from mockserver.media.fetch import MediaError
from mockserver.state import Account, StateStore
from mockserver.validation import RequestInvalid, RequestValidator

API_KEY_HEADER = "x-api-key"
STANDIN_HEADER = "x-mock-standin"


@dataclass
class Model:
    """One model endpoint of the contract with everything needed to serve it."""

    operation: ModelOperation
    validator: RequestValidator
    prices: dict[str, float]
    latency: LatencyModel
    generator: Generator

    def price(self, params: dict[str, Any]) -> float:
        return price_of(self.prices, params["duration"], params["resolution"])


class Emulator:
    def __init__(self, config: Config, contract: Contract) -> None:
        self.config = config
        self.contract = contract
        self.rng = random.Random(config.seed)
        self.state = StateStore(config, contract.plans)
        self.messages = MessageBook(config.messages)
        self.models = {
            slug: Model(
                operation=operation,
                validator=RequestValidator(operation),
                prices=price_list(operation, config.pricing_per_second),
                latency=LatencyModel(
                    config.latency, operation.run_time_s, config.time_scale, self.rng
                ),
                generator=Generator(operation, config.media),
            )
            for slug, operation in contract.models().items()
        }

    async def aclose(self) -> None:
        for model in self.models.values():
            await model.generator.aclose()

    def authenticate(self, headers: Headers) -> tuple[Account | None, Response | None]:
        key = headers.get(API_KEY_HEADER)
        if not key:
            return None, self.messages.response("missing-key")
        account = self.state.account(key)
        if account is None:
            return None, self.messages.response("invalid-key")
        return account, None

    async def call_model(self, slug: str, method: str, headers: Headers, body: bytes) -> Response:
        """v1: the checks in the real API's order, then a synchronous generation."""
        account, refusal = self.authenticate(headers)
        if refusal is not None:
            return refusal
        if not account.may_call(slug):
            return self.messages.response("forbidden", model=slug)
        model = self.models.get(slug)
        if model is None:
            return self.messages.response("not-found", model=slug)
        if method != "POST":
            return self.messages.response("method-not-allowed")
        if not _is_json(headers.get("content-type")):
            return self.messages.response("invalid-content-type")
        try:
            params = model.validator.parse(body)
        except RequestInvalid as exc:
            return self.messages.response_with("bad-request", str(exc))
        reset_at = self.state.admit(account)
        if reset_at is not None:
            stamp = reset_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            return self.messages.response(
                "rate-limited", {"x-rate-limit-reset-at-utc": stamp}, reset_at=stamp
            )
        cost = model.price(params)
        if not self.state.hold(account, cost):
            return self.messages.response(
                "insufficient-credits", balance=account.available, cost=cost
            )
        charged = False
        try:
            response = await self._generate(model, params, cost, account)
            charged = response.status_code == 200
            return response
        finally:
            if not charged:
                self.state.release(account, cost)

    async def _generate(
        self, model: Model, params: dict[str, Any], cost: float, account: Account
    ) -> Response:
        started = time.monotonic()
        seed = params["seed"] if params["seed"] is not None else self.rng.randrange(2**31)
        run = model.latency.draw(params["duration"], params["resolution"])
        if model.latency.over_gateway_timeout(run):
            await anyio.sleep(model.latency.scaled(model.latency.config.gateway_timeout_s))
            return self.messages.response("gateway-timeout")
        try:
            inputs = await model.generator.load_inputs(params)
            video = await model.generator.render(params, seed, inputs)
        except MediaError as exc:
            return self.messages.response_with("bad-request", str(exc))
        await anyio.sleep(max(0.0, run.wall_s - (time.monotonic() - started)))
        self.state.charge(account, cost)
        headers = {
            "x-request-id": self.request_id(),
            "x-cost": usd(cost),
            "x-remaining-credits": usd(account.balance),
            "x-generation-time": f"{run.emulated_s:.2f}",
            "x-seed-value": str(seed),
        }
        if inputs.standins:
            headers[STANDIN_HEADER] = ",".join(inputs.standins)
        return Response(video.data, media_type="video/mp4", headers=headers)

    async def forced(self, name: str, slug: str, headers: Headers, body: bytes) -> Response:
        """A failure the caller asked for; nothing is charged or counted."""
        if name == "gateway-timeout":
            model = self.models.get(slug) or next(iter(self.models.values()))
            await anyio.sleep(model.latency.scaled(model.latency.config.gateway_timeout_s))
        if name == "rate-limited":
            reset = time.time() + self.config.rate_limit_window_s
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset))
            return self.messages.response(
                name, {"x-rate-limit-reset-at-utc": stamp}, reset_at=stamp
            )
        if name == "insufficient-credits":
            account = self.state.account(headers.get(API_KEY_HEADER, ""))
            return self.messages.response(
                name,
                balance=0.0 if account is None else account.available,
                cost=self._likely_price(slug, body),
            )
        return self.messages.response(name, model=slug)

    def _likely_price(self, slug: str, body: bytes) -> float:
        """The price of the body's duration and resolution where it names valid ones."""
        model = self.models.get(slug) or next(iter(self.models.values()))
        params = model.operation.defaults()
        try:
            sent = json.loads(body) if body else {}
        except ValueError:
            sent = {}
        if isinstance(sent, dict):
            for name in ("duration", "resolution"):
                if sent.get(name) in model.operation.enum(name):
                    params[name] = sent[name]
        return model.price(params)

    def request_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")
