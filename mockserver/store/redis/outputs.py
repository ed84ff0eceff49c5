"""Finished jobs' MP4s for the Redis backend: in a shared outputs folder, or in Redis
itself (expiring) and copied to a local cache folder to be served."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from wan26.mockserver.store.base import StoreUnavailable
from wan26.mockserver.store.redis.link import Link, Part, reaching

OUTPUT_NAME = re.compile(r"[0-9a-f]{32}\.mp4")


def check_writable(folder: Path) -> None:
    """A shared outputs folder that is missing or read-only would fail every finished job:
    refused when the store is made, in one line."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or " ".join(str(error).split())
        raise StoreUnavailable(
            f"outputs folder {folder} is not a writable folder: {reason}"
        ) from error


def write_atomically(path: Path, data: bytes) -> None:
    """Another process may read the file any time: it sees all of it or nothing."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RedisOutputs(Part):
    def __init__(self, link: Link, outputs_dir: Path | None, ttl_s: float) -> None:
        super().__init__(link)
        self.outputs_dir = outputs_dir
        self.output_ttl_ms = max(1, int(ttl_s * 1000))
        # Videos kept in Redis are copied here for FileResponse (files in a shared outputs_dir
        # are served where they are). Made on the first fetch, so a store that never serves
        # one (a start that failed, a process that exits without closing) leaves no folder.
        self._cache: Path | None = None

    @reaching
    async def put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ".mp4"
        if self.outputs_dir is None:
            await self.link.redis.set(self.link.key("output", name), data, px=self.output_ttl_ms)
        elif not (self.outputs_dir / name).exists():
            write_atomically(self.outputs_dir / name, data)
        return name

    @reaching
    async def path(self, name: str) -> Path | None:
        if not OUTPUT_NAME.fullmatch(name):
            return None
        if self.outputs_dir is not None:
            path = self.outputs_dir / name
            return path if path.is_file() else None
        if self._cache is None:
            self._cache = Path(tempfile.mkdtemp(prefix="wan26-redis-"))
        cached, key = self._cache / name, self.link.key("output", name)
        if not await self.link.redis.exists(key):
            cached.unlink(missing_ok=True)  # expired or reset: the copy goes too
            return None
        if not cached.exists():
            data = await self.link.redis.get(key)
            if not isinstance(data, bytes):  # expired since
                return None
            write_atomically(cached, data)
        return cached

    def clear(self) -> None:
        """The videos of a shared outputs folder (a reset; those in Redis go with its keys)."""
        if self.outputs_dir is not None:
            for path in self.outputs_dir.iterdir():
                if OUTPUT_NAME.fullmatch(path.name):
                    path.unlink(missing_ok=True)

    def close(self) -> None:
        """The local copies go (the videos themselves stay in Redis for other processes)."""
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)
