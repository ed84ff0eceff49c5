"""The spending cap of a recording session: reserve before forwarding, settle after.

A paid call reserves its documented price under a lock before anything is
sent, so concurrent calls can never together pass the cap; when the answer is
in, the reservation becomes spent (the upstream charged it, or may have) or is
released (it answered without charging).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal

from wan26.contracts.core.money import usd


@dataclass
class Budget:
    limit_usd: Decimal | None  # None: no cap
    spent_usd: Decimal = Decimal(0)
    reserved_usd: Decimal = Decimal(0)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, price: Decimal) -> str | None:
        """Hold `price`; None when held, else why not (nothing may be forwarded then)."""
        with self._lock:
            if self.limit_usd is None:
                self.reserved_usd += price
                return None
            left = max(self.limit_usd - self.spent_usd - self.reserved_usd, Decimal(0))
            if price > left:
                return (
                    f"Budget exceeded: this call costs ${usd(price)}, "
                    f"${usd(left)} of max_spend_usd ${usd(self.limit_usd)} is left "
                    f"(${usd(self.spent_usd)} spent, ${usd(self.reserved_usd)} in flight); "
                    "nothing was forwarded"
                )
            self.reserved_usd += price
            return None

    def settle(self, price: Decimal, charged: bool) -> Decimal:
        """End a reservation; return the new total spent."""
        with self._lock:
            self.reserved_usd -= price
            if charged:
                self.spent_usd += price
            return self.spent_usd
