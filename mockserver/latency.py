"""How long a generation takes: a seeded lognormal around the documented run time."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from wan26.mockserver.config import LatencyConfig


@dataclass(frozen=True)
class RunTime:
    emulated_s: float  # what the real service would take; reported in x-generation-time
    wall_s: float  # what the emulator waits: emulated_s x time scale


class LatencyModel:
    def __init__(
        self,
        config: LatencyConfig,
        documented_median_s: float,
        time_scale: float,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.median_s = config.median_s if config.median_s is not None else documented_median_s
        self.time_scale = time_scale
        self._rng = rng

    def median_for(self, duration_s: float, resolution: str) -> float:
        """The run time scales with the seconds of video and the resolution tier's cost."""
        factor = self.config.resolution_factor.get(resolution, 1.0)
        return self.median_s * duration_s / self.config.reference_duration_s * factor

    def draw(self, duration_s: float, resolution: str) -> RunTime:
        median = self.median_for(duration_s, resolution)
        low, high = self.config.clamp
        multiple = math.exp(self._rng.gauss(0.0, self.config.sigma))
        emulated = round(median * min(max(multiple, low), high), 2)
        return RunTime(emulated_s=emulated, wall_s=emulated * self.time_scale)

    def scaled(self, emulated_s: float) -> float:
        return emulated_s * self.time_scale

    def over_gateway_timeout(self, run: RunTime) -> bool:
        return run.emulated_s > self.config.gateway_timeout_s
