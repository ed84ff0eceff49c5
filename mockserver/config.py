"""Emulator settings: defaults, then a YAML file, then environment variables, then CLI flags."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import yaml

# Re-exported: both were defined here before the light core took them.
from wan26.contracts.core.access import DEFAULT_API_KEY as DEFAULT_API_KEY
from wan26.contracts.core.access import Place
from wan26.contracts.core.errors import ConfigError as ConfigError
from wan26.mockserver.core.drift import DriftConfig


class _Dataclass(Protocol):
    """Any dataclass (what typeshed calls DataclassInstance)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


_Settings = TypeVar("_Settings", bound=_Dataclass)

# Emulated run times multiplied by more than this would hold a call for days.
MAX_TIME_SCALE = 100.0
UNLIMITED = "unlimited"
MIN_JOURNAL_ENTRY_BYTES = 4096


@dataclass
class KeyConfig:
    key: str  # the value clients send in x-api-key
    credits: float = 1_000_000.0  # the balance in USD
    free_credits: float = 0.0  # spent before credits [guess]
    # A plan name from the contract's `x-plans` ("free", "pro"), a number of
    # requests per minute, or "unlimited".
    plan: str | int = UNLIMITED
    models: list[str] = field(default_factory=lambda: ["*"])  # slugs it may call; "*" is all


@dataclass
class LatencyConfig:
    """A lognormal run time; the median defaults to the contract's documented average."""

    median_s: float | None = None  # of a 5 s 720p run; null: the contract's 139.37 s
    sigma: float = 0.12  # the lognormal spread
    # Draws are kept within these multiples of the median, so the tail never
    # crosses the gateway timeout by accident. [guess]
    clamp: tuple[float, float] = (0.7, 1.5)
    reference_duration_s: float = 5.0  # the median scales linearly with the video's seconds
    # The median's multiple by resolution tier. [guess]
    resolution_factor: dict[str, float] = field(default_factory=lambda: {"720p": 1.0, "1080p": 1.5})
    # v1 is synchronous: a run longer than this answers 504. [guess]
    gateway_timeout_s: float = 1200.0


@dataclass
class MediaConfig:
    # "lenient": an unreachable URL gets a deterministic stand-in (works offline);
    # "strict": it gets the real service's 400.
    mode: Literal["lenient", "strict"] = "lenient"
    # Never fetch a URL: every one counts as unreachable (air-gapped CI, no outbound traffic).
    offline: bool = False
    fetch_timeout_s: float = 10.0  # seconds for a media URL's whole fetch
    # Loopback, private and link-local hosts are refused unless this is set
    # (local test fixtures need it).
    allow_private_addresses: bool = False
    # Encoded segments kept (shared by the process's apps); each app keeps rendered videos
    # for repeats in a quarter of it.
    cache_bytes: int = 512 * 1024 * 1024
    render_threads: int = 2  # threads for decoding and assembling
    # Worker processes that encode video segments; null: one per core; 0: threads of
    # the emulator's own process (for programs that cannot start processes).
    render_processes: int | None = None

    @property
    def encoding_processes(self) -> int:
        return os.cpu_count() or 1 if self.render_processes is None else self.render_processes


@dataclass
class QueueConfig:
    """The v2 queue."""

    workers: int = 4  # emulated GPU workers; jobs beyond them wait in QUEUED [guess]
    # Results are kept 1 hour after submission [doc], scaled by the time scale,
    # but never less than the floor, so a scaled-down run can still read them.
    result_ttl_s: float = 3600.0
    result_ttl_floor_s: float = 300.0  # the least a result is kept, whatever the time scale
    output_store_bytes: int = 1024 * 1024 * 1024  # MP4s on disk; the oldest go first

    def ttl(self, time_scale: float) -> float:
        return max(self.result_ttl_s * time_scale, self.result_ttl_floor_s)


