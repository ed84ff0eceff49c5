"""A cassette on disk: `cassette.json` (one diffable index) and `media/<sha256>.mp4`.

Everything in it is checked when it is opened, so a truncated or hand-edited
index, a missing, altered or oversized video (or one that is not a regular file), a
header that would break the answer, or a format from a newer version is a clear
error at start-up rather than a wrong answer later.

Several processes may record into one directory (two `serve --record`, or
`--workers N`): every change is made under a lock on the directory
(`DIR/.lock`, flock), merged into the index as it is on disk, and written whole
to a temporary file that replaces the index, so no process loses another's
recording or spending.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs

from wan26.contracts.core.errors import ConfigError
from wan26.contracts.core.matching import AUTH_CLASSES, fingerprint
from wan26.contracts.core.money import as_json, balance_of

VERSION = 1
INDEX = "cassette.json"
MEDIA = "media"
LOCK = ".lock"  # flock'd by whoever changes the directory; empty
MAX_INDEX_BYTES = 64 * 1024 * 1024
# The largest video a cassette may hold: a real 15 s 1080p generation is a few tens of MB.
MAX_MEDIA_BYTES = 256 * 1024 * 1024
FINAL_STATES = ("COMPLETED", "FAILED")
CREDITS_PATH = "/v1/get-user-credits"
# Answers kept in a cassette: successes and the errors that depend only on the call.
# 429 and 5xx are passing conditions; replaying them forever would be wrong.
RECORDED_STATUSES = frozenset({200, 400, 401, 403, 404, 405, 406, 413, 422})
KEPT_HEADERS = ("content-type", "x-cost", "x-generation-time", "x-seed-value", "x-output-metadata")
BALANCE_HEADER = "x-remaining-credits"
# On every answer replayed from a cassette: when it was recorded (a balance is that old).
RECORDED_AT_HEADER = "x-mock-recorded-at"
# Besides KEPT_HEADERS, every other `x-` header is kept (the real service's extras, which a
# replaying emulator learns), except these: per-call ids, the balance, the emulator's own.
NEVER_KEPT = frozenset({"x-request-id", "x-api-key", BALANCE_HEADER})
# What a replayed header may be: a token name, and a value of visible Latin-1 text
# (no CR, LF or other control character, which would split or break the answer).
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e\xa0-\xff]*$")

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "spent_usd", "exchanges"],
    "additionalProperties": False,
    "properties": {
        "version": {"type": "integer", "minimum": 1},
        "spent_usd": {"type": "number", "minimum": 0},
        "exchanges": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["fingerprint", "request", "response", "cost_usd", "recorded_at"],
                "additionalProperties": False,
                "properties": {
                    "fingerprint": _SHA256,
                    "recorded_at": {"type": "string"},
                    "cost_usd": {"type": "number", "minimum": 0},
                    "request": {
                        "type": "object",
                        "required": ["method", "path", "query", "auth", "content_type", "body"],
                        "additionalProperties": False,
                        "properties": {
                            "method": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "query": {"type": "string"},
                            "auth": {"enum": list(AUTH_CLASSES)},
                            "content_type": {"type": ["string", "null"]},
                            "body": {},
                        },
                    },
                    "response": {
                        "type": "object",
                        "required": ["status", "headers"],
                        "additionalProperties": False,
                        "properties": {
                            "status": {"type": "integer", "minimum": 100, "maximum": 599},
                            "headers": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "json": {},
                            "text": {"type": "string"},
                            "media": _SHA256,
                        },
                    },
                    "job": {
                        "type": "object",
                        "required": ["states", "result"],
                        "additionalProperties": False,
                        "properties": {
                            "states": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["status", "at_s"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "status": {"enum": ["QUEUED", "PROCESSING", *FINAL_STATES]},
                                        "at_s": {"type": "number", "minimum": 0},
                                    },
                                },
                            },
                            "result": {
                                "type": "object",
                                "required": ["status", "json"],
                                "additionalProperties": False,
                                "properties": {
                                    "status": {"type": "integer"},
                                    "json": {"type": "object"},
                                },
                            },
                            "media": {"anyOf": [_SHA256, {"type": "null"}]},
                        },
                    },
                },
            },
        },
    },
}
_VALIDATOR = jsonschema_rs.Draft202012Validator(_SCHEMA)


class Cassette:
    """The exchanges by fingerprint, what was spent recording them, and their videos."""

    def __init__(self, folder: Path, exchanges: list[dict[str, Any]], spent_usd: float) -> None:
        self.folder = folder
        self.exchanges = exchanges
        self.by_fingerprint = {exchange["fingerprint"]: exchange for exchange in exchanges}
        self.spent_usd = spent_usd
        self._lock = threading.RLock()
        self._depth = 0  # how deep this thread is in `locked()`
        self._read_as: tuple[int, int, int] | None = None  # the index file last read

    @classmethod
    def open(cls, folder: str | Path, *, create: bool) -> Cassette:
        """Load and check a cassette; `create` starts an empty one where there is none."""
        folder = Path(folder)
        index = folder / INDEX
        if not os.path.lexists(index):
            if not create:
                raise ConfigError(f"no cassette at {folder} ({INDEX} is missing)")
            return cls(folder, [], 0.0)
        data, read_as = _read_index(index)
        cassette = cls(folder, data["exchanges"], float(data["spent_usd"]))
        cassette._read_as = read_as
        cassette._check_exchanges()
        return cassette

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The directory to this thread alone, across processes too (flock on `DIR/.lock`),
        with this object refreshed from the index on disk. Re-entrant within a thread."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                self._depth = 1
                self._merge_from_disk()
                yield
            finally:
                self._depth = 0
                os.close(descriptor)  # which releases the flock

    def refresh(self) -> None:
        """Take in what other processes recorded since this one last looked."""
        with self.locked():
            pass

    def get(self, key: str) -> dict[str, Any] | None:
        return self.by_fingerprint.get(key)

    def requests(self) -> list[dict[str, Any]]:
        return [exchange["request"] for exchange in self.exchanges]

    def add(self, exchange: dict[str, Any]) -> bool:
        """Keep a new exchange and save; False if the fingerprint was already recorded (here
        or by another process: the first recording wins)."""
        with self.locked():
            if exchange["fingerprint"] in self.by_fingerprint:
                return False
            self.exchanges.append(exchange)
            self.by_fingerprint[exchange["fingerprint"]] = exchange
            self._save()
            return True

    def add_spent(self, usd: Decimal) -> Decimal:
        """Add to what the directory has spent, and return the new total."""
        with self.locked():
            spent = balance_of(self.spent_usd) + usd
            self.spent_usd = as_json(spent)
            self._save()
            return spent

    def save(self) -> None:
        """Write the index (merged with the directory's), even with nothing new in it."""
        with self.locked():
            self._save()

    def put_media(self, data: bytes) -> str:
        """Store a video once by content hash; return the hash."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.media_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        return digest

    def media_path(self, digest: str) -> Path:
        return self.folder / MEDIA / f"{digest}.mp4"

    def media(self, digest: str) -> bytes:
        return read_regular_file(self.media_path(digest), MAX_MEDIA_BYTES)

    def _save(self) -> None:
        document = {"version": VERSION, "spent_usd": self.spent_usd, "exchanges": self.exchanges}
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        self._read_as = _identity(write_atomically(self.folder / INDEX, text.encode()))

    def _merge_from_disk(self) -> None:
        """Take the spending and the recordings other processes wrote (under the lock)."""
        index = self.folder / INDEX
        try:
            if _identity(os.stat(index)) == self._read_as:
                return
        except FileNotFoundError:
            return
        data, self._read_as = _read_index(index)
        self.spent_usd = float(data["spent_usd"])
        for exchange in data["exchanges"]:
            if exchange["fingerprint"] not in self.by_fingerprint:
                self._check_exchange(exchange, len(self.exchanges))
                self.exchanges.append(exchange)
                self.by_fingerprint[exchange["fingerprint"]] = exchange

    def _check_exchanges(self) -> None:
        seen: set[str] = set()
        for number, exchange in enumerate(self.exchanges):
            self._check_exchange(exchange, number)
            if exchange["fingerprint"] in seen:
                where = f"cassette {self.folder / INDEX}, exchange {number}"
                raise ConfigError(f"{where}: a second recording of the same call")
            seen.add(exchange["fingerprint"])

    def _check_exchange(self, exchange: dict[str, Any], number: int) -> None:
        where = f"cassette {self.folder / INDEX}, exchange {number}"
        request = exchange["request"]
        if fingerprint(request) != exchange["fingerprint"]:
            raise ConfigError(
                f"{where} ({request['method']} {request['path']}): its request was edited "
                "(the fingerprint does not match it); record it again"
            )
        response = exchange["response"]
        if len({"json", "text", "media"} & set(response)) > 1:
            raise ConfigError(f"{where}: a response has one body: json, text or media")
        _check_headers(response["headers"], where)
        try:
            datetime.fromisoformat(exchange["recorded_at"])
        except ValueError:
            raise ConfigError(f"{where}: recorded_at is not an ISO 8601 time") from None
        job = exchange.get("job")
        if job is not None:
            _check_job(job, where)
        for digest in (response.get("media"), job and job.get("media")):
            if digest:
                self._check_media(digest, where)

    def _check_media(self, digest: str, where: str) -> None:
        path = self.media_path(digest)
        try:
            data = read_regular_file(path, MAX_MEDIA_BYTES)
        except FileNotFoundError:
            raise ConfigError(f"{where}: the video {path} is missing") from None
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigError(f"{where}: the video {path} was altered (its SHA-256 differs)")


def read_regular_file(path: Path, limit: int) -> bytes:
    """A file's bytes, if it is a regular file (not a link, FIFO or device) of at most
    `limit` bytes; else ConfigError. FileNotFoundError when there is none."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        kind = "a symbolic link" if os.path.islink(path) else exc.strerror
        raise ConfigError(
            f"{path} cannot be read ({kind}): a cassette holds regular files"
        ) from None
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path} is not a regular file: a cassette holds regular files")
        if info.st_size > limit:
            raise ConfigError(f"{path} is {info.st_size} bytes, over the limit of {limit}")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{path} is over the limit of {limit} bytes")
    return data


