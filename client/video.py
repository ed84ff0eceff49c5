"""What a generation gives back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(repr=False)
class Video:
    """The MP4 and what the API said about it. Large outputs can live in `path` instead."""

    content_type: str
    request_id: str | None
    cost: float | None  # USD
    remaining_credits: float | None
    seed: int | None
    generation_time_s: float | None
    content: bytes | None = None
    path: Path | None = None

    def __repr__(self) -> str:
        """What it is and where it lives; the size of the bytes, never the bytes."""
        where = f"{len(self.content):,} bytes" if self.content is not None else f"at {self.path}"
        return (
            f"Video(request_id={self.request_id!r}, {self.content_type}, {where}, "
            f"cost={self.cost!r}, seed={self.seed!r}, generation_time_s={self.generation_time_s!r})"
        )

    @property
    def data(self) -> bytes:
        if self.content is not None:
            return self.content
        assert self.path is not None
        return self.path.read_bytes()

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_bytes(self.data)
        return target


@dataclass(frozen=True)
class Credits:
    credits: float
    free_credits: float

    @property
    def balance(self) -> float:
        return self.credits + self.free_credits


def number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
