"""`MockHandle`: what a test says to an in-process emulator (the `wan26_mock` fixture)."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from wan26.mockserver.core.accounts import Account, changed_account
from wan26.mockserver.core.emulator import Emulator
from wan26.mockserver.core.scenarios import QueuedScenario, parse_outcome
from wan26.mockserver.http.journal import find_entries
from wan26.mockserver.store.memory import MemoryStore

T = TypeVar("T")


@dataclass
class MockHandle:
    """What a test says to the emulator: "the next call gets 429", "one charged call".

    Synchronous, so plain tests can use it: it works on the memory store (the plugin's),
    whose steps never wait, so each finishes at once whatever thread calls it."""

    emulator: Emulator

    def __post_init__(self) -> None:
        if not isinstance(self.emulator.store, MemoryStore):
            raise TypeError("MockHandle needs the memory store; use /_mock with a shared one")

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
        _at_once(self.emulator.scenarios.queue(QueuedScenario(forced, times, key, path, method)))

    def chaos(self, rates: dict[str, float], seed: int | None = 0) -> None:
        _at_once(self.emulator.scenarios.set_chaos(rates, seed))

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        return find_entries(_at_once(self.emulator.store.journal.entries()), **filters)

    def charged_calls(self) -> list[dict[str, Any]]:
        return self.journal(charged=True)

    def set_key(self, key: str | None = None, **settings: Any) -> None:
        """Create a key or change its credits, free_credits, plan or models."""
        name = key or self.api_key
        store, plans = self.emulator.store, self.emulator.contract.plans
        current = _at_once(store.accounts.get(name))
        _at_once(store.accounts.put(changed_account(current, name, settings, plans)))

    def account(self, key: str | None = None) -> Account:
        """The key's settings and money as they are now (credits, held, rate window)."""
        account = _at_once(self.emulator.store.accounts.get(key or self.api_key))
        if account is None:
            raise KeyError("no such key")
        return account

    def balance(self, key: str | None = None) -> float:
        return float(self.account(key).balance)

    def reset(self) -> None:
        _at_once(self.emulator.reset())


def _at_once(step: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (the memory store's steps) without an event loop."""
    try:
        step.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    step.close()
    raise RuntimeError("this step waits; it needs an event loop")
