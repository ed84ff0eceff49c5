"""Finished jobs' MP4s for the memory backend: files of this process (see store/outputs.py)."""

from __future__ import annotations

from pathlib import Path

from wan26.mockserver.store.outputs import OutputStore


class MemoryOutputs:
    def __init__(self, max_bytes: int) -> None:
        self.files = OutputStore(max_bytes)

    async def put(self, data: bytes) -> str:
        return self.files.put(data)

    async def path(self, name: str) -> Path | None:
        return self.files.path(name)
