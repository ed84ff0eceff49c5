"""Plan and run the probes against a server, within a budget, and build the report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from wan26.contracts.fuzz import fuzz
from wan26.contracts.probes import Probe, Target, free_probes, paid_probes, scenario_probes
from wan26.contracts.report import Report, Row


@dataclass
class Plan:
    run: list[Probe] = field(default_factory=list)
    skipped: list[tuple[Probe, str]] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return round(sum(p.cost_usd for p in self.run), 6)

    def describe(self, live: bool) -> str:
        spend = f"spending at most ${self.cost_usd:.4f}" if live else "no real money spent"
        lines = [f"plan: {len(self.run)} probes, {spend}"]
        lines += [
            f"  run   {p.name:22} {p.summary}"
            + (f"  (${p.cost_usd:.4f})" if live and p.cost_usd else "")
            for p in self.run
        ]
        lines += [f"  skip  {p.name:22} {why}" for p, why in self.skipped]
        return "\n".join(lines)


def make_plan(*, emulator: bool, live: bool, max_spend_usd: float) -> Plan:
    """Free probes always; paid ones on the emulator, or live within the budget;
    scenario probes on the emulator only."""
    plan = Plan(run=list(free_probes()))
    budget = max_spend_usd
    for probe in paid_probes():
        if not live:
            plan.run.append(probe)
        elif probe.cost_usd <= budget + 1e-9:
            plan.run.append(probe)
            budget -= probe.cost_usd
        else:
            plan.skipped.append(
                (
                    probe,
                    f"costs ${probe.cost_usd:.4f}; budget left "
                    f"${budget:.4f} (raise --max-spend-usd)",
                )
            )
    for probe in scenario_probes():
        if emulator and not live:
            plan.run.append(probe)
        else:
            plan.skipped.append((probe, "needs the emulator's X-Mock-Scenario"))
    return plan


def is_emulator(http: httpx.Client, base_url: str) -> bool:
    try:
        answer = http.get(f"{base_url}/_mock/health", timeout=5)
        return answer.status_code == 200 and answer.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def run(
    target: Target, plan: Plan, *, live: bool, record: Path | None = None, fuzz_examples: int = 0
) -> Report:
    """The probes, then (never live: it would spend) schemathesis with `fuzz_examples` each."""
    report = Report(title="Wan 2.6 contract check", target=target.base_url)
    report.notes.append(
        "live endpoint"
        if live
        else "emulator"
        if target.emulator
        else "a server that is not the emulator"
    )
    recording: dict[str, object] = {}
    for probe in plan.run:
        try:
            rows, seen = probe.run(target)
        except httpx.HTTPError as exc:
            rows, seen = (
                [
                    Row(
                        probe.name,
                        "transport",
                        "an HTTP answer",
                        f"{exc.__class__.__name__}: {exc}",
                        "inconclusive",
                    )
                ],
                {},
            )
        report.add(*rows)
        recording[probe.name] = seen
    for probe, why in plan.skipped:
        report.add(Row(probe.name, "skipped", probe.summary, why, "inconclusive"))
    if fuzz_examples and not live:
        report.add(*fuzz(target, fuzz_examples))
    _scrub(report, target.api_key)
    if record is not None:
        text = json.dumps(recording, indent=2, default=str)
        record.write_text(text.replace(target.api_key, "***") if target.api_key else text)
    return report


def _scrub(report: Report, secret: str) -> None:
    """The key never appears in any output, whatever a server echoes back."""
    if not secret:
        return
    report.rows = [
        Row(
            **{  # type: ignore[arg-type]  # the row's own fields: its verdict stays a Verdict
                name: value.replace(secret, "***") if isinstance(value, str) else value
                for name, value in row.__dict__.items()
            }
        )
        for row in report.rows
    ]
