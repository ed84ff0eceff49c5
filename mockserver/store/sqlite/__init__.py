"""The state-directory backend (SQLite), one object per concern, as every backend is split."""

from wan26.mockserver.store.sqlite.store import SqliteStore as SqliteStore
