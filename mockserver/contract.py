"""Moved to `wan26.contracts.core.spec` in 0.2.0;
this path goes in 0.3.0."""

from wan26.mockserver._moved import forward

__getattr__ = forward(__name__, "wan26.contracts.core.spec")
