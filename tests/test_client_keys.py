"""Which key the client sends when none is given: the emulator's public default key for a
loopback base URL, never for anything else; the error names how to give one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from wan26.client import AsyncWan26Client, MissingAPIKeyError, Wan26Client
from wan26.client.cli import main
from wan26.mockserver.config import DEFAULT_API_KEY
from wan26.mockserver.testing.handle import MockHandle


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    monkeypatch.delenv("SEGMIND_BASE_URL", raising=False)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8000", "http://localhost:9", "http://[::1]:8000", "http://127.8.0.1"],
)
def test_a_loopback_base_url_gets_the_emulators_default_key(base_url: str) -> None:
    assert Wan26Client(base_url=base_url).settings.api_key == DEFAULT_API_KEY == "wan26-mock-key"
    assert AsyncWan26Client(base_url=base_url).settings.api_key == DEFAULT_API_KEY


def test_a_loopback_segmind_base_url_from_the_environment_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGMIND_BASE_URL", "http://127.0.0.1:8000")
    assert Wan26Client().settings.api_key == DEFAULT_API_KEY


@pytest.mark.parametrize(
    "base_url",
    [
        None,
        "https://api.segmind.com",
        "http://127.0.0.1.nip.io",
        "http://10.0.0.5:8000",
        "127.0.0.1:8000",
    ],
)
@respx.mock
def test_any_other_base_url_without_a_key_is_refused_before_sending(base_url: str | None) -> None:
    route = respx.route().mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(MissingAPIKeyError) as error:
        Wan26Client(base_url=base_url)
    message = str(error.value)
    assert "api_key=" in message and "$SEGMIND_API_KEY" in message
    assert route.call_count == 0


def test_a_given_key_always_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Wan26Client("mine", base_url="http://127.0.0.1:8000").settings.api_key == "mine"
    monkeypatch.setenv("SEGMIND_API_KEY", "from-env")
    assert Wan26Client(base_url="http://127.0.0.1:8000").settings.api_key == "from-env"


def test_without_a_key_the_client_just_works_against_a_local_emulator(
    wan26_server: str, wan26_mock: MockHandle
) -> None:
    assert wan26_mock.api_key == DEFAULT_API_KEY
    with Wan26Client(base_url=wan26_server) as client:
        assert client.get_credits().balance == wan26_mock.balance()
    assert wan26_mock.journal()[0]["status"] == 200


def test_the_cli_without_a_key_names_its_own_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["generate", "--image", "x.png", "--prompt", "p", "--out", str(tmp_path / "o.mp4")]
    assert main([*argv, "--base-url", "https://api.test"]) == 2
    err = capsys.readouterr().err
    assert "--api-key or set $SEGMIND_API_KEY" in err
    assert "api_key=" not in err


def test_the_cli_without_a_key_works_against_a_local_emulator(
    wan26_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cat.mp4"
    argv = ["generate", "--image", "https://example.com/cat.png", "--prompt", "a cat"]
    assert main([*argv, "--out", str(out), "--base-url", wan26_server]) == 0
    assert out.read_bytes()[4:8] == b"ftyp"
    assert "cost $0.6250" in capsys.readouterr().out