@dataclass
class ControlConfig:
    """The `/_mock` control plane."""

    enabled: bool = True  # the /_mock routes and the dashboard
    # With a token, every control request needs `X-Mock-Token: <token>`; without
    # one, only loopback clients may use it.
    token: str | None = None
    journal_size: int = 10_000  # requests kept in the journal; the oldest go first
    # Besides loopback names, the Hosts a control request may name (`host`, `host:port`
    # or `scheme://host:port`, which is also an origin the dashboard may be opened from):
    # a container's service name, e.g. `http://wan26:8000`. Any other is refused, so a web
    # page cannot reach `/_mock` through a DNS name of its own (DNS rebinding).
    allowed_hosts: list[str] = field(default_factory=list)
    # What one journal entry keeps at most (headers, path, query, body, error): past it,
    # each part is cut and marked `truncated`, so the journal holds at most
    # journal_size x journal_entry_bytes.
    journal_entry_bytes: int = 16 * 1024

    def __post_init__(self) -> None:
        if self.journal_entry_bytes < MIN_JOURNAL_ENTRY_BYTES:
            raise ConfigError(f"control.journal_entry_bytes must be >= {MIN_JOURNAL_ENTRY_BYTES}")
        for entry in self.allowed_hosts:
            try:
                Place.parse(entry)
            except ValueError as exc:
                raise ConfigError(f"control.allowed_hosts: {exc}") from None


@dataclass
class ReportConfig:
    """The integration report (`GET /_mock/report`, see mockserver/report.py)."""

    # The same paid body sent again by a key within this time is a duplicate.
    duplicate_window_s: float = 600.0
    # A job polled at least `over_polling_min_polls` times with a mean gap (wall clock)
    # under this is over-polled; the official SDK waits 1 s between polls.
    over_polling_mean_gap_s: float = 0.5
    over_polling_min_polls: int = 5  # fewer polls than this are never over-polling
    # Whether a call its client abandoned counts as billed: the real service keeps
    # running it, and whether it bills is not documented. [guess]
    abandoned_billed: bool = True

    def __post_init__(self) -> None:
        if not self.duplicate_window_s >= 0 or not self.over_polling_mean_gap_s >= 0:
            raise ConfigError("report.duplicate_window_s and over_polling_mean_gap_s must be >= 0")
        if self.over_polling_min_polls < 2:
            raise ConfigError("report.over_polling_min_polls must be at least 2")


CASSETTE_MODES = ("off", "record", "replay", "passthrough")


