"""State backends: memory (default), a state directory (SQLite) and Redis.

`base` holds the interface, `backends.open_store` picks one from the config."""
