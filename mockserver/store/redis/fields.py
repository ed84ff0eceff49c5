"""How the Redis backend's records sit in Redis: money as integer micro-dollars, times as
Python's float repr, a job's changing fields beside its JSON (see store.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from wan26.mockserver.core.records import Account, Job, JobState
from wan26.mockserver.store import codec

Reply = bytes | str  # as redis-py types its answers; bytes here (responses are not decoded)


def micro(amount: Decimal) -> str:
    micro = amount.scaleb(6)
    if micro != micro.to_integral_value():
        raise ValueError(f"{amount} USD is not a whole number of micro-dollars")
    return str(int(micro))


def usd(micro: Reply | int) -> Decimal:
    return Decimal(int(micro)).scaleb(-6)


def seconds(value: float) -> str:
    return repr(float(value))


def text(value: Reply | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


def account_from(fields: Mapping[Reply, Reply]) -> Account | None:
    if not fields:
        return None
    account = codec.load_account(fields[b"settings"])
    account.credits = usd(fields[b"credits"])
    account.free_credits = usd(fields[b"free"])
    account.held = usd(fields[b"held"])
    account.window_start = float(fields[b"wstart"])
    account.window_count = int(fields[b"wcount"])
    return account


def flat(pairs: list[Reply]) -> dict[Reply, Reply]:
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def job_from(fields: Sequence[Reply | None]) -> Job | None:
    data, state, worker, started = fields
    if data is None:
        return None
    job = codec.load_job(data)
    job.state = JobState(text(state))
    job.worker = text(worker) or None
    job.started_at = float(started) if started else None
    return job


def job_args(job: Job) -> list[str]:
    claimable = job.state is JobState.QUEUED or (
        job.state is JobState.PROCESSING and job.worker is None
    )
    started = "" if job.started_at is None else seconds(job.started_at)
    return [
        job.id,
        codec.dump_job(job),
        job.state.value,
        job.worker or "",
        started,
        "1" if claimable else "0",
    ]
