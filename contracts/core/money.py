"""Money: what a generation costs, and how amounts are kept, compared and shown.

The rounding rule, stated once: every amount is a `Decimal` of whole
micro-dollars (USD 0.000001). A balance given with more decimals is rounded
down (a key never gets money it was not given); a price is rounded up. Sums and
differences of such amounts are exact, so no comparison needs slack and no
balance ends at -0. Headers and messages show the exact amount with trailing
zeros trimmed; JSON carries it as a number (exact up to the $1e9 cap).

Imported by the client and the contract harness: no server libraries here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from wan26.contracts.core.spec import ModelOperation

MICRO = Decimal("0.000001")
MAX_USD = Decimal(1_000_000_000)


class MoneyError(ValueError):
    """Not an amount of money: not a number, not finite, negative or over the cap."""


def _exact(value: object, rounding: str) -> Decimal:
    try:
        # str() of a float is its shortest repr: 0.3 stays 0.3, not 0.299999...
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{value!r} is not an amount of USD") from None
    if isinstance(value, bool) or not amount.is_finite() or not 0 <= amount <= MAX_USD:
        raise MoneyError(f"{value!r} is not an amount of USD between 0 and {MAX_USD}")
    return amount.quantize(MICRO, rounding=rounding)


def balance_of(value: object) -> Decimal:
    """A balance from config or the control plane, rounded down to the micro-dollar."""
    return _exact(value, ROUND_FLOOR)


def price_list(
    operation: ModelOperation, overrides: Mapping[str, Any] | None = None
) -> dict[str, Decimal]:
    """USD per second of video by resolution: the contract's `x-pricing`, then overrides."""
    merged = {**operation.pricing_per_second, **(overrides or {})}
    return {resolution: _exact(rate, ROUND_CEILING) for resolution, rate in merged.items()}


def price_of(prices: Mapping[str, Decimal], duration_s: int, resolution: str) -> Decimal:
    """The one price computation: seconds times the tier's rate, rounded up."""
    return (duration_s * prices[resolution]).quantize(MICRO, rounding=ROUND_CEILING)


def plain(amount: Decimal) -> Decimal:
    """The amount without trailing zeros and never in exponent form (1E+6 is 1000000)."""
    trimmed = amount.normalize()
    return trimmed.quantize(Decimal(1)) if trimmed == trimmed.to_integral() else trimmed


def usd(amount: Decimal) -> str:
    """Header form of an amount: plain decimal, no exponent, trailing zeros trimmed."""
    return str(plain(amount))


def as_json(amount: Decimal) -> float:
    """JSON form: a number, the same decimal digits as `usd`."""
    return float(amount)
