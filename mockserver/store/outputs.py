"""Rendered MP4s served by URL: content-addressed files in a temporary folder, size-capped."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path


class OutputStore:
    """Files on disk rather than bytes in memory: the RSS stays flat however many jobs finish,
    and Starlette's FileResponse serves them with Range support."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.folder = Path(tempfile.mkdtemp(prefix="wan26-outputs-"))
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._total = 0

    def put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ".mp4"
        if name in self._sizes:
            self._sizes.move_to_end(name)
            return name
        (self.folder / name).write_bytes(data)
        self._sizes[name] = len(data)
        self._total += len(data)
        while self._total > self.max_bytes and len(self._sizes) > 1:
            oldest, size = self._sizes.popitem(last=False)
            (self.folder / oldest).unlink(missing_ok=True)
            self._total -= size
        return name

    def path(self, name: str) -> Path | None:
        return self.folder / name if name in self._sizes else None

    def clear(self) -> None:
        for name in self._sizes:
            (self.folder / name).unlink(missing_ok=True)
        self._sizes.clear()
        self._total = 0

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
