"""A cassette on disk: `cassette.json` (one diffable index) and `media/<sha256>.mp4`.

Everything in it is checked when it is opened, so a truncated or hand-edited
index, a missing or altered video or a format from a newer version is a clear
error at start-up rather than a wrong answer later.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs

from wan26.contracts.core.errors import ConfigError
from wan26.contracts.core.matching import AUTH_CLASSES, fingerprint

VERSION = 1
INDEX = "cassette.json"
MEDIA = "media"
FINAL_STATES = ("COMPLETED", "FAILED")
CREDITS_PATH = "/v1/get-user-credits"
# Answers kept in a cassette: successes and the errors that depend only on the call.
# 429 and 5xx are passing conditions; replaying them forever would be wrong.
RECORDED_STATUSES = frozenset({200, 400, 401, 403, 404, 405, 406, 413, 422})
KEPT_HEADERS = ("content-type", "x-cost", "x-generation-time", "x-seed-value", "x-output-metadata")
BALANCE_HEADER = "x-remaining-credits"
# Besides KEPT_HEADERS, every other `x-` header is kept (the real service's extras, which a
# replaying emulator learns), except these: per-call ids, the balance, the emulator's own.
NEVER_KEPT = frozenset({"x-request-id", "x-api-key", BALANCE_HEADER})

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
        self._lock = threading.Lock()

    @classmethod
    def open(cls, folder: str | Path, *, create: bool) -> Cassette:
        """Load and check a cassette; `create` starts an empty one where there is none."""
        folder = Path(folder)
        index = folder / INDEX
        if not index.exists():
            if not create:
                raise ConfigError(f"no cassette at {folder} ({INDEX} is missing)")
            return cls(folder, [], 0.0)
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(
                f"cassette {index} cannot be read (truncated or hand-edited?): {exc}"
            ) from exc
        _check(data, index)
        cassette = cls(folder, data["exchanges"], float(data["spent_usd"]))
        cassette._check_exchanges()
        return cassette

    def get(self, key: str) -> dict[str, Any] | None:
        return self.by_fingerprint.get(key)

    def requests(self) -> list[dict[str, Any]]:
        return [exchange["request"] for exchange in self.exchanges]

    def add(self, exchange: dict[str, Any]) -> None:
        """Keep a new exchange (the first recording of a fingerprint wins) and save."""
        with self._lock:
            if exchange["fingerprint"] in self.by_fingerprint:
                return
            self.exchanges.append(exchange)
            self.by_fingerprint[exchange["fingerprint"]] = exchange
            self._save()

    def set_spent(self, spent_usd: float) -> None:
        with self._lock:
            self.spent_usd = spent_usd
            self._save()

    def put_media(self, data: bytes) -> str:
        """Store a video once by content hash; return the hash."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.media_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data)
        return digest

    def media_path(self, digest: str) -> Path:
        return self.folder / MEDIA / f"{digest}.mp4"

    def media(self, digest: str) -> bytes:
        return self.media_path(digest).read_bytes()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        document = {"version": VERSION, "spent_usd": self.spent_usd, "exchanges": self.exchanges}
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        _write_atomically(self.folder / INDEX, text.encode())

    def _check_exchanges(self) -> None:
        seen: set[str] = set()
        for number, exchange in enumerate(self.exchanges):
            where = f"cassette {self.folder / INDEX}, exchange {number}"
            request = exchange["request"]
            if fingerprint(request) != exchange["fingerprint"]:
                raise ConfigError(
                    f"{where} ({request['method']} {request['path']}): its request was edited "
                    "(the fingerprint does not match it); record it again"
                )
            if exchange["fingerprint"] in seen:
                raise ConfigError(f"{where}: a second recording of the same call")
            seen.add(exchange["fingerprint"])
            response = exchange["response"]
            if len({"json", "text", "media"} & set(response)) > 1:
                raise ConfigError(f"{where}: a response has one body: json, text or media")
            job = exchange.get("job")
            if job is not None:
                _check_job(job, where)
            for digest in (response.get("media"), job and job.get("media")):
                if digest:
                    self._check_media(digest, where)

    def _check_media(self, digest: str, where: str) -> None:
        path = self.media_path(digest)
        try:
            data = path.read_bytes()
        except OSError:
            raise ConfigError(f"{where}: the video {path} is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigError(f"{where}: the video {path} was altered (its SHA-256 differs)")


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


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside, then rename: a crash leaves the old file or the new, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


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
