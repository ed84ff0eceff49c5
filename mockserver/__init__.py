"""A high-fidelity emulator of Segmind's Wan 2.6 Image To Video API.

Attributes load on first use, so `mockserver.contract` and
`mockserver.validation` stay light for the client, which shares them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wan26.mockserver.app import create_app, running
    from wan26.mockserver.config import (
        DEFAULT_API_KEY,
        Config,
        ControlConfig,
        KeyConfig,
        LatencyConfig,
        MediaConfig,
        QueueConfig,
        load_config,
    )

__all__ = [
    "DEFAULT_API_KEY",
    "Config",
    "ControlConfig",
    "KeyConfig",
    "LatencyConfig",
    "MediaConfig",
    "QueueConfig",
    "create_app",
    "load_config",
    "running",
]
_HOMES = {name: "wan26.mockserver.config" for name in __all__} | {
    "create_app": "wan26.mockserver.app",
    "running": "wan26.mockserver.app",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'wan26.mockserver' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
