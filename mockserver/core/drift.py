"""Drift profiles: the emulator misbehaving on purpose, one class of drift at a time.

They prove that the contract harness catches each kind of change the real
API could make. Rule changes (enums) edit a copy of the contract the emulator
loads; answer changes rewrite responses in an ASGI middleware; video changes
alter the render.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from wan26.contracts.core.spec import Contract


@dataclass
class DriftConfig:
    error_field: str | None = None  # JSON errors say {"<this>": ...} instead of {"error": ...}
    status_map: dict[int, int] = field(default_factory=dict)  # e.g. {400: 422}
    add_enum: dict[str, list[Any]] = field(default_factory=dict)  # e.g. {duration: [8]}
    drop_enum: dict[str, list[Any]] = field(default_factory=dict)  # e.g. {duration: [15]}
    drop_headers: list[str] = field(default_factory=list)  # e.g. [x-cost]
    json_output: bool = False  # v1 answers {"output": "<url>"} instead of the MP4
    failed_status: int | None = None  # FAILED jobs served with this instead of 422
    video_seconds_short: int = 0  # videos this much shorter than asked
    video_size: list[int] | None = None  # [width, height] whatever was asked

    @property
    def rewrites_answers(self) -> bool:
        return bool(
            self.error_field
            or self.status_map
            or self.drop_headers
            or self.json_output
            or self.failed_status
        )


def drifted_contract(contract: Contract, drift: DriftConfig) -> Contract:
    """The contract with the profile's enum changes, for the emulator to validate against."""
    if not drift.add_enum and not drift.drop_enum:
        return contract
    document = copy.deepcopy(contract.document)
    properties = document["components"]["schemas"]["Wan26I2VRequest"]["properties"]
    for name, values in drift.add_enum.items():
        properties[name]["enum"] = [*properties[name]["enum"], *values]
    for name, values in drift.drop_enum.items():
        properties[name]["enum"] = [v for v in properties[name]["enum"] if v not in values]
    return Contract(document)
