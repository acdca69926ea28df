"""Redis as the decision cache shared by every replica (the second level).

Values are msgspec-encoded :class:`CachedDecision` arrays under ``sark:decision:<key>``
with ``SET ... EX``. Redis trouble is a cache miss, never an error: after a failure the
cache stays out of the way for a few seconds instead of delaying every decision.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from sark.api.domain.policy.cache.protocol import CachedDecision, Entry

log = logging.getLogger("sark.policy.cache")
PREFIX = "sark:decision:"
OPERATION_TIMEOUT = 0.1
BACKOFF_SECONDS = 5.0


class RedisCache:
    """Shared decision cache on Redis."""

    implementation = "redis"

    def __init__(self, redis: Redis) -> None:
        """Use ``redis`` (the runtime's client)."""
        self._redis = redis
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(CachedDecision).decode
        self._down_until = 0.0
        self._hits = self._misses = self._errors = 0

    @property
    def available(self) -> bool:
        """False while backing off after a failure."""
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._errors += 1
        self._down_until = time.monotonic() + BACKOFF_SECONDS
        log.warning("redis decision cache %s failed (%r); bypassed for %ss", operation, exc,
                    BACKOFF_SECONDS)  # fmt: skip

    async def get(self, key: str) -> CachedDecision | None:
        """The entry under ``key``; None on a miss or any Redis problem."""
        if not self.available:
            return None
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                raw = await self._redis.get(PREFIX + key)
        except (Exception, TimeoutError) as exc:
            self._failed("get", exc)
            return None
        return self._decoded(raw)

    async def get_many(self, keys: Sequence[str]) -> list[CachedDecision | None]:
        """The entries under ``keys`` with one ``MGET``; Nones on any Redis problem."""
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                raws = await self._redis.mget([PREFIX + key for key in keys])
        except (Exception, TimeoutError) as exc:
            self._failed("get", exc)
            return [None] * len(keys)
        return [self._decoded(raw) for raw in raws]

    def _decoded(self, raw: Any) -> CachedDecision | None:
        if raw is None:
            self._misses += 1
            return None
        try:
            value = self._decode(raw if isinstance(raw, bytes) else str(raw).encode())
        except msgspec.DecodeError:
            self._misses += 1
            return None  # written by another release; it will be overwritten
        self._hits += 1
        return value

    async def set(self, key: str, value: CachedDecision, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (whole seconds, rounded down)."""
        seconds = math.floor(ttl)
        if seconds <= 0 or not self.available:
            return
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await self._redis.set(PREFIX + key, self._encode(value), ex=seconds)
        except (Exception, TimeoutError) as exc:
            self._failed("set", exc)

    async def set_many(self, entries: Sequence[Entry]) -> None:
        """Store every entry with one pipeline of ``SET ... EX`` (no transaction)."""
        kept = [(PREFIX + key, self._encode(value), math.floor(ttl))
                for key, value, ttl in entries if math.floor(ttl) > 0]  # fmt: skip
        if not kept or not self.available:
            return
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, raw, seconds in kept:
                        pipe.set(key, raw, ex=seconds)
                    await pipe.execute()
        except (Exception, TimeoutError) as exc:
            self._failed("set", exc)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        if not self.available:
            return
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await self._redis.delete(PREFIX + key)
        except (Exception, TimeoutError) as exc:
            self._failed("delete", exc)

    async def clear(self) -> None:
        """Nothing: shared entries are keyed by revision and fact versions, so they age out."""

    def stats(self) -> dict[str, Any]:
        """hits, misses and errors seen by this process."""
        return {
            "implementation": self.implementation,
            "hits": self._hits,
            "misses": self._misses,
            "errors": self._errors,
            "available": self.available,
        }
