"""Rendered MP4s served by URL: content-addressed files in a temporary folder, size-capped."""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
import uuid
from collections import OrderedDict
from pathlib import Path


class OutputStore:
    """Files on disk rather than bytes in memory: the RSS stays flat however many jobs finish,
    and Starlette's FileResponse serves them with Range support.

    Every store of the process keeps its files in one folder, each under a prefix of its
    own: a test suite makes a store per test, and a folder made and removed each time
    costs more than the test."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.folder = _process_folder()
        self._prefix = uuid.uuid4().hex[:16]
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._total = 0

    def _file(self, name: str) -> Path:
        return self.folder / f"{self._prefix}-{name}"

    def put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ".mp4"
        if name in self._sizes:
            self._sizes.move_to_end(name)
            return name
        self._file(name).write_bytes(data)
        self._sizes[name] = len(data)
        self._total += len(data)
        while self._total > self.max_bytes and len(self._sizes) > 1:
            oldest, size = self._sizes.popitem(last=False)
            self._file(oldest).unlink(missing_ok=True)
            self._total -= size
        return name

    def path(self, name: str) -> Path | None:
        return self._file(name) if name in self._sizes else None

    def clear(self) -> None:
        for name in self._sizes:
            self._file(name).unlink(missing_ok=True)
        self._sizes.clear()
        self._total = 0

    def close(self) -> None:
        self.clear()


@functools.cache
def _process_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="wan26-outputs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
