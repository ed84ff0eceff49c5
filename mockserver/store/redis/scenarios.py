"""Queued scenarios and chaos in Redis."""

from __future__ import annotations

import uuid

from redis.typing import EncodableT

from wan26.mockserver.core.records import Chaos, Outcome, QueuedScenario
from wan26.mockserver.store import codec
from wan26.mockserver.store.redis.link import Link, Part, reaching


class RedisScenarios(Part):
    def __init__(self, link: Link) -> None:
        super().__init__(link)
        self._take_scenario = link.script("take_scenario")
        self._scenarios = link.script("scenarios")
        self._clear_scenarios = link.script("clear_scenarios")

    @reaching
    async def add(self, scenario: QueuedScenario) -> None:
        scenario_id = uuid.uuid4().hex
        fields: dict[EncodableT, EncodableT] = {
            "data": codec.dump_scenario(scenario),
            "remaining": str(scenario.remaining),
        }
        # Absent fields match anything; the method is compared as QueuedScenario does.
        for name, value in (
            ("key", scenario.key),
            ("path", scenario.path),
            ("method", None if scenario.method is None else scenario.method.upper()),
        ):
            if value is not None:
                fields[name] = value
        async with self.link.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.link.key("scenario", scenario_id), mapping=fields)
            pipe.rpush(self.link.key("scenarios"), scenario_id)
            await pipe.execute()

    @reaching
    async def all(self) -> list[QueuedScenario]:
        queued = []
        for data, remaining in await self.link.run(self._scenarios):
            scenario = codec.load_scenario(data)
            scenario.remaining = int(remaining)
            queued.append(scenario)
        return queued

    @reaching
    async def take(self, method: str, path: str, key: str | None) -> tuple[Outcome | None, Chaos]:
        data, chaos = await self.link.run(
            self._take_scenario, method, path, key or "", "0" if key is None else "1"
        )
        outcome = None if data is None else codec.load_scenario(data).outcome
        return outcome, codec.load_chaos(chaos)

    @reaching
    async def set_chaos(self, chaos: Chaos) -> None:
        await self.link.redis.set(self.link.key("chaos"), codec.dump_chaos(chaos))

    @reaching
    async def chaos(self) -> Chaos:
        return codec.load_chaos(await self.link.redis.get(self.link.key("chaos")))

    @reaching
    async def clear(self) -> None:
        await self.link.run(self._clear_scenarios)
