"""The integration report as people and CI systems read it: text and JUnit XML, from the
JSON of `GET /_mock/report`. Light (standard library only): `wan26-mock report` and
the pytest plugin use it without the emulator's dependencies."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

TITLE = "wan26 integration report"


def usd(amount: float) -> str:
    """`$0.625`, `$1.25`, `$0`: the exact amount, trailing zeros trimmed."""
    text = f"{Decimal(str(amount)):f}"
    return "$" + (text.rstrip("0").rstrip(".") if "." in text else text)


def at_risk(report: dict[str, Any]) -> float:
    return float(sum(Decimal(str(f["usd_at_risk"])) for f in report["findings"]))


def text(report: dict[str, Any], where: Iterable[str] = ()) -> str:
    """Lines for a terminal: what was spent, each finding with its advice, the outcomes
    never exercised. `where` names what the report covers (an emulator's URL, tests)."""
    lines = [
        f"{report.get('calls', 0)} call(s), {usd(report['spent_usd'])} spent (at list price), "
        f"{usd(at_risk(report))} at risk" + "".join(f" {part}" for part in where)
    ]
    if not report["findings"]:
        lines.append("no finding: nothing this integration did would waste money")
    for finding in report["findings"]:
        entries = ", ".join(map(str, finding["entries"][:10]))
        more = f" (+{len(finding['entries']) - 10} more)" if len(finding["entries"]) > 10 else ""
        tests = ", ".join(finding.get("tests", []))
        lines.append(
            f"{finding['kind']}: {finding['count']}, {usd(finding['usd_at_risk'])} at risk"
            + (f" (journal entries {entries}{more})" if entries else "")
            + (f" in {tests}" if tests else "")
        )
        lines.append(f"    {finding['advice']}")
        lines.extend(f"    note: {note}" for note in finding.get("notes", []))
    never = report["outcomes"]["never"]
    lines.append("never exercised: " + (", ".join(never) if never else "none"))
    return "\n".join(lines)


def junit(report: dict[str, Any], target: str) -> str:
    """A JUnit XML suite: one failing test case per finding, one passing case per kind the
    report checks and did not find, and the outcomes never exercised as skipped cases."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=TITLE)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", target),
        ("spent_usd", str(report["spent_usd"])),
        ("usd_at_risk", str(at_risk(report))),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    failures = skipped = 0
    found = {finding["kind"]: finding for finding in report["findings"]}
    for kind in report.get("kinds", list(found)):
        case = ET.SubElement(suite, "testcase", classname="wan26.report", name=kind)
        finding = found.get(kind)
        if finding is not None:
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{finding['count']} found, {usd(finding['usd_at_risk'])} at risk",
            )
            failure.text = "\n".join(
                [
                    finding["advice"],
                    *finding.get("notes", []),
                    f"journal entries: {finding['entries']}",
                ]
            )
    for outcome in report["outcomes"]["never"]:
        case = ET.SubElement(suite, "testcase", classname="wan26.outcomes", name=outcome)
        ET.SubElement(case, "skipped", message="never exercised")
        skipped += 1
    cases = len(suite.findall("testcase"))
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
