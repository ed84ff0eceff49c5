"""Import paths of 0.1.0 that moved in 0.2.0, kept for one version: each use warns and
forwards to the new home."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib import import_module
from typing import Any


def forward(old: str, new: str) -> Callable[[str], Any]:
    """A module `__getattr__` for `old` that finds every name in `new`."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(
            f"{old} moved to {new} in 0.2.0; the old path goes in 0.3.0",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(import_module(new), name)

    return __getattr__
