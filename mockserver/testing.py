"""`MockHandle`: what a test says to an in-process emulator (the `wan26_mock` fixture)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wan26.mockserver.emulator import Emulator
from wan26.mockserver.scenarios import QueuedScenario, parse_outcome


@dataclass
class MockHandle:
    """What a test says to the emulator: "the next call gets 429", "one charged call"."""

    emulator: Emulator

    @property
    def api_key(self) -> str:
        return self.emulator.config.keys[0].key

    def fail_next(
        self,
        outcome: str,
        times: int = 1,
        *,
        key: str | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Force an outcome (a scenario name, e.g. "rate-limited" or "job-failed; message=x")."""
        forced = parse_outcome(outcome)
        if forced is None:
            raise ValueError("'success' needs no scenario")
        self.emulator.scenarios.queue(QueuedScenario(forced, times, key, path, method))

    def chaos(self, rates: dict[str, float], seed: int | None = 0) -> None:
        self.emulator.scenarios.set_chaos(rates, seed)

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        return self.emulator.journal.find(**filters)

    def charged_calls(self) -> list[dict[str, Any]]:
        return self.emulator.journal.find(charged=True)

    def set_key(self, key: str | None = None, **settings: Any) -> None:
        """Create a key or change its credits, free_credits, plan or models."""
        self.emulator.state.configure(key or self.api_key, settings)

    def balance(self, key: str | None = None) -> float:
        account = self.emulator.state.account(key or self.api_key)
        if account is None:
            raise KeyError("no such key")
        return float(account.balance)

    def reset(self) -> None:
        self.emulator.reset()
