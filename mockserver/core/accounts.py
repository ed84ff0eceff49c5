"""Accounts from configuration: a key's settings turned into the `Account` a store keeps.

Where the state itself lives is the store's business (mockserver/store); this module
only knows what the config means: plans as requests per minute, balances as exact
micro-dollars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wan26.contracts.core.money import MoneyError, balance_of
from wan26.mockserver.config import UNLIMITED, Config, ConfigError, KeyConfig, key_from_mapping
from wan26.mockserver.store.base import Account

__all__ = ["Account", "account_from", "changed_account", "configured_accounts"]


def account_from(key: KeyConfig, plans: Mapping[str, int]) -> Account:
    try:
        credits, free_credits = balance_of(key.credits), balance_of(key.free_credits)
    except MoneyError as exc:
        raise ConfigError(f"key credits: {exc}") from None
    return Account(
        key=key.key,
        credits=credits,
        free_credits=free_credits,
        requests_per_minute=_rate_of(key.plan, plans),
        models=list(key.models),
    )


def configured_accounts(config: Config, plans: Mapping[str, int]) -> list[Account]:
    return [account_from(key, plans) for key in config.keys]


def changed_account(
    current: Account | None, key: str, changes: Mapping[str, Any], plans: Mapping[str, int]
) -> Account:
    """A key with some of its settings changed (the rest as they are), or a new key."""
    settings: dict[str, Any] = {"key": key}
    if current is not None:
        rate = current.requests_per_minute
        settings |= {
            "credits": current.credits,
            "free_credits": current.free_credits,
            "plan": UNLIMITED if rate is None else rate,
            "models": current.models,
        }
    return account_from(key_from_mapping({**settings, **changes, "key": key}), plans)


def _rate_of(plan: str | int, plans: Mapping[str, int]) -> int | None:
    if isinstance(plan, bool) or (isinstance(plan, int) and plan < 0):
        raise ConfigError(f"plan {plan!r} is not a plan name or a number of requests >= 0")
    if isinstance(plan, int):
        return plan
    if plan == UNLIMITED:
        return None
    if plan not in plans:
        known = ", ".join([*plans, UNLIMITED])
        raise ConfigError(f"unknown plan {plan!r}; use a number or one of {known}")
    return plans[plan]
