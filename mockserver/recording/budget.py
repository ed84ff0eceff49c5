"""The spending cap of a recording session: reserve before forwarding, settle after.

A paid call reserves its documented price under a lock before anything is
sent, so concurrent calls can never together pass the cap; when the answer is
in, the reservation becomes spent (the upstream charged it, or may have) or is
released (it answered without charging).

A recording's cap belongs to its cassette directory, not to a process: every
process recording into it (`--workers N`, or two recorders) reserves under the
directory's lock, against what the directory has spent (`spent_usd`) and what
all of them hold in flight (`DIR/.in-flight.json`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import uuid
from decimal import Decimal
from typing import Any

from wan26.contracts.core.cassette import Cassette, write_atomically
from wan26.contracts.core.money import usd

IN_FLIGHT = ".in-flight.json"
_MADE_HERE: set[str] = set()  # the ids of the shared budgets this process made
_AMOUNT = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,6})?$")  # a reservation as written: str(Decimal)


class Budget:
    """A cap kept by this process alone (passthrough: there is no directory to share)."""

    def __init__(self, limit_usd: Decimal | None, spent_usd: Decimal = Decimal(0)) -> None:
        self.limit_usd = limit_usd  # None: no cap
        self.spent_usd = spent_usd
        self.reserved_usd = Decimal(0)
        self._lock = threading.Lock()

    def reserve(self, price: Decimal) -> str | None:
        """Hold `price`; None when held, else why not (nothing may be forwarded then)."""
        with self._lock:
            refusal = self.refusal(price, self.spent_usd, self.reserved_usd)
            if refusal is None:
                self.reserved_usd += price
            return refusal

    def settle(self, price: Decimal, charged: bool) -> None:
        """End a reservation: spent if charged, else released."""
        with self._lock:
            self.reserved_usd -= price
            if charged:
                self.spent_usd += price

    def refusal(self, price: Decimal, spent: Decimal, reserved: Decimal) -> str | None:
        if self.limit_usd is None:
            return None
        left = max(self.limit_usd - spent - reserved, Decimal(0))
        if price <= left:
            return None
        return (
            f"Budget exceeded: this call costs ${usd(price)}, "
            f"${usd(left)} of max_spend_usd ${usd(self.limit_usd)} is left "
            f"(${usd(spent)} spent, ${usd(reserved)} in flight); nothing was forwarded"
        )


class SharedBudget(Budget):
    """The cap of a cassette directory, shared by every process recording into it.

    A reservation is kept in the directory with its maker (host, pid and an id); one left
    by a process that has ended counts as spent, as a call sent and never answered does."""

    def __init__(self, limit_usd: Decimal | None, cassette: Cassette) -> None:
        super().__init__(limit_usd)
        self.cassette = cassette
        self.id = uuid.uuid4().hex
        _MADE_HERE.add(self.id)

    def reserve(self, price: Decimal) -> str | None:
        with self.cassette.locked():
            held = self._held()
            reserved = sum((Decimal(hold["usd"]) for hold in held), Decimal(0))
            refusal = self.refusal(price, Decimal(str(self.cassette.spent_usd)), reserved)
            if refusal is None:
                maker = {"host": socket.gethostname(), "pid": os.getpid(), "id": self.id}
                held.append({**maker, "usd": str(price)})
            self._write(held)
            return refusal

    def settle(self, price: Decimal, charged: bool) -> None:
        with self.cassette.locked():
            held = self._held()
            mine = [n for n, hold in enumerate(held) if self._mine(hold)]
            match = next((n for n in mine if held[n]["usd"] == str(price)), None)
            if match is not None:
                del held[match]
            self._write(held)
            if charged:
                self.cassette.add_spent(price)

    def _mine(self, hold: dict[str, Any]) -> bool:
        return hold.get("id") == self.id

    def _held(self) -> list[dict[str, Any]]:
        """The reservations in flight; those of makers that have ended count as spent."""
        try:
            held = json.loads((self.cassette.folder / IN_FLIGHT).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, ValueError):
            held = []
        held = [
            hold
            for hold in (held if isinstance(held, list) else [])
            if isinstance(hold, dict) and _AMOUNT.match(str(hold.get("usd")))
        ]
        over = [hold for hold in held if _ended(hold)]
        if over:
            self.cassette.add_spent(sum((Decimal(hold["usd"]) for hold in over), Decimal(0)))
        return [hold for hold in held if hold not in over]

    def _write(self, held: list[dict[str, Any]]) -> None:
        path = self.cassette.folder / IN_FLIGHT
        if held:
            write_atomically(path, json.dumps(held).encode())
        elif path.exists():
            path.unlink()


def _ended(hold: dict[str, Any]) -> bool:
    """Whether the maker of this reservation has ended (known only on this host; in this
    process, a maker this process did not make is an earlier process with its pid)."""
    if hold.get("host") != socket.gethostname() or not isinstance(hold.get("pid"), int):
        return False
    if hold["pid"] == os.getpid():
        return hold.get("id") not in _MADE_HERE
    try:
        os.kill(hold["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
