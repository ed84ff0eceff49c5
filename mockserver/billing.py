"""What a generation costs: seconds of video times the tier's price per second."""

from __future__ import annotations

from wan26.mockserver.contract import ModelOperation


def price_list(operation: ModelOperation, overrides: dict[str, float]) -> dict[str, float]:
    return {**operation.pricing_per_second, **overrides}


def price_of(prices: dict[str, float], duration_s: int, resolution: str) -> float:
    return round(duration_s * prices[resolution], 6)


def usd(amount: float) -> str:
    """Header form of an amount: plain decimal, no exponent, trailing zeros trimmed."""
    text = f"{amount:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