def kept_headers(
    headers: httpx.Headers, record_credits: bool = False, secret: str = ""
) -> dict[str, str]:
    """The response headers a cassette keeps: never a key, the balance only when asked."""
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    for name, value in headers.items():
        name = name.lower()
        if name.startswith("x-") and name not in NEVER_KEPT and not name.startswith("x-mock-"):
            kept.setdefault(name, value)
    if secret:  # a header that echoes the caller's key is not kept
        kept = {name: value for name, value in kept.items() if secret not in value}
    kept = {name: value for name, value in kept.items() if _HEADER_VALUE.match(value)}
    if record_credits and BALANCE_HEADER in headers:
        kept[BALANCE_HEADER] = headers[BALANCE_HEADER]
    return kept


def recorded_response(
    cassette: Cassette,
    call: dict[str, Any],
    answer: httpx.Response,
    record_credits: bool = False,
    secret: str = "",
) -> dict[str, Any]:
    """A response as a cassette keeps it: status, kept headers, one body (a video by hash)."""
    response: dict[str, Any] = {
        "status": answer.status_code,
        "headers": kept_headers(answer.headers, record_credits, secret),
    }
    content_type = answer.headers.get("content-type", "")
    if content_type.startswith("video/"):
        response["media"] = cassette.put_media(answer.content)
    elif "json" in content_type:
        try:
            body = answer.json()
        except ValueError:
            response["text"] = answer.text
            return response
        hide = call["path"] == CREDITS_PATH and not record_credits
        if hide and isinstance(body, dict):
            body = {name: None for name in body}
        response["json"] = body
    elif answer.content:
        response["text"] = answer.text
    return response


