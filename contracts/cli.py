"""`wan26-contracts`: check a server against the contract, or diff two contracts.

Exit codes: 0 no drift (or no breaking change), 1 drift (or breaking changes),
2 the harness itself failed (bad arguments or contract, no key for --live,
unreachable target, a run stopped by a timeout, a lost target or Ctrl-C). The
requested reports of a run are written in every case, saying why it stopped.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx

from wan26.contracts.core.access import DEFAULT_API_KEY
from wan26.contracts.core.extras import MissingExtraError, command_parser, require
from wan26.contracts.harness.diff import diff_files
from wan26.contracts.harness.report import Report
from wan26.contracts.harness.source import bundled, load

LIVE_URL = "https://api.segmind.com"


class HarnessError(Exception):
    """The check could not be carried out; exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser, commands = command_parser(
        "wan26-contracts", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1]
    )
    check = commands.add_parser(
        "run",
        help="check a server against openapi.yaml",
        description="Check a server (the emulator, any URL, or the live API with --live) "
        "against the contract: probes of each documented behaviour, then a schemathesis "
        "pass. Needs the [contracts] extra.",
    )
    check.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the server to check; required without --live (with --live: {LIVE_URL})",
    )
    check.add_argument(
        "--live",
        action="store_true",
        help="the real API: needs SEGMIND_API_KEY; free probes only unless "
        "--max-spend-usd covers paid ones",
    )
    check.add_argument(
        "--max-spend-usd",
        type=float,
        default=0.0,
        metavar="USD",
        help="live budget; one 5 s 720p generation costs $0.625 (default: %(default)g)",
    )
    check.add_argument(
        "--api-key",
        metavar="KEY",
        help="the API key (default: $SEGMIND_API_KEY, else the emulator's wan26-mock-key)",
    )
    check.add_argument(
        "--image-url",
        metavar="URL",
        help="input image for paid probes (default: a 16:9 data URI)",
    )
    check.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="save the probes' exchanges as a cassette (the wan26-mock serve --record format: "
        "wan26-mock serve --replay DIR replays it, recording: DIR learns from it)",
    )
    check.add_argument(
        "--wait-s",
        type=float,
        default=1800.0,
        metavar="S",
        help="how long to wait for a v2 job to finish (default: %(default)g)",
    )
    check.add_argument(
        "--timeout-s",
        type=float,
        default=1500.0,
        metavar="S",
        help="read timeout of each request, the fuzz pass's too; a live v1 call takes about "
        "139 s (default: %(default)g)",
    )
    check.add_argument(
        "--contract",
        type=Path,
        metavar="FILE",
        help="the OpenAPI contract to check against (default: the bundled openapi.yaml)",
    )
    check.add_argument(
        "--keep-time-scale",
        action="store_true",
        help="against the emulator, leave its time scale as it is (by default the run sets "
        "it to 0, so generations answer at once, and restores it afterwards)",
    )
    check.add_argument(
        "--fuzz",
        type=int,
        default=10,
        metavar="N",
        help="schemathesis examples per operation and mode; never with --live "
        "(default: %(default)s)",
    )
    _add_report_options(check)
    diff = commands.add_parser(
        "diff",
        help="breaking and non-breaking changes between contracts",
        description="List the breaking changes (exit 1) and the non-breaking ones between two "
        "OpenAPI files.",
    )
    diff.add_argument("old", type=Path, metavar="OLD", help="the contract as it was (YAML)")
    diff.add_argument("new", type=Path, metavar="NEW", help="the contract as it is now (YAML)")
    _add_report_options(diff)
    return parser


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report-md", type=Path, metavar="FILE", help="write the report as Markdown here"
    )
    parser.add_argument(
        "--report-json", type=Path, metavar="FILE", help="write the report as JSON here"
    )
    parser.add_argument(
        "--junit", type=Path, metavar="FILE", help="write the report as JUnit XML here (for CI)"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _terminate_as_interrupt():
            report = _check(args) if args.command == "run" else diff_files(args.old, args.new)
    except (HarnessError, MissingExtraError, httpx.HTTPError, OSError, ValueError) as exc:
        message = " ".join(str(exc).split()) or exc.__class__.__name__
        print(f"wan26-contracts: {message}", file=sys.stderr)
        if args.command == "run":
            _write_reports(_not_started(args, message), args)
        return 2
    except KeyboardInterrupt:
        print("wan26-contracts: interrupted before the run started", file=sys.stderr)
        if args.command == "run":
            why = "interrupted (Ctrl-C or SIGTERM) before any probe"
            _write_reports(_not_started(args, why), args)
        return 2
    _write_reports(report, args)
    for row in report.failing:
        print(f"{row.verdict.upper():12} {row.check}: expected {row.expected}; saw {row.observed}")
    summary = ", ".join(f"{n} {v}" for v, n in sorted(report.counts().items()))
    print(f"wan26-contracts: {summary or 'nothing checked'}")
    if report.stopped:
        print(f"wan26-contracts: the run stopped early: {report.stopped}", file=sys.stderr)
        return 2
    return 1 if report.failing else 0


def _check(args: argparse.Namespace) -> Report:
    require("contracts")
    from wan26.contracts.harness.checks import Spec
    from wan26.contracts.harness.probes import Target
    from wan26.contracts.harness.runner import is_emulator, make_plan, run
    from wan26.contracts.harness.tape import Recorder

    key = args.api_key or os.environ.get("SEGMIND_API_KEY")
    if args.live and not key:
        raise HarnessError("--live needs SEGMIND_API_KEY (or --api-key)")
    base_url = _base_url(args)
    if not base_url:
        raise HarnessError("--base-url is required without --live")
    source = load(args.contract) if args.contract else bundled()
    spec = Spec.of(source.contract)
    recorder = Recorder(args.record, spec.model, key or DEFAULT_API_KEY) if args.record else None
    with httpx.Client(timeout=httpx.Timeout(args.timeout_s, connect=10.0)) as http:
        try:
            http.get(base_url, timeout=10)
        except httpx.TransportError as exc:
            raise HarnessError(f"cannot reach {base_url}: {exc}") from None
        emulator = not args.live and is_emulator(http, base_url)
        plan = make_plan(spec, emulator=emulator, live=args.live, max_spend_usd=args.max_spend_usd)
        print(plan.describe(args.live), file=sys.stderr)
        target = Target(
            base_url,
            key or DEFAULT_API_KEY,
            http,
            emulator,
            poll_interval_s=5.0 if args.live else 0.05,
            wait_s=args.wait_s,
        )
        if args.image_url:
            target.image = args.image_url
        return run(
            target,
            plan,
            source,
            live=args.live,
            recorder=recorder,
            fuzz_examples=args.fuzz,
            at_once=not args.keep_time_scale,
        )


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, `kill`) stops a run like Ctrl-C: reports still written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _base_url(args: argparse.Namespace) -> str:
    return (args.base_url or (LIVE_URL if args.live else "")).rstrip("/")


def _not_started(args: argparse.Namespace, why: str) -> Report:
    """The report of a run that never started: no rows, and why."""
    return Report(title="Wan 2.6 contract check", target=_base_url(args), stopped=why)


def _write_reports(report: Report, args: argparse.Namespace) -> None:
    for path, render in (
        (args.report_md, report.to_markdown),
        (args.report_json, report.to_json),
        (args.junit, report.to_junit),
    ):
        if path is not None:
            try:
                path.write_text(render())
            except OSError as exc:
                print(
                    f"wan26-contracts: cannot write {path}: {exc.strerror or exc}", file=sys.stderr
                )
