"""Static types of the request parameters.

Type checkers need literal values; the values themselves come from the
contract, and `tests/test_client_params.py` fails if they drift apart.
Validation at run time reads the contract directly.
"""

from __future__ import annotations

import os
from typing import Literal, TypedDict

Duration = Literal[5, 10, 15]
Resolution = Literal["720p", "1080p"]
JobStatus = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]

# A URL or data URI (str), a local file (path), or the file's bytes.
MediaInput = str | os.PathLike[str] | bytes


class GenerationParams(TypedDict, total=False):
    """Every parameter of the model but the two required ones (`image`, `prompt`)."""

    audio: MediaInput | None
    duration: Duration
    resolution: Resolution
    multi_shots: bool
    negative_prompt: str
    enable_prompt_expansion: bool
    seed: int | None
