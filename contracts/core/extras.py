"""Which optional extra a part of the package needs, and a one-line answer when it is missing.

The plain install is the light client; the emulator and the harness come with
extras. A command of a missing extra says what to install instead of a traceback.
"""

from __future__ import annotations

import argparse
from importlib import metadata
from importlib.util import find_spec
from typing import Any

DISTRIBUTION = "wan26-mock"
MODULES = {
    "mock": ("starlette", "uvicorn", "av", "PIL", "numpy"),
    "contracts": ("schemathesis", "hypothesis", "av", "PIL"),
}


class MissingExtraError(ImportError):
    """An optional extra is not installed."""


def missing(extra: str) -> list[str]:
    return [module for module in MODULES[extra] if find_spec(module) is None]


def require(extra: str) -> None:
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"this needs the [{extra}] extra (missing: {', '.join(absent)}): "
            f"install '{DISTRIBUTION}[{extra}]'"
        )


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def command_parser(
    prog: str, **options: Any
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    """A command's parser with `--version` and its subcommands, the same for all three."""
    parser = argparse.ArgumentParser(prog=prog, **options)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version()}", help="print the version"
    )
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
