"""The emulator's mutable state: accounts, credit holds and rate-limit windows.

Everything here is touched only from the event loop, so no locks are needed.
Amounts are exact `Decimal` micro-dollars (see billing.py for the rounding rule).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wan26.mockserver.billing import MoneyError, balance_of
from wan26.mockserver.config import UNLIMITED, Config, ConfigError, KeyConfig, key_from_mapping


@dataclass
class Account:
    key: str
    credits: Decimal
    free_credits: Decimal
    requests_per_minute: int | None
    models: list[str]
    # Reserved by requests in flight, so concurrent calls cannot overspend.
    held: Decimal = field(default_factory=Decimal)
    window_start: float = 0.0
    window_count: int = 0

    @property
    def balance(self) -> Decimal:
        return self.credits + self.free_credits

    @property
    def available(self) -> Decimal:
        return self.balance - self.held

    def may_call(self, slug: str) -> bool:
        return "*" in self.models or slug in self.models


@dataclass
class StateStore:
    config: Config
    plans: dict[str, int]
    clock: Callable[[], float] = time.time
    accounts: dict[str, Account] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in self.config.keys:
            self.accounts[key.key] = self._account(key)

    def _account(self, key: KeyConfig) -> Account:
        try:
            credits, free_credits = balance_of(key.credits), balance_of(key.free_credits)
        except MoneyError as exc:
            raise ConfigError(f"key credits: {exc}") from None
        return Account(
            key=key.key,
            credits=credits,
            free_credits=free_credits,
            requests_per_minute=self._rate_of(key.plan),
            models=list(key.models),
        )

    def _rate_of(self, plan: str | int) -> int | None:
        if isinstance(plan, bool) or (isinstance(plan, int) and plan < 0):
            raise ConfigError(f"plan {plan!r} is not a plan name or a number of requests >= 0")
        if isinstance(plan, int):
            return plan
        if plan == UNLIMITED:
            return None
        if plan not in self.plans:
            known = ", ".join([*self.plans, UNLIMITED])
            raise ConfigError(f"unknown plan {plan!r}; use a number or one of {known}")
        return self.plans[plan]

    def configure(self, key: str, changes: Mapping[str, Any]) -> Account:
        """Add a key, or change some of its settings; the rest stay as they are."""
        current = self.accounts.get(key)
        settings: dict[str, Any] = {"key": key}
        if current is not None:
            rate = current.requests_per_minute
            settings |= {
                "credits": current.credits,
                "free_credits": current.free_credits,
                "plan": UNLIMITED if rate is None else rate,
                "models": current.models,
            }
        return self.put(key_from_mapping({**settings, **changes, "key": key}))

    def put(self, key: KeyConfig) -> Account:
        """Add a key, or change its settings in place (requests in flight keep their holds)."""
        fresh = self._account(key)
        account = self.accounts.setdefault(key.key, fresh)
        account.credits, account.free_credits = fresh.credits, fresh.free_credits
        account.requests_per_minute, account.models = fresh.requests_per_minute, fresh.models
        return account

    def account(self, key: str) -> Account | None:
        return self.accounts.get(key)

    def admit(self, account: Account) -> float | None:
        """Count one request in the key's window; if it is over the plan, return when the
        window resets (seconds since the epoch)."""
        if account.requests_per_minute is None:
            return None
        now = self.clock()
        window = self.config.rate_limit_window_s
        if now - account.window_start >= window:
            account.window_start, account.window_count = now, 0
        if account.window_count >= account.requests_per_minute:
            return account.window_start + window
        account.window_count += 1
        return None

    def hold(self, account: Account, amount: Decimal) -> bool:
        if account.available < amount:
            return False
        account.held += amount
        return True

    def release(self, account: Account, amount: Decimal) -> None:
        account.held = max(Decimal(0), account.held - amount)

    def charge(self, account: Account, amount: Decimal) -> None:
        """Turn a hold into a charge; free credits are spent first. [guess]"""
        self.release(account, amount)
        from_free = min(account.free_credits, amount)
        account.free_credits -= from_free
        account.credits -= amount - from_free