def new_exchange(call: dict[str, Any], response: dict[str, Any], cost: float) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint(call),
        "request": call,
        "response": response,
        "cost_usd": cost,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _read_index(index: Path) -> tuple[Any, tuple[int, int, int]]:
    """The checked index, and which file it was (its identity changes with each save)."""
    try:
        raw = read_regular_file(index, MAX_INDEX_BYTES)
        data = json.loads(raw.decode("utf-8"))
        identity = _identity(os.stat(index))
    except ConfigError as exc:
        raise ConfigError(f"cassette {exc}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"cassette {index} cannot be read (truncated or hand-edited?): {exc}"
        ) from exc
    _check(data, index)
    return data, identity


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_ino, info.st_mtime_ns, info.st_size


def _check_headers(headers: dict[str, str], where: str) -> None:
    """Only headers a recorder keeps, each one safe to send: anything else is hand-made."""
    for name, value in headers.items():
        lowered = name.lower()
        kept = lowered in KEPT_HEADERS or (
            lowered.startswith("x-") and not lowered.startswith("x-mock-")
        )
        if not kept or not _HEADER_NAME.match(lowered):
            raise ConfigError(
                f"{where}: the header {name!r} is not one a cassette keeps (content-type and "
                "x- headers; the server sets framing headers such as content-length itself)"
            )
        if not _HEADER_VALUE.match(value):
            raise ConfigError(
                f"{where}: the header {name!r} has a control character (CR, LF, ...) in its value"
            )


def _check(data: Any, index: Path) -> None:
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise ConfigError(
            f"cassette {index} has format version {version}; this wan26-mock reads version "
            f"{VERSION}: upgrade wan26-mock to replay it"
        )
    errors = list(_VALIDATOR.iter_errors(data))
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.instance_path) or "the top level"
        raise ConfigError(f"cassette {index} is not a valid cassette: at {where}: {first.message}")


def _check_job(job: dict[str, Any], where: str) -> None:
    states = job["states"]
    last = states[-1]["status"]
    times = [state["at_s"] for state in states]
    if last not in FINAL_STATES or times != sorted(times):
        raise ConfigError(f"{where}: the job's states must end COMPLETED or FAILED, in order")
    if job["result"]["json"].get("status") != last:
        raise ConfigError(f"{where}: the job's result is not its last state ({last})")
    if (last == "COMPLETED") != bool(job.get("media")):
        raise ConfigError(f"{where}: a COMPLETED job has a video, a FAILED one none")


def write_atomically(path: Path, data: bytes) -> os.stat_result:
    """Write beside, then rename: a crash leaves the old file or the new, never half of one.
    Returns what was written, as the new file's status."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(data)
    written = os.stat(temporary)
    os.replace(temporary, path)
    return written


def is_submit_answer(answer: httpx.Response) -> bool:
    """A v2 submit's answer: JSON naming the job and its links, so a job to follow."""
    if answer.status_code != 200 or "json" not in answer.headers.get("content-type", ""):
        return False
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and all(
        isinstance(body.get(name), str) for name in ("request_id", "status_url", "response_url")
    )
