"""The default backend: everything in this process's memory, nothing on disk; one object
per concern, as every backend is split."""

from wan26.mockserver.store.memory.store import MemoryStore as MemoryStore
