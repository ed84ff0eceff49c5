"""The Redis backend, one object per concern, as every backend is split."""

from wan26.mockserver.store.redis.store import RedisStore as RedisStore
