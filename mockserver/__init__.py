"""A high-fidelity emulator of Segmind's Wan 2.6 Image To Video API.

Attributes load on first use: the pytest plugin (loaded by every pytest run, also where
only the light client is installed) imports this package, and must stay light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from wan26.mockserver.http.app import create_app, running

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
    "create_app": "wan26.mockserver.http.app",
    "running": "wan26.mockserver.http.app",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'wan26.mockserver' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
