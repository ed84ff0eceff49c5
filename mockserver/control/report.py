"""The integration report: what a key's calls would waste on the real service, and which
documented failures they never met.

A pure function of the journal (entries keep an admitted call's fingerprint and price,
the failure answered, a v2 call's job and the state a poll saw), computed only when
asked for, so it costs the API path nothing. Every finding is a pattern a well-behaved
integration (submit once, poll every second, fetch the result) never shows.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from wan26.contracts.core.access import mask
from wan26.contracts.core.matching import MODEL_CALL
from wan26.mockserver.config import ReportConfig
from wan26.mockserver.core.emulator import RESET_AT_FORMAT
from wan26.mockserver.core.errors import BY_STATUS
from wan26.mockserver.core.outcomes import Forced
from wan26.mockserver.http.journal import JournalEntry, entry_key
from wan26.mockserver.http.lifecycle import CLIENT_GONE

# A v2 job's URLs: its status (`/v2/requests/{id}/status`) and its result
# (`/v2/requests/{id}`, and the submit answer's `poll_url`, `/v1/requests/{id}`).
JOB_URL = re.compile(r"^/v[12]/requests/([^/]+?)(/status)?$")
FINISHED = ("COMPLETED", "FAILED")
# Answers that say the real service did not run the call: its input was refused (a bad
# image is a 400 after admission) or the emulator itself was stopping.
NOT_RUN = (400, 503)

ADVICE = {
    "duplicate-paid-call": (
        "The API has no idempotency: every identical paid call is billed again. Keep the "
        "request id of a v2 submit and poll it instead of resubmitting; after a timeout or a "
        "lost connection, check credits (or the job) before sending again."
    ),
    "abandoned-paid-call": (
        "The client gave up before the answer, but the real service keeps running the call. "
        "Give v1 calls a read timeout longer than the run time (about 139 s, up to 1,500 s), "
        "or submit to the v2 queue and poll."
    ),
    "unfetched-result": (
        "The job completed (and is billed) but its result (GET /v2/requests/{id}) was never "
        "fetched; results expire one hour after submission. Fetch the output of every job "
        "you submit, or do not submit it."
    ),
    "over-polling": (
        "The job was polled more often than the real service needs: wait at least 1 s "
        "between polls (the official SDK does), backing off for long jobs."
    ),
    "retry-before-reset": (
        "A model call was sent after a 429 before the time its x-rate-limit-reset-at-utc "
        "header named: the real service refuses it again. Wait until that time (there is "
        "no Retry-After) before sending the next call."
    ),
    "poll-after-expiry": (
        "The job's record had expired (results are kept one hour after submission): fetch "
        "the result as soon as the job completes, and stop polling a job you no longer need."
    ),
}
NOTES = {
    "abandoned-paid-call": (
        "whether the real service bills a call its client abandoned is not documented; "
        "counted as {billed} (report.abandoned_billed)"
    ),
    "unfetched-result": (
        "counted as soon as the job completes: a result not yet fetched can still be "
        "fetched until it expires"
    ),
}


@dataclass
class Finding:
    kind: str
    count: int
    usd_at_risk: float
    entries: list[int]
    advice: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    key: str | None  # masked; None: every key
    calls: int
    spent_usd: float
    findings: list[Finding]
    exercised: list[str]
    never: list[str]

    @property
    def usd_at_risk(self) -> float:
        return float(sum(Decimal(str(f.usd_at_risk)) for f in self.findings))

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "calls": self.calls,
            "spent_usd": self.spent_usd,
            "usd_at_risk": self.usd_at_risk,
            "kinds": list(ADVICE),
            "findings": [asdict(finding) for finding in self.findings],
            "outcomes": {"exercised": self.exercised, "never": self.never},
        }


def build_report(
    entries: Iterable[JournalEntry], settings: ReportConfig, key: str | None = None
) -> Report:
    """The report over the journal, for one key (its real or masked form) or every key."""
    wanted = mask(key) if key else None
    by_key: dict[str | None, list[JournalEntry]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: (e.at, e.id)):
        owner = entry_key(entry)
        if wanted is None or owner == wanted:
            by_key[owner].append(entry)
    found: dict[str, _Tally] = {}
    for own in by_key.values():
        for kind, tally in _findings(own, settings).items():
            found.setdefault(kind, _Tally()).add(tally)
    mine = [entry for own in by_key.values() for entry in own]
    met = {name for entry in mine for name in _outcomes_met(entry)}
    billed = "billed" if settings.abandoned_billed else "not billed"
    return Report(
        key=wanted,
        calls=len(mine),
        spent_usd=float(sum(Decimal(str(entry.charged_usd)) for entry in mine)),
        findings=[
            Finding(
                kind=kind,
                count=found[kind].count,
                usd_at_risk=float(found[kind].usd),
                entries=sorted(found[kind].entries),
                advice=ADVICE[kind],
                notes=[NOTES[kind].format(billed=billed)] if kind in NOTES else [],
            )
            for kind in ADVICE
            if kind in found
        ],
        exercised=[name.value for name in Forced if name in met],
        never=[name.value for name in Forced if name not in met],
    )


@dataclass
class _Tally:
    count: int = 0
    usd: Decimal = field(default_factory=Decimal)
    entries: set[int] = field(default_factory=set)

    def add(self, other: _Tally) -> None:
        self.count += other.count
        self.usd += other.usd
        self.entries |= other.entries

    def flag(self, usd: float, *entries: JournalEntry) -> None:
        self.count += 1
        self.usd += Decimal(str(usd))
        self.entries.update(entry.id for entry in entries)


def _findings(entries: list[JournalEntry], settings: ReportConfig) -> dict[str, _Tally]:
    """One key's findings, its entries oldest first."""
    found: dict[str, _Tally] = defaultdict(_Tally)
    paid = [e for e in entries if e.price_usd > 0 and e.status not in NOT_RUN]
    last_seen: dict[str, JournalEntry] = {}
    for entry in paid:
        assert entry.fingerprint is not None  # set with the price when admitted
        first = last_seen.get(entry.fingerprint)
        if first is not None and entry.at - first.at <= settings.duplicate_window_s:
            found["duplicate-paid-call"].flag(entry.price_usd, first, entry)
        last_seen[entry.fingerprint] = entry
        if entry.status == CLIENT_GONE:
            at_risk = entry.price_usd if settings.abandoned_billed else 0.0
            found["abandoned-paid-call"].flag(at_risk, entry)
    _early_retries(found, entries)
    submits = {e.job_id: e for e in paid if e.job_id and not JOB_URL.match(e.path)}
    reads: dict[str, list[JournalEntry]] = defaultdict(list)
    for entry in entries:
        match = JOB_URL.match(entry.path)
        if match and entry.method in ("GET", "HEAD") and match[1] in submits:
            reads[match[1]].append(entry)
    for job_id, submit in submits.items():
        _job_findings(found, submit, reads[job_id], settings)
    return {kind: tally for kind, tally in found.items() if tally.count}


