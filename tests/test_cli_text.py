"""What the commands say: every option of every command explains itself in `--help`, each
default once; `serve`'s banner names the dashboard, the mode and how long a call takes."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from wan26.client.cli import build_parser as client_parser
from wan26.contracts.cli import build_parser as contracts_parser
from wan26.mockserver.cli import _banner
from wan26.mockserver.cli import build_parser as mock_parser
from wan26.mockserver.config import CassetteConfig, Config, KeyConfig
from wan26.mockserver.server.background import free_port, running_command


def commands() -> Iterator[argparse.ArgumentParser]:
    """Every parser of the three commands, subcommands included."""
    pending = [mock_parser(), client_parser(), contracts_parser()]
    while pending:
        parser = pending.pop()
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())


COMMANDS = {parser.prog: parser for parser in commands()}


def test_every_subcommand_is_walked() -> None:
    assert {"wan26-mock serve", "wan26 generate", "wan26-contracts run"} <= set(COMMANDS)


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_option_has_help_and_prints_its_default_once(prog: str) -> None:
    parser = COMMANDS[prog]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):  # each command's own line instead
            assert all(choice.help for choice in action._choices_actions), prog
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{prog} {name} has no help"
        shown = action.help % {**vars(action), "prog": prog}
        assert "(default: None)" not in shown, f"{prog} {name}: {shown}"
        assert len(re.findall(r"\bdefault\b", shown)) <= 1, f"{prog} {name}: {shown}"
    text = parser.format_help()
    assert "(default: None)" not in text
    assert "(default: )" not in text


@pytest.mark.parametrize("prog", ["wan26-mock serve", "wan26 generate", "wan26-contracts run"])
def test_the_main_commands_describe_themselves(prog: str) -> None:
    assert COMMANDS[prog].description


def test_the_banner_names_the_dashboard_the_mode_and_the_call_time() -> None:
    port = free_port()
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with running_command(
        [*command, "--time-scale", "0.01", "--offline"],
        f"{base}/_mock/health",
        {},
        output=subprocess.PIPE,
    ) as proc:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    assert f"dashboard  {base}/_mock/ui" in output
    assert "mode       emulate (no upstream, no spending)" in output
    assert "scale 0.01: a 5 s 720p call takes about 1.4 s" in output
    assert "real time: --time-scale 1, about 2 min 19 s" in output


@pytest.mark.parametrize(
    ("cassette", "says"),
    [
        (
            CassetteConfig(mode="record", dir="tapes", max_spend_usd=2),
            "record into tapes, forwarding to https://api.segmind.com; budget $2",
        ),
        (
            CassetteConfig(mode="replay", dir="tapes", on_miss="error"),
            "replay tapes, nothing forwarded; an unrecorded call: error",
        ),
        (
            CassetteConfig(mode="passthrough", upstream="https://user:pw@proxy.test"),
            "passthrough to https://proxy.test; budget none",
        ),
    ],
)
def test_the_banner_names_the_upstream_and_the_budget(cassette: CassetteConfig, says: str) -> None:
    config = Config(keys=[KeyConfig(key="wan26-mock-key")], cassette=cassette)
    banner = _banner(config, "http://127.0.0.1:8000", workers=1)
    assert f"mode       {says}" in banner
    assert "scale 1 (real time): a 5 s 720p call takes about 2 min 19 s" in banner
    assert "pw" not in banner