@dataclass
class CassetteConfig:
    """Record, replay or pass through to the real service (see mockserver/cassette_front.py)."""

    mode: str = "off"  # off, record, replay or passthrough
    dir: str | None = None  # the cassette folder (record and replay)
    upstream: str = "https://api.segmind.com"  # where record and passthrough forward
    # Record: the most the cassette may spend, over all its sessions (default 0: free
    # calls only). Passthrough: a cap for this run (default none).
    max_spend_usd: float | None = None
    on_miss: str = "emulate"  # replay: emulate an unrecorded call, or "error" (a 404)
    record_credits: bool = False  # keep balances (x-remaining-credits, the credits body)
    poll_interval_s: float = 2.0  # how often the recorder polls an upstream v2 job

    def __post_init__(self) -> None:
        if self.mode in (False, "False"):  # YAML 1.1 reads a bare `off` as false
            self.mode = "off"
        if self.mode not in CASSETTE_MODES:
            raise ConfigError(f"cassette.mode must be one of {', '.join(CASSETTE_MODES)}")
        if self.mode in ("record", "replay") and not self.dir:
            raise ConfigError(f"cassette.mode {self.mode} needs cassette.dir")
        if self.on_miss not in ("emulate", "error"):
            raise ConfigError("cassette.on_miss must be 'emulate' or 'error'")
        if not str(self.upstream).startswith(("http://", "https://")):
            raise ConfigError(f"cassette.upstream must be an http(s) URL, got {self.upstream!r}")
        if self.max_spend_usd is not None and not self.max_spend_usd >= 0:
            raise ConfigError("cassette.max_spend_usd must be >= 0")
        if not self.poll_interval_s > 0:
            raise ConfigError("cassette.poll_interval_s must be > 0")


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass
class Config:
    keys: list[KeyConfig] = field(default_factory=list)
    time_scale: float = 1.0  # multiplies emulated run times: 1 real time, 0 at once, at most 100
    seed: int | None = None  # seeds run times, random seeds and request ids; null: random
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    # Misbehaving on purpose, to prove drift detection (see mockserver/drift.py).
    drift: DriftConfig = field(default_factory=DriftConfig)
    # USD per second of video by resolution; empty means the contract's `x-pricing`.
    pricing_per_second: dict[str, float] = field(default_factory=dict)
    rate_limit_window_s: float = 60.0  # counted per key from its first request [guess]
    # Larger bodies are a 413 and are not read: enough for a 10 MB image and 15 MB of
    # audio as base64 data URIs. [guess]
    max_body_bytes: int = 40 * 1024 * 1024
    # A request line and headers longer than this are a 431 and the connection is closed;
    # they are counted as they arrive, never held whole.
    max_header_bytes: int = 64 * 1024
    # Slow or stalled clients: a request's headers must arrive within this time...
    request_header_timeout_s: float = 20.0
    # ...its body must make progress at least this often...
    request_body_timeout_s: float = 30.0
    # ...and arrive whole within this time; otherwise a 408 and the connection is closed.
    request_body_total_timeout_s: float = 180.0
    # On SIGTERM in-flight v1 calls answer a 503 at once; whatever is still running after
    # this long (a slow download) is cut off.
    shutdown_timeout_s: float = 5.0
    # Overrides of the error catalogue's messages, by failure name.
    messages: dict[str, str] = field(default_factory=dict)
    # A recording of the live API (wan26-contracts run --live --record FILE): its error
    # messages replace the catalogue's; `messages` still wins.
    recording: str | None = None
    cassette: CassetteConfig = field(default_factory=CassetteConfig)
    # Where state lives (see mockserver/store): in memory unless one of these is set. A
    # state directory (SQLite and files) survives restarts and is shared by the processes
    # of one host; Redis is shared by every process and host pointed at it.
    state_dir: str | None = None
    redis_url: str | None = None  # redis://, rediss:// or unix:// URL
    # Every Redis key starts with this: emulators that must not share state can share a Redis.
    redis_prefix: str = "wan26:"
    # With Redis: a folder every process can read (shared disk) for the output MP4s;
    # unset, they are kept in Redis with the job's expiry.
    outputs_dir: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.time_scale <= MAX_TIME_SCALE:
            raise ConfigError(f"time_scale must be from 0 to {MAX_TIME_SCALE}")
        if self.state_dir and self.redis_url:
            raise ConfigError("state_dir and redis_url are two backends: choose one")
        if self.redis_url and not self.redis_url.startswith(REDIS_SCHEMES):
            raise ConfigError(
                f"redis_url must start with {', '.join(REDIS_SCHEMES)} "
                "(e.g. redis://127.0.0.1:6379/0)"
            )
        if self.media.mode not in ("lenient", "strict"):
            raise ConfigError("media.mode must be 'lenient' or 'strict'")
        for name in (
            "request_header_timeout_s",
            "request_body_timeout_s",
            "request_body_total_timeout_s",
            "shutdown_timeout_s",
            "max_header_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Config:
        return _build(cls, data, "config")

    @property
    def shared_state(self) -> bool:
        """Whether several processes can serve one emulator (`--workers N` needs it)."""
        return bool(self.state_dir or self.redis_url)

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed (the others, e.g. the plugin's, kept)."""
        return dataclasses.replace(self, **changes)

    def with_default_key(self, env: Mapping[str, str]) -> Config:
        """Ensure one key works out of the box: `SEGMIND_API_KEY` if set, else the fixed one."""
        if self.keys:
            return self
        key = env.get("SEGMIND_API_KEY") or DEFAULT_API_KEY
        return dataclasses.replace(self, keys=[KeyConfig(key=key)])


def key_from_mapping(data: Mapping[str, Any]) -> KeyConfig:
    return _build(KeyConfig, data, "key")


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (if any) and apply `WAN26_MOCK_*` environment variables."""
    env = os.environ if env is None else env
    path = path or env.get("WAN26_MOCK_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping")
        data = loaded or {}
    data = _apply_env(data, env)
    return Config.from_mapping(data).with_default_key(env)


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    data = {**data, "media": dict(data.get("media") or {})}
    if "WAN26_MOCK_TIME_SCALE" in env:
        data["time_scale"] = env["WAN26_MOCK_TIME_SCALE"]
    if "WAN26_MOCK_SEED" in env:
        data["seed"] = env["WAN26_MOCK_SEED"]
    if "WAN26_MOCK_MEDIA_MODE" in env:
        data["media"]["mode"] = env["WAN26_MOCK_MEDIA_MODE"]
    if "WAN26_MOCK_OFFLINE" in env:
        data["media"]["offline"] = env["WAN26_MOCK_OFFLINE"]
    if "WAN26_MOCK_ALLOW_PRIVATE_ADDRESSES" in env:
        data["media"]["allow_private_addresses"] = env["WAN26_MOCK_ALLOW_PRIVATE_ADDRESSES"]
    for name in ("state_dir", "redis_url"):
        if f"WAN26_MOCK_{name.upper()}" in env:
            data[name] = env[f"WAN26_MOCK_{name.upper()}"]
    control = dict(data.get("control") or {})
    if "WAN26_MOCK_CONTROL_TOKEN" in env:
        control["token"] = env["WAN26_MOCK_CONTROL_TOKEN"]
    if "WAN26_MOCK_CONTROL_ALLOWED_HOSTS" in env:
        control["allowed_hosts"] = env["WAN26_MOCK_CONTROL_ALLOWED_HOSTS"].replace(",", " ").split()
    if control:
        data["control"] = control
    return data


def _build(cls: type[_Settings], data: Any, where: str) -> _Settings:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


# Environment variables can only say "nothing" as text.
_NOTHING = (None, "", "none", "null")
# A union's members are tried in this order: "50" is the plan of 50 calls a minute.
_UNION_ORDER = (bool, int, float)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Turn YAML or environment values into the field's type, read from its type hint.

    A type this function does not know is a programming error, so it fails loudly
    rather than letting an unconverted value through."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    try:
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return _build(hint, value, where)
        if origin in (types.UnionType, typing.Union):
            return _coerce_union(args, value, where)
        if origin is typing.Literal:
            if value not in args:
                raise ValueError(f"must be one of {', '.join(map(str, args))}")
            return value
        if origin is list:
            if not isinstance(value, list):
                raise ValueError("must be a list")
            return [_coerce(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
        if origin is tuple:
            if len(value) != len(args):
                raise ValueError(f"must have {len(args)} items")
            return tuple(_coerce(arg, item, where) for arg, item in zip(args, value, strict=True))
        if origin is dict:
            if not isinstance(value, Mapping):
                raise ValueError("must be a mapping")
            key_type, value_type = args
            return {
                _coerce(key_type, k, where): _coerce(value_type, v, f"{where}.{k}")
                for k, v in value.items()
            }
        if hint is Any:
            return value
        if hint is bool:
            return _boolean(value)
        if hint in (int, float):
            if isinstance(value, bool):
                raise ValueError("expected a number, not a boolean")
            return hint(value)
        if hint is str:
            return str(value)
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: invalid value {value!r} ({exc})") from exc
    raise TypeError(f"config field {where} has a type the config cannot read: {hint!r}")


def _coerce_union(members: tuple[Any, ...], value: Any, where: str) -> Any:
    if type(None) in members and value in _NOTHING:
        return None
    candidates = [member for member in members if member is not type(None)]
    ordered = sorted(
        candidates,
        key=lambda m: _UNION_ORDER.index(m) if m in _UNION_ORDER else len(_UNION_ORDER),
    )
    for member in ordered:
        try:
            return _coerce(member, value, where)
        except ConfigError:
            continue
    raise ConfigError(f"{where}: invalid value {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected a boolean")
