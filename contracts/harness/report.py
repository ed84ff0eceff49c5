"""A report: one row per check (what the contract says, what was seen, the verdict),
as Markdown for people, JSON for machines and JUnit XML for CI.

Every format also says when the run started, which tool version ran, against which
target and contract (with its SHA-256), and why the run stopped if it did not finish.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

from wan26.contracts.core.extras import version

Verdict = Literal["match", "drift", "inconclusive", "breaking", "non-breaking"]
FAILING: frozenset[str] = frozenset({"drift", "breaking"})
SHORT_DETAIL = 120  # longer or multi-line details get their own section in Markdown


@dataclass(frozen=True)
class Row:
    check: str  # e.g. "auth-missing/status"
    category: str  # the class of drift: status, error-shape, header, enum, body-type, video, ...
    expected: str
    observed: str
    verdict: Verdict
    detail: str = ""


@dataclass(frozen=True)
class ContractRef:
    role: str  # "contract" for a run; "old" and "new" for a diff
    path: str
    sha256: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Report:
    title: str
    target: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    contracts: list[ContractRef] = field(default_factory=list)
    started_at: str = field(default_factory=_now)
    tool_version: str = field(default_factory=version)
    stopped: str = ""  # why the run ended before every check ran; empty when it finished

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    @property
    def failing(self) -> list[Row]:
        return [row for row in self.rows if row.verdict in FAILING]

    def counts(self) -> dict[str, int]:
        return dict(Counter(row.verdict for row in self.rows))

    def metadata(self) -> list[tuple[str, str]]:
        pairs = [
            ("started_at", self.started_at),
            ("tool_version", self.tool_version),
            ("target", self.target),
        ]
        for ref in self.contracts:
            pairs += [(ref.role, ref.path), (f"{ref.role}_sha256", ref.sha256)]
        return pairs

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                **dict(self.metadata()),
                "contracts": [asdict(ref) for ref in self.contracts],
                "complete": not self.stopped,
                "stopped": self.stopped or None,
                "counts": self.counts(),
                "notes": self.notes,
                "rows": [asdict(r) for r in self.rows],
            },
            indent=2,
        )

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        lines += [f"- {name.replace('_', ' ')}: `{value}`" for name, value in self.metadata()]
        lines += [f"- {note}" for note in self.notes]
        if self.stopped:
            lines += ["", f"**Run stopped before it finished: {self.stopped}**"]
        summary = ", ".join(
            f"{count} {verdict}" for verdict, count in sorted(self.counts().items())
        )
        lines += [
            "",
            f"**{summary or 'no checks ran'}**",
            "",
            "| check | verdict | contract says | observed |",
            "| --- | --- | --- | --- |",
        ]
        long_details = []
        for row in self.rows:
            mark = f"**{row.verdict}**" if row.verdict in FAILING else row.verdict
            observed = row.observed
            if _is_long(row.detail):
                long_details.append(row)
                observed += " (details below)"
            elif row.detail:
                observed += f" ({row.detail})"
            lines.append(f"| {row.check} | {mark} | {_cell(row.expected)} | {_cell(observed)} |")
        if long_details:
            lines += ["", "## Details"]
        for row in long_details:
            lines += [
                "",
                f"### {row.check}",
                "",
                "```text",
                row.detail.replace("```", "'''"),
                "```",
            ]
        return "\n".join(lines) + "\n"

    def to_junit(self) -> str:
        suites = ET.Element("testsuites")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=self.title,
            timestamp=self.started_at,
            tests=str(len(self.rows) + bool(self.stopped)),
            failures=str(len(self.failing)),
            errors=str(int(bool(self.stopped))),
            skipped=str(sum(r.verdict == "inconclusive" for r in self.rows)),
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in self.metadata():
            ET.SubElement(properties, "property", name=name, value=value)
        for row in self.rows:
            case = ET.SubElement(suite, "testcase", classname=row.category, name=row.check)
            text = f"contract: {row.expected}\nobserved: {row.observed}\n{row.detail}".strip()
            if row.verdict in FAILING:
                ET.SubElement(case, "failure", message=f"{row.verdict}: {row.observed}").text = text
            elif row.verdict == "inconclusive":
                ET.SubElement(case, "skipped", message=row.observed).text = text
        if self.stopped:
            case = ET.SubElement(suite, "testcase", classname="harness", name="run/complete")
            ET.SubElement(case, "error", message=self.stopped).text = self.stopped
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _is_long(detail: str) -> bool:
    return "\n" in detail or len(detail) > SHORT_DETAIL


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
