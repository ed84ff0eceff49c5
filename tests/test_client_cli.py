"""`wan26 generate`: one command, progress on stderr, the MP4 written, distinct exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from wan26.client.cli import main
from wan26.mockserver.testing.handle import MockHandle


@pytest.fixture
def run(wan26_server: str, wan26_mock: MockHandle, tmp_path: Path):
    def run_cli(*extra: str) -> int:
        return main(
            [
                "generate",
                "--image",
                "https://example.com/cat.png",
                "--prompt",
                "a cat",
                "--out",
                str(tmp_path / "cat.mp4"),
                "--base-url",
                wan26_server,
                "--api-key",
                wan26_mock.api_key,
                "--poll-interval",
                "0.05",
                *extra,
            ]
        )

    return run_cli


def test_generate_writes_the_video_and_prints_cost_and_credits(
    run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--duration", "10", "--resolution", "1080p", "--no-multi-shots") == 0
    assert (tmp_path / "cat.mp4").read_bytes()[4:8] == b"ftyp"
    out, err = capsys.readouterr()
    assert "cost $1.8750, remaining credits $999998.1250" in out
    assert "submitted" in err and "COMPLETED" in err


def test_sync_mode_uses_v1(run, wan26_mock: MockHandle, capsys) -> None:
    assert run("--sync", "--seed", "42") == 0
    assert wan26_mock.journal()[0]["path"] == "/v1/wan-2.6-i2v"
    assert "cost $0.6250" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("forced", "extra", "code"),
    [
        (None, ("--seed", "-3"), 2),
        ("forbidden", (), 3),
        ("insufficient-credits", (), 4),
        ("job-failed", (), 6),
    ],
)
def test_each_error_class_has_its_exit_code(
    run, wan26_mock: MockHandle, forced: str | None, extra: tuple, code: int, capsys
) -> None:
    if forced:
        wan26_mock.fail_next(forced)
    assert run(*extra) == code
    assert "wan26:" in capsys.readouterr().err


def test_help_shows_the_contracts_enums_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "{5,10,15}" in text and "{720p,1080p}" in text
    assert "(default: 5)" in text and "(default: 720p)" in text
