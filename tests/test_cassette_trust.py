"""A cassette is trusted input: damaged, hand-edited or hostile ones are a clear error at
start-up (one line, exit code 2), never a traceback, a hang or a broken answer."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_cassette import first_media, record_cassette

from conftest import make_config
from wan26.contracts.core.cassette import INDEX, MAX_MEDIA_BYTES
from wan26.mockserver import create_app
from wan26.mockserver.cli import main
from wan26.mockserver.config import CassetteConfig, ConfigError


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_cassette(tmp_path_factory)


def damaged(cassette: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(cassette, copy)
    return copy


def edit_index(folder: Path, change: Any) -> None:
    index = json.loads((folder / INDEX).read_text())
    change(index)
    (folder / INDEX).write_text(json.dumps(index))


def set_duration(index: dict) -> None:
    next(e for e in index["exchanges"] if e["request"]["body"])["request"]["body"]["duration"] = 10


def set_version(index: dict) -> None:
    index["version"] = 2


def status_as_text(index: dict) -> None:
    index["exchanges"][0]["response"]["status"] = "200"


def replace_media(folder: Path, make: Any) -> None:
    path = first_media(folder)
    path.unlink()
    make(path)


def oversized(path: Path) -> None:
    with path.open("wb") as file:  # sparse: nothing is written
        file.truncate(MAX_MEDIA_BYTES + 1)


def recorded_headers(**headers: str) -> Any:
    def change(index: dict) -> None:
        posted = next(e for e in index["exchanges"] if e["request"]["method"] == "POST")
        posted["response"]["headers"].update(headers)

    return lambda folder: edit_index(folder, change)


HOSTILE = {
    "truncated": (
        lambda f: (f / INDEX).write_text((f / INDEX).read_text()[:300]),
        "cannot be read (truncated or hand-edited?)",
    ),
    "edited request": (lambda f: edit_index(f, set_duration), "its request was edited"),
    "wrong type": (lambda f: edit_index(f, status_as_text), "is not a valid cassette"),
    "future version": (lambda f: edit_index(f, set_version), "format version 2"),
    "missing video": (lambda f: first_media(f).unlink(), "is missing"),
    "altered video": (lambda f: first_media(f).write_bytes(b"not the video"), "was altered"),
    "video linked to /dev/zero": (
        lambda f: replace_media(f, lambda p: p.symlink_to("/dev/zero")),
        "a cassette holds regular files",
    ),
    "video as a FIFO": (
        lambda f: replace_media(f, os.mkfifo),
        "is not a regular file: a cassette holds regular files",
    ),
    "oversized video": (lambda f: oversized(first_media(f)), "over the limit of"),
    "framing headers": (
        recorded_headers(**{"content-length": "5", "transfer-encoding": "chunked"}),
        "the header 'content-length' is not one a cassette keeps",
    ),
    "CRLF in a header": (
        recorded_headers(**{"x-seed-value": "3\r\nx-injected: 1"}),
        "the header 'x-seed-value' has a control character",
    ),
    "CRLF in recorded_at": (
        lambda f: edit_index(f, lambda i: i["exchanges"][0].update(recorded_at="x\r\ny: 1")),
        "recorded_at is not an ISO 8601 time",
    ),
}


@pytest.mark.parametrize("harm", HOSTILE)
def test_a_hostile_cassette_is_a_clear_error_at_start_up(
    harm: str, cassette: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = damaged(cassette, tmp_path)
    damage, message = HOSTILE[harm]
    damage(folder)
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app(make_config(cassette=CassetteConfig(mode="replay", dir=str(folder))))
    assert main(["serve", "--replay", str(folder), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("wan26-mock: cassette ") and error.count("\n") == 1
