"""How long a generation takes: a seeded lognormal around the documented run time."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from wan26.mockserver.config import LatencyConfig
from wan26.mockserver.core.records import RunTime as RunTime


@dataclass(frozen=True)
class RunTimeFit:
    """A lognormal fitted to recorded run times: its median and sigma, from `count` runs."""

    median_s: float
    sigma: float
    count: int


RunTimes = dict[tuple[float, str], RunTimeFit]


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
        # Fitted to a recording's run times (learning.py); unused when the config sets a median.
        self.learned: RunTimes = {}

    def _fit(self, duration_s: float, resolution: str) -> RunTimeFit | None:
        if self.config.median_s is not None:
            return None
        return self.learned.get((float(duration_s), resolution))

    def median_for(self, duration_s: float, resolution: str) -> float:
        """The run time scales with the seconds of video and the resolution tier's cost,
        unless a recording has enough runs of this duration and resolution."""
        fit = self._fit(duration_s, resolution)
        if fit is not None:
            return fit.median_s
        factor = self.config.resolution_factor.get(resolution, 1.0)
        return self.median_s * duration_s / self.config.reference_duration_s * factor

    def draw(self, duration_s: float, resolution: str) -> RunTime:
        median = self.median_for(duration_s, resolution)
        low, high = self.config.clamp
        fit = self._fit(duration_s, resolution)
        sigma = fit.sigma if fit is not None else self.config.sigma
        multiple = math.exp(self._rng.gauss(0.0, sigma))
        emulated = round(median * min(max(multiple, low), high), 2)
        return RunTime(emulated_s=emulated, wall_s=emulated * self.time_scale)

    def scaled(self, emulated_s: float) -> float:
        return emulated_s * self.time_scale

    def over_gateway_timeout(self, run: RunTime) -> bool:
        return run.emulated_s > self.config.gateway_timeout_s
