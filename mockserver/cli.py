"""`wan26-mock serve`: run the emulator on uvicorn."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import random
import signal
import socket
import sys
from typing import Any

from wan26.contracts.core.access import MaskSecretsFilter, is_loopback, mask, without_credentials
from wan26.contracts.core.extras import MissingExtraError, command_parser, require, version
from wan26.mockserver.config import CassetteConfig, Config, ConfigError, load_config
from wan26.mockserver.store.base import StoreUnavailable  # light: no server library


def build_parser() -> argparse.ArgumentParser:
    parser, commands = command_parser(
        "wan26-mock", description="Emulator of Segmind's Wan 2.6 Image To Video API."
    )
    serve = commands.add_parser(
        "serve",
        help="run the emulator over HTTP",
        description="Run the emulator over HTTP until Ctrl-C or SIGTERM. Settings come from "
        "defaults, then the YAML config, then WAN26_MOCK_* environment variables, then these "
        "flags. The banner names the dashboard, the mode and how long a call takes.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s); a non-loopback address turns "
        "/_mock off unless control.token is set",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    serve.add_argument(
        "--config", metavar="FILE", help="YAML config file (default: $WAN26_MOCK_CONFIG)"
    )
    serve.add_argument(
        "--time-scale",
        type=float,
        metavar="X",
        help="multiply emulated run times by this: 1 is real time (about 139 s a call), "
        "0.01 a quick start, 0 as fast as the video renders (default: 1)",
    )
    serve.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed for run times, random seeds and ids (default: random)",
    )
    serve.add_argument(
        "--media-mode",
        choices=("lenient", "strict"),
        help="lenient: a stand-in for unreachable URLs; strict: the real 400 (default: lenient)",
    )
    serve.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="fetch no URL at all: each gets the stand-in (or, if strict, the 400)",
    )
    serve.add_argument(
        "--allow-private-addresses",
        action="store_true",
        default=None,
        help="fetch media from loopback/private hosts (local fixtures)",
    )
    serve.add_argument(
        "--recording",
        metavar="DIR",
        help="learn the real service's messages, headers and run times from a cassette "
        "(wan26-contracts run --record DIR)",
    )
    tape = serve.add_mutually_exclusive_group()
    tape.add_argument("--record", metavar="DIR", help="replay DIR's calls, forward and keep others")
    tape.add_argument("--replay", metavar="DIR", help="answer from the cassette in DIR")
    serve.add_argument(
        "--upstream",
        metavar="URL",
        help="where --record forwards (default: https://api.segmind.com); alone: passthrough, "
        "every call forwarded and nothing kept",
    )
    serve.add_argument(
        "--max-spend-usd",
        type=float,
        metavar="USD",
        help="--record: the budget over the cassette's life (0 unless given: free calls "
        "only); passthrough: a cap for this run (none unless given)",
    )
    serve.add_argument(
        "--on-miss",
        choices=("emulate", "error"),
        help="--replay: emulate an unrecorded call, or refuse it with a 404 (default: emulate)",
    )
    state = serve.add_mutually_exclusive_group()
    state.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep state in DIR (SQLite and files): it survives restarts (default: memory)",
    )
    state.add_argument(
        "--redis-url",
        metavar="URL",
        help="keep state in Redis, shared by every process and host pointed at it",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes on one port; more than 1 needs --state-dir or --redis-url "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        help="uvicorn's log level; info logs every request (default: %(default)s)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a Host /_mock answers besides loopback names, e.g. http://wan26:8000 (repeatable)",
    )
    report = commands.add_parser(
        "report", help="what a running emulator's callers would waste on the real service"
    )
    report.add_argument("--url", required=True, help="the emulator, e.g. http://127.0.0.1:8000")
    report.add_argument("--key", help="only this key's calls (default: every key)")
    report.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="text (default), the route's JSON, or JUnit XML (a failing case per finding)",
    )
    report.add_argument(
        "--max-waste-usd", type=float, metavar="USD", help="exit 1 when more than this is at risk"
    )
    report.add_argument(
        "--token", help="the control plane's token (default: $WAN26_MOCK_CONTROL_TOKEN)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        return _report(args)
    try:
        require("mock")
        from wan26.mockserver.http.app import create_app
        from wan26.mockserver.store.backends import check_reachable

        config = _config(args)
        app = create_app(config)
        check_reachable(config)
        listener = _listen(args.host, args.port)
    except (ConfigError, MissingExtraError, OSError, StoreUnavailable) as exc:
        print(f"wan26-mock: {exc}", file=sys.stderr)
        return 2
    from wan26.mockserver.server.serving import exit_after_sigterm, make_server

    print(
        _banner(config, f"http://{args.host}:{listener.getsockname()[1]}", args.workers),
        file=sys.stderr,
    )
    if args.workers > 1:
        from wan26.mockserver.server.processes import serve_processes

        return serve_processes(config, listener, args.workers, args.log_level)
    server = make_server(app, log_level=args.log_level)
    for name in ("uvicorn.access", "uvicorn.error", "wan26.mockserver"):
        logging.getLogger(name).addFilter(MaskSecretsFilter())
    signal.signal(signal.SIGTERM, exit_after_sigterm)
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down gracefully, then re-raises it
        return 130
    return 0


def _banner(config: Config, base_url: str, workers: int) -> str:
    """What a user needs first: where to look, what the emulator does, how long a call takes."""
    keys = ", ".join(mask(key.key) for key in config.keys)
    processes = f"   processes: {workers}" if workers > 1 else ""
    return "\n".join(
        (
            f"wan26-mock {version()}: {base_url}",
            f"  dashboard  {base_url}/_mock/ui" if config.control.enabled else "  dashboard  off",
            f"  mode       {_mode(config.cassette)}",
            f"  time       {_timing(config)}",
            f"  API key(s) {keys}   state: {_where(config)}{processes}",
        )
    )


def _mode(cassette: CassetteConfig) -> str:
    upstream = without_credentials(cassette.upstream)
    budget = cassette.max_spend_usd
    if cassette.mode == "record":
        return (
            f"record into {cassette.dir}, forwarding to {upstream}; "
            f"budget ${budget or 0:g} over the cassette's life"
        )
    if cassette.mode == "replay":
        return f"replay {cassette.dir}, nothing forwarded; an unrecorded call: {cassette.on_miss}"
    if cassette.mode == "passthrough":
        return f"passthrough to {upstream}; budget " + (
            f"${budget:g}" if budget is not None else "none"
        )
    return "emulate (no upstream, no spending)"


def _timing(config: Config) -> str:
    """The time scale, and what it means for a typical call (5 s of video at 720p)."""
    from wan26.contracts.core.spec import default_contract
    from wan26.mockserver.core.latency import LatencyModel

    operation = next(iter(default_contract().models().values()))
    model = LatencyModel(config.latency, operation.run_time_s, 1.0, random.Random())
    real_s = model.median_for(5, "720p")
    scale = config.time_scale
    if scale == 0:
        return "scale 0: a call answers as fast as its video renders (real time: --time-scale 1)"
    if scale == 1:
        return (
            f"scale 1 (real time): a 5 s 720p call takes about {_seconds(real_s)} "
            "(--time-scale 0.01 for about a second)"
        )
    return (
        f"scale {scale:g}: a 5 s 720p call takes about {_seconds(real_s * scale)} "
        f"(real time: --time-scale 1, about {_seconds(real_s)})"
    )


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.2g} s" if value < 10 else f"{value:.0f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def _report(args: argparse.Namespace) -> int:
    """`wan26-mock report`: light (httpx only), so CI can run it next to any emulator.
    Exit 0, or 1 when `--max-waste-usd` is given and exceeded; 2 when it cannot ask."""
    from wan26.mockserver.control import report_format

    url = args.url.rstrip("/")
    token = args.token or os.environ.get("WAN26_MOCK_CONTROL_TOKEN")
    try:
        report = _fetch_report(url, args.key, token)
    except ValueError as exc:
        print(f"wan26-mock report: no report from {url}: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(report, indent=2))
    elif args.format == "junit":
        print(report_format.junit(report, url))
    else:
        print(report_format.text(report, [f"on {url}"]))
    wasted = report_format.at_risk(report)
    if args.max_waste_usd is not None and wasted > args.max_waste_usd:
        print(
            f"wan26-mock report: {report_format.usd(wasted)} at risk exceeds "
            f"--max-waste-usd {args.max_waste_usd:g}",
            file=sys.stderr,
        )
        return 1
    return 0


def _fetch_report(url: str, key: str | None, token: str | None) -> dict[str, Any]:
    """`GET /_mock/report`; a ValueError saying why there is none."""
    import httpx

    try:
        answer = httpx.get(
            f"{url}/_mock/report",
            params={"key": key} if key else None,
            headers={"x-mock-token": token} if token else None,
            timeout=30,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    if answer.status_code != 200:
        raise ValueError(f"HTTP {answer.status_code} {answer.text[:200]}".strip())
    try:
        report = answer.json()
    except ValueError:
        raise ValueError("the answer is not JSON: is this a wan26-mock emulator?") from None
    if not isinstance(report, dict) or not {"findings", "outcomes"} <= set(report):
        raise ValueError("the answer is not a report: is this a wan26-mock emulator?")
    return report


def _where(config: Config) -> str:
    if config.state_dir:
        return f"directory {config.state_dir}"
    if config.redis_url:
        return f"redis {without_credentials(config.redis_url)}"
    return "memory"


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    overrides = {"time_scale": args.time_scale, "seed": args.seed, "recording": args.recording}
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if args.state_dir or args.redis_url:  # a flag names the backend, whatever else says
        changes |= {"state_dir": args.state_dir, "redis_url": args.redis_url}
    config = dataclasses.replace(config, **changes)
    if config.state_dir and config.redis_url:
        raise ConfigError("a state directory and Redis are two backends: choose one")
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if args.workers > 1 and not config.shared_state:
        raise ConfigError(
            f"--workers {args.workers} needs state the processes share: add --state-dir DIR "
            "or --redis-url URL (in memory, each process would have its own keys, credits "
            "and jobs)"
        )
    config.cassette = _cassette(config.cassette, args)
    if args.workers > 1 and config.cassette.mode == "passthrough" and config.cassette.max_spend_usd:
        raise ConfigError(
            f"--max-spend-usd with --upstream alone is kept by each process: --workers "
            f"{args.workers} would multiply it; record into a directory (--record DIR shares "
            "one budget among processes) or run one process"
        )
    media = {
        "mode": args.media_mode,
        "offline": args.offline,
        "allow_private_addresses": args.allow_private_addresses,
    }
    config.media = dataclasses.replace(
        config.media, **{k: v for k, v in media.items() if v is not None}
    )
    if args.allow_host:
        hosts = [*config.control.allowed_hosts, *args.allow_host]
        config.control = dataclasses.replace(config.control, allowed_hosts=hosts)
    if not is_loopback(args.host) and config.control.token is None:
        config.control.enabled = False
        print(
            "wan26-mock: not a loopback address and no control.token: /_mock is off",
            file=sys.stderr,
        )
    return config


def _cassette(cassette: CassetteConfig, args: argparse.Namespace) -> CassetteConfig:
    """`--record DIR`, `--replay DIR`, or `--upstream URL` alone (passthrough)."""
    if args.replay and args.upstream:
        raise ConfigError("--replay forwards nothing: drop --upstream (or use --record)")
    changes: dict[str, Any] = {}
    if args.record or args.replay:
        changes["mode"] = "record" if args.record else "replay"
        changes["dir"] = args.record or args.replay
    elif args.upstream:
        changes["mode"] = "passthrough"
    settings = {"upstream": args.upstream, "max_spend_usd": args.max_spend_usd}
    changes |= {name: value for name, value in settings.items() if value is not None}
    if args.on_miss:
        changes["on_miss"] = args.on_miss
    return dataclasses.replace(cassette, **changes)


def _listen(host: str, port: int) -> socket.socket:
    """Bind before saying anything, so a taken port is one clear error, not a banner."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listener.set_inheritable(True)
    return listener
