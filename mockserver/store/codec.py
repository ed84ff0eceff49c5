"""Records as JSON text, for the backends that keep state outside the process (SQLite,
Redis). Money travels as decimal strings, bytes as latin-1 text: nothing is rounded."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from wan26.contracts.core.access import SECRET_HEADERS, mask
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.core.records import (
    Account,
    Chaos,
    Hold,
    Job,
    JobState,
    JournalEntry,
    Outcome,
    QueuedScenario,
    RunTime,
)


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def hold_data(hold: Hold) -> dict[str, Any]:
    return {"id": hold.id, "key": hold.key, "amount": str(hold.amount), "owner": hold.owner}


def hold_from(data: dict[str, Any]) -> Hold:
    return Hold(data["id"], data["key"], Decimal(data["amount"]), data["owner"])


def dump_job(job: Job) -> str:
    data = asdict(job)
    data["cost"] = str(job.cost)
    data["hold"] = hold_data(job.hold)
    return _dumps(data)


def load_job(text: str | bytes) -> Job:
    data = json.loads(text)
    data["cost"] = Decimal(data["cost"])
    data["run"] = RunTime(**data["run"])
    data["hold"] = hold_from(data["hold"])
    data["state"] = JobState(data["state"])
    data["outcome"] = Forced(data["outcome"]) if data["outcome"] else None
    return Job(**data)


# What the report reads (see journal.py), left out while at its default: most entries
# have none of it, and their records stay as small as before.
_SPARSE_ENTRY_FIELDS: dict[str, Any] = {
    "fingerprint": None,
    "price_usd": 0.0,
    "failure": None,
    "job_id": None,
    "job_state": None,
    "truncated": {},
    "reset_at": None,
}


def dump_entry(entry: JournalEntry) -> str:
    data = asdict(entry)
    for name, default in _SPARSE_ENTRY_FIELDS.items():
        if data[name] == default:
            del data[name]
    data["query"] = entry.query.decode("latin-1")
    # Kept outside the process (a file, Redis): secrets leave it masked, as they are shown.
    data["headers"] = _header_texts(entry.headers)
    data["response_headers"] = _header_texts(entry.response_headers)
    return _dumps(data)


def _header_texts(headers: list[tuple[bytes, bytes]]) -> list[list[str]]:
    return [
        [name, mask(value) if name in SECRET_HEADERS else value]
        for name, value in ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
    ]


def load_entry(text: str | bytes) -> JournalEntry:
    data = json.loads(text)
    data["query"] = data["query"].encode("latin-1")
    for part in ("headers", "response_headers"):
        data[part] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in data.get(part, [])]
    return JournalEntry(**data)


def dump_scenario(scenario: QueuedScenario) -> str:
    outcome = scenario.outcome
    return _dumps(
        {
            "outcome": {
                "name": outcome.name.value,
                "seconds": outcome.seconds,
                "message": outcome.message,
            },
            "remaining": scenario.remaining,
            "key": scenario.key,
            "path": scenario.path,
            "method": scenario.method,
        }
    )


def load_scenario(text: str | bytes) -> QueuedScenario:
    data = json.loads(text)
    raw = data.pop("outcome")
    outcome = Outcome(Forced(raw["name"]), raw["seconds"], raw["message"])
    return QueuedScenario(outcome, **data)


def dump_chaos(chaos: Chaos) -> str:
    return _dumps({"rates": chaos.rates, "seed": chaos.seed, "nonce": chaos.nonce})


def load_chaos(text: str | bytes | None) -> Chaos:
    if not text:
        return Chaos()
    data = json.loads(text)
    return Chaos(dict(data["rates"]), data["seed"], data.get("nonce", ""))


def dump_account(account: Account) -> str:
    """The settings and money; holds and the rate window are kept apart by the backends."""
    return _dumps(
        {
            "key": account.key,
            "credits": str(account.credits),
            "free_credits": str(account.free_credits),
            "requests_per_minute": account.requests_per_minute,
            "models": account.models,
        }
    )


def load_account(text: str | bytes) -> Account:
    data = json.loads(text)
    return Account(
        key=data["key"],
        credits=Decimal(data["credits"]),
        free_credits=Decimal(data["free_credits"]),
        requests_per_minute=data["requests_per_minute"],
        models=list(data["models"]),
    )
