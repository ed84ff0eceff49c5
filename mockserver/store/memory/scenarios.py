"""Queued scenarios and chaos in this process's memory."""

from __future__ import annotations

from wan26.mockserver.core.records import Chaos, Outcome, QueuedScenario


class MemoryScenarios:
    def __init__(self) -> None:
        self.queued: list[QueuedScenario] = []
        self.in_force = Chaos()

    async def add(self, scenario: QueuedScenario) -> None:
        self.queued.append(scenario)

    async def all(self) -> list[QueuedScenario]:
        return list(self.queued)

    async def take(self, method: str, path: str, key: str | None) -> tuple[Outcome | None, Chaos]:
        for scenario in self.queued:
            if scenario.matches(method, path, key):
                scenario.remaining -= 1
                if scenario.remaining <= 0:
                    self.queued.remove(scenario)
                return scenario.outcome, self.in_force
        return None, self.in_force

    async def set_chaos(self, chaos: Chaos) -> None:
        self.in_force = chaos

    async def chaos(self) -> Chaos:
        return self.in_force

    async def clear(self) -> None:
        self.queued.clear()
        self.in_force = Chaos()
