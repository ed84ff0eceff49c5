"""Finished jobs' MP4s in the state directory: plain files, so every process on the host
serves what any of them made."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from wan26.mockserver.store.sqlite.db import Database

OUTPUT_NAME = re.compile(r"[0-9a-f]{32}\.mp4")  # what `put` makes, and nothing else


class SqliteOutputs:
    def __init__(self, db: Database, folder: Path, max_bytes: int) -> None:
        self._db = db  # names what failed: a folder that cannot be written is unavailable
        self.folder = folder
        self.max_bytes = max_bytes
        try:
            folder.mkdir(exist_ok=True)
        except OSError as error:
            raise db.unavailable(error) from error

    async def put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ".mp4"
        try:
            try:
                os.utime(self.folder / name)  # kept already; now the last to be evicted
                return name
            except FileNotFoundError:
                pass
            # Written aside and renamed in: another process never serves half a file.
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                os.replace(temp, self.folder / name)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            self._evict(keep=name)
        except OSError as error:
            raise self._db.unavailable(error) from error
        return name

    def _evict(self, keep: str) -> None:
        """The oldest go until the folder fits, but never the one just kept."""
        files = []
        for name in self._names():
            try:
                status = (self.folder / name).stat()
            except FileNotFoundError:  # evicted meanwhile by another process
                continue
            files.append((status.st_mtime_ns, name, status.st_size))
        total = sum(size for _, _, size in files)
        for _, name, size in sorted(files):
            if total <= self.max_bytes:
                break
            if name != keep:
                (self.folder / name).unlink(missing_ok=True)
                total -= size

    def _names(self) -> list[str]:
        return [name for name in os.listdir(self.folder) if OUTPUT_NAME.fullmatch(name)]

    async def path(self, name: str) -> Path | None:
        if not OUTPUT_NAME.fullmatch(name):
            return None
        path = self.folder / name
        return path if path.is_file() else None

    def clear(self) -> None:
        """Every video (a reset)."""
        try:
            for name in self._names():
                (self.folder / name).unlink(missing_ok=True)
        except OSError as error:
            raise self._db.unavailable(error) from error