def _job_findings(
    found: dict[str, _Tally],
    submit: JournalEntry,
    reads: list[JournalEntry],
    settings: ReportConfig,
) -> None:
    """A v2 job's polls and fetches: too frequent, after expiry, or no result fetched."""
    polls: list[JournalEntry] = []
    for read in reads:
        polls.append(read)
        if read.job_state in FINISHED or read.status == 404:
            break  # the client has its answer: reads after this are not polls
    if len(polls) >= settings.over_polling_min_polls:
        mean_gap = (polls[-1].at - polls[0].at) / (len(polls) - 1)
        if mean_gap < settings.over_polling_mean_gap_s:
            found["over-polling"].flag(0.0, *polls)
    for read in reads:
        if read.status == 404:
            found["poll-after-expiry"].flag(0.0, read)
    completed = submit.charged_usd > 0 or any(r.job_state == "COMPLETED" for r in reads)
    fetched = any(
        r.status == 200 and r.job_state == "COMPLETED" and not r.path.endswith("/status")
        for r in reads
    )
    if completed and not fetched:
        found["unfetched-result"].flag(submit.price_usd, submit)


def _early_retries(found: dict[str, _Tally], entries: list[JournalEntry]) -> None:
    """Model calls sent after a 429 and before the reset time it named."""
    reset_at: float | None = None
    for entry in entries:
        if entry.method != "POST" or not MODEL_CALL.match(entry.path):
            continue
        if reset_at is not None and entry.at < reset_at:
            found["retry-before-reset"].flag(0.0, entry)
        if entry.reset_at:
            stamp = datetime.strptime(entry.reset_at, RESET_AT_FORMAT).replace(tzinfo=UTC)
            reset_at = stamp.timestamp()


def _outcomes_met(entry: JournalEntry) -> set[Forced]:
    """The forced outcome and the failure an entry's answer was, by `X-Mock-Scenario` names;
    an answer the emulator did not judge itself (a replayed one) by its status."""
    met = set()
    if entry.outcome:
        met.add(Forced(entry.outcome))
    if entry.failure:
        met.add(Forced(entry.failure))
    elif entry.status == 422 or entry.job_state == "FAILED":
        met.add(Forced.JOB_FAILED)
    elif entry.status in BY_STATUS and entry.status >= 400:
        met.add(BY_STATUS[entry.status])
    return met
