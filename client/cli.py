"""`wan26 generate`: one video from the command line, with progress on stderr.

Exit codes: 0 done; 2 bad parameters or no key; 3 authentication or
permission; 4 insufficient credits; 5 rate limited; 6 the generation failed;
7 server error (500/502/504); 8 connection or timeout; 9 possibly charged
(no answer to a paid call: check before retrying); 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wan26.client.errors import (
    APIConnectionError,
    AuthenticationError,
    BadGatewayError,
    GatewayTimeoutError,
    GenerationFailedError,
    InsufficientCreditsError,
    InternalServerError,
    MissingAPIKeyError,
    ParameterError,
    PermissionDeniedError,
    PossiblyChargedError,
    RateLimitError,
    WaitTimeoutError,
    Wan26Error,
)
from wan26.client.params import operation
from wan26.client.progress import Progress
from wan26.client.sync import Wan26Client
from wan26.client.video import Video
from wan26.contracts.core.extras import command_parser

KEY_HINT = "pass --api-key or set $SEGMIND_API_KEY (a loopback --base-url needs neither)"
EXIT_CODES: list[tuple[type[Exception], int]] = [
    (ParameterError, 2),
    (AuthenticationError, 3),
    (PermissionDeniedError, 3),
    (InsufficientCreditsError, 4),
    (RateLimitError, 5),
    (GenerationFailedError, 6),
    (InternalServerError, 7),
    (BadGatewayError, 7),
    (GatewayTimeoutError, 7),
    (PossiblyChargedError, 9),
    (APIConnectionError, 8),
    (WaitTimeoutError, 8),
]


def build_parser() -> argparse.ArgumentParser:
    parser, commands = command_parser(
        "wan26",
        description="Segmind Wan 2.6 Image To Video, from the command line.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate = commands.add_parser(
        "generate",
        help="make one video",
        description="Make one video: submit to the v2 queue, show progress on stderr, write "
        "the MP4, print its cost and the remaining credits. Parameters are checked against "
        "the contract before anything is sent.",
    )
    generate.add_argument(
        "--image", required=True, help="the input picture: an http(s) URL or a local file"
    )
    generate.add_argument(
        "--prompt", required=True, help="the text prompt: what should happen in the video"
    )
    generate.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="where to write the MP4"
    )
    _add_contract_parameters(generate)
    generate.add_argument(
        "--sync", action="store_true", help="one blocking v1 call instead of the v2 queue"
    )
    generate.add_argument(
        "--base-url",
        metavar="URL",
        help="the API, e.g. http://127.0.0.1:8000 for the emulator "
        "(default: $SEGMIND_BASE_URL, else https://api.segmind.com)",
    )
    generate.add_argument(
        "--api-key",
        metavar="KEY",
        help="the API key (default: $SEGMIND_API_KEY; for a loopback --base-url, the "
        "emulator's wan26-mock-key)",
    )
    generate.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="seconds to wait for the v2 job (default: %(default)g)",
    )
    generate.add_argument(
        "--poll-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="the longest wait between status polls in seconds; they start 0.25 s apart "
        "(default: %(default)g)",
    )
    return parser


def _add_contract_parameters(parser: argparse.ArgumentParser) -> None:
    """Every optional parameter of the contract, with its enum and default in --help."""
    for name, spec in operation().properties.items():
        if name in ("image", "prompt"):
            continue
        flag = "--" + name.replace("_", "-")
        description = spec.get("description", "").rstrip(".")
        if spec.get("default") not in (None, ""):
            description += " (default: %(default)s)"
        if spec.get("type") == "boolean":
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=spec.get("default"),
                help=description,
            )
            continue
        kind = int if "integer" in spec.get("type", []) else str
        parser.add_argument(
            flag, type=kind, choices=spec.get("enum"), default=spec.get("default"), help=description
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    params = {
        name: getattr(args, name)
        for name in operation().properties
        if name not in ("image", "prompt")
    }
    try:
        with Wan26Client(
            api_key=args.api_key, base_url=args.base_url, poll_interval_s=args.poll_interval
        ) as client:
            video = _generate(client, args, params)
            if video.path is None:
                video.save(args.out)
            if video.remaining_credits is None:
                video.remaining_credits = client.get_credits().balance
    except MissingAPIKeyError as exc:
        print(f"wan26: no API key for {exc.base_url}: {KEY_HINT}", file=sys.stderr)
        return 2
    except Wan26Error as exc:
        print(f"\nwan26: {exc}", file=sys.stderr)
        return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)
    print(f"wrote {args.out} ({len(video.data):,} bytes)")
    print(
        f"cost ${video.cost:.4f}, remaining credits ${video.remaining_credits:.4f}"
        if video.cost is not None
        else "cost unknown"
    )
    return 0


def _generate(client: Wan26Client, args: argparse.Namespace, params: dict[str, Any]) -> Video:
    if args.sync:
        print("wan26: generating (v1, blocking)...", file=sys.stderr)
        return client.generate_sync(args.image, args.prompt, **params)
    job = client.submit(args.image, args.prompt, **params)
    print(f"wan26: submitted {job.request_id}", file=sys.stderr)

    def progress(update: Progress) -> None:
        place = f" #{update.queue_position} in queue" if update.queue_position is not None else ""
        print(
            f"\rwan26: {update.state:<10} {update.elapsed_s:7.1f} s{place}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    job.wait(timeout=args.timeout, on_progress=progress)
    print(file=sys.stderr)
    return job.download(args.out)
