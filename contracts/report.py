"""A report: one row per check (what the contract says, what was seen, the verdict),
as Markdown for people, JSON for machines and JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Literal

Verdict = Literal["match", "drift", "inconclusive", "breaking", "non-breaking"]
FAILING: frozenset[str] = frozenset({"drift", "breaking"})


@dataclass(frozen=True)
class Row:
    check: str  # e.g. "auth-missing/status"
    category: str  # the class of drift: status, error-shape, header, enum, body-type, video, ...
    expected: str
    observed: str
    verdict: Verdict
    detail: str = ""


@dataclass
class Report:
    title: str
    target: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    @property
    def failing(self) -> list[Row]:
        return [row for row in self.rows if row.verdict in FAILING]

    def counts(self) -> dict[str, int]:
        return dict(Counter(row.verdict for row in self.rows))

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                "target": self.target,
                "counts": self.counts(),
                "notes": self.notes,
                "rows": [asdict(r) for r in self.rows],
            },
            indent=2,
        )

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", "", f"Target: `{self.target}`", ""]
        lines += [f"- {note}" for note in self.notes]
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
        for row in self.rows:
            mark = f"**{row.verdict}**" if row.verdict in FAILING else row.verdict
            observed = row.observed + (f" ({row.detail})" if row.detail else "")
            lines.append(f"| {row.check} | {mark} | {_cell(row.expected)} | {_cell(observed)} |")
        return "\n".join(lines) + "\n"

    def to_junit(self) -> str:
        suites = ET.Element("testsuites")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=self.title,
            tests=str(len(self.rows)),
            failures=str(len(self.failing)),
            skipped=str(sum(r.verdict == "inconclusive" for r in self.rows)),
        )
        for row in self.rows:
            case = ET.SubElement(suite, "testcase", classname=row.category, name=row.check)
            text = f"contract: {row.expected}\nobserved: {row.observed}\n{row.detail}".strip()
            if row.verdict in FAILING:
                ET.SubElement(case, "failure", message=f"{row.verdict}: {row.observed}").text = text
            elif row.verdict == "inconclusive":
                ET.SubElement(case, "skipped", message=row.observed).text = text
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
