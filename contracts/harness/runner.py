"""Plan and run the probes against a server, within a budget, and build the report.

A run always ends with a report: if the target goes away, a request times out, a probe
raises or the user presses Ctrl-C, the report keeps what was observed and says why the
run stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from wan26.contracts.harness.checks import Spec
from wan26.contracts.harness.fuzz import fuzz
from wan26.contracts.harness.probes import Probe, Target, free_probes, paid_probes, scenario_probes
from wan26.contracts.harness.report import ContractRef, Report, Row
from wan26.contracts.harness.source import ContractSource
from wan26.contracts.harness.tape import Recorder
from wan26.contracts.harness.timescale import answer_at_once, restore


@dataclass(frozen=True)
class Skipped:
    probe: Probe
    why: str


@dataclass
class Plan:
    run: list[Probe] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

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
        lines += [f"  skip  {s.probe.name:22} {s.why}" for s in self.skipped]
        return "\n".join(lines)


def make_plan(spec: Spec, *, emulator: bool, live: bool, max_spend_usd: float) -> Plan:
    """Free probes always; paid ones on the emulator, or live within the budget;
    scenario probes on the emulator only."""
    plan = Plan(run=list(free_probes(spec)))
    budget = max_spend_usd
    for probe in paid_probes(spec):
        if not live:
            plan.run.append(probe)
        elif probe.cost_usd <= budget + 1e-9:
            plan.run.append(probe)
            budget -= probe.cost_usd
        else:
            why = f"costs ${probe.cost_usd:.4f}; budget left ${budget:.4f} (raise --max-spend-usd)"
            plan.skipped.append(Skipped(probe, why))
    for probe in scenario_probes(spec):
        if emulator and not live:
            plan.run.append(probe)
        else:
            plan.skipped.append(Skipped(probe, "needs the emulator's X-Mock-Scenario"))
    return plan


def is_emulator(http: httpx.Client, base_url: str) -> bool:
    try:
        answer = http.get(f"{base_url}/_mock/health", timeout=5)
        return answer.status_code == 200 and answer.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def run(
    target: Target,
    plan: Plan,
    source: ContractSource,
    *,
    live: bool,
    recorder: Recorder | None = None,
    fuzz_examples: int = 0,
    at_once: bool = True,
) -> Report:
    """The probes, then (never live: it would spend) schemathesis with `fuzz_examples` each.

    Against the emulator with `at_once`, its time scale is 0 for the run and restored after.
    """
    report = Report(
        title="Wan 2.6 contract check",
        target=target.base_url,
        contracts=[ContractRef("contract", str(source.path), source.sha256)],
    )
    report.notes.append(
        "live endpoint"
        if live
        else "emulator"
        if target.emulator
        else "a server that is not the emulator"
    )
    target.recorder = recorder
    change = answer_at_once(target) if at_once and target.emulator and not live else None
    try:
        _probe(target, plan, report)
        target.recorder = None  # the fuzz pass's random calls are not the service's answers
        if fuzz_examples and not live and not report.stopped:
            _fuzz(target, source, fuzz_examples, report)
    except KeyboardInterrupt:
        report.stopped = "interrupted (Ctrl-C or SIGTERM)"
    finally:
        if change is not None:
            report.notes.append(restore(target, change))
        target.recorder = None
        _scrub(report, target.api_key)
        if recorder is not None:
            recorder.close()
    return report


def _probe(target: Target, plan: Plan, report: Report) -> None:
    """Each probe in turn; the first that cannot finish stops the run (the rest are named)."""
    for index, probe in enumerate(plan.run):
        try:
            result = probe.run(target)
        except Exception as exc:  # any failure of a probe ends the run, and is reported
            seen = f"{exc.__class__.__name__}: {exc}"
            category = "transport" if isinstance(exc, httpx.HTTPError) else "harness"
            report.add(Row(probe.name, category, "an HTTP answer", seen, "inconclusive"))
            report.stopped = f"probe {probe.name} failed: {seen}"
            left = [p.name for p in plan.run[index + 1 :]]
            if left:
                report.notes.append(f"not run: {', '.join(left)}")
            return
        report.add(*result.rows)
    for skipped in plan.skipped:
        report.add(
            Row(skipped.probe.name, "skipped", skipped.probe.summary, skipped.why, "inconclusive")
        )


def _fuzz(target: Target, source: ContractSource, examples: int, report: Report) -> None:
    try:
        for row in fuzz(target, Spec.of(source.contract), source.path, examples):
            report.add(row)
    except Exception as exc:  # a fuzz pass that cannot go on ends the run
        report.stopped = f"fuzz pass failed: {exc.__class__.__name__}: {exc}"


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
    report.notes = [note.replace(secret, "***") for note in report.notes]
    report.stopped = report.stopped.replace(secret, "***")
