"""Counters for login lockouts and request limits: Redis when configured, else in process."""

from __future__ import annotations

import logging
import time
from typing import Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from sark.core.errors import RateLimitedError
from sark.core.settings import RateLimitSettings

# INCR and EXPIRE in one step: replicas sharing Redis never leave a counter without a TTL.
_INCR_LUA: Final = """
local v = redis.call('INCR', KEYS[1])
local t = redis.call('TTL', KEYS[1])
if t < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); t = tonumber(ARGV[1]) end
return {v, t}
"""
_PREFIX: Final = "sark:rl:"
_SWEEP_EVERY: Final = 4096
log = logging.getLogger("sark.identity")


class CounterStore(Protocol):
    """Expiring integer counters."""

    async def incr(self, key: str, window: int) -> tuple[int, int]:
        """Add one to ``key`` (created with a ``window`` s TTL); ``(count, ttl left)``."""

    async def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires; 0 when absent."""

    async def put(self, key: str, ttl: int) -> None:
        """Set ``key`` for ``ttl`` seconds."""

    async def delete(self, *keys: str) -> None:
        """Remove ``keys``."""


class MemoryCounters:
    """Counters of one process (``time.monotonic`` expiry, swept now and then)."""

    def __init__(self) -> None:
        self._data: dict[str, list[float]] = {}
        self._ops = 0

    def incr_now(self, key: str, window: int) -> tuple[int, int]:
        """Synchronous :meth:`incr` (the request hot path uses it directly)."""
        now = time.monotonic()
        self._ops += 1
        if self._ops % _SWEEP_EVERY == 0:
            self._sweep(now)
        entry = self._data.get(key)
        if entry is None or entry[1] <= now:
            entry = [0.0, now + window]
            self._data[key] = entry
        entry[0] += 1
        return int(entry[0]), max(1, int(entry[1] - now + 0.999))

    async def incr(self, key: str, window: int) -> tuple[int, int]:
        """Add one to ``key``."""
        return self.incr_now(key, window)

    async def ttl(self, key: str) -> int:
        """Seconds left of ``key``."""
        entry = self._data.get(key)
        left = entry[1] - time.monotonic() if entry else 0.0
        return max(0, int(left + 0.999)) if left > 0 else 0

    async def put(self, key: str, ttl: int) -> None:
        """Set ``key`` for ``ttl`` seconds."""
        self._data[key] = [1.0, time.monotonic() + ttl]

    async def delete(self, *keys: str) -> None:
        """Remove ``keys``."""
        for key in keys:
            self._data.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [k for k, v in self._data.items() if v[1] <= now]:
            del self._data[key]


class RedisCounters:
    """Counters shared by every replica using the same Redis.

    While Redis cannot be reached, counting goes on in process (each replica alone) rather
    than refusing every request: limits degrade, the service does not.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._incr = redis.register_script(_INCR_LUA)
        self._local = MemoryCounters()
        self._warned_at = -60.0

    def _down(self) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:  # one line a minute, not one per request
            self._warned_at = now
            log.warning("Redis unavailable: rate limits counted in process", exc_info=True)

    async def incr(self, key: str, window: int) -> tuple[int, int]:
        """Add one to ``key`` atomically."""
        try:
            count, ttl = await self._incr(keys=[_PREFIX + key], args=[window])
        except RedisError:
            self._down()
            return self._local.incr_now(key, window)
        return int(count), max(1, int(ttl))

    async def ttl(self, key: str) -> int:
        """Seconds left of ``key``."""
        try:
            left = int(await self._redis.ttl(_PREFIX + key))
        except RedisError:
            self._down()
            return await self._local.ttl(key)
        return max(0, left)

    async def put(self, key: str, ttl: int) -> None:
        """Set ``key`` for ``ttl`` seconds."""
        try:
            await self._redis.set(_PREFIX + key, 1, ex=ttl)
        except RedisError:
            self._down()
            await self._local.put(key, ttl)

    async def delete(self, *keys: str) -> None:
        """Remove ``keys``."""
        await self._local.delete(*keys)
        if keys:
            try:
                await self._redis.delete(*(_PREFIX + k for k in keys))
            except RedisError:
                self._down()


class LoginThrottle:
    """Failed logins per address and username; lockouts double up to a maximum."""

    def __init__(self, store: CounterStore, settings: RateLimitSettings) -> None:
        self.store = store
        self.settings = settings

    @staticmethod
    def _keys(ip: str, username: str) -> tuple[str, str, str]:
        who = f"{ip}|{username.lower()}"
        return f"login-fail:{who}", f"login-strikes:{who}", f"login-lock:{who}"

    async def check(self, ip: str, username: str) -> None:
        """Raise :class:`RateLimitedError` while ``username`` is locked out from ``ip``."""
        _, _, lock = self._keys(ip, username)
        left = await self.store.ttl(lock)
        if left > 0:
            msg = f"too many failed logins; try again in {left} seconds"
            raise RateLimitedError(msg, retry_after=left)

    async def failed(self, ip: str, username: str) -> int | None:
        """Count a failure; the lockout in seconds when this one triggered it."""
        fail, strikes, lock = self._keys(ip, username)
        count, _ = await self.store.incr(fail, self.settings.login_failure_window_seconds)
        if count < self.settings.login_max_failures:
            return None
        strike, _ = await self.store.incr(strikes, 86_400)
        seconds: int = min(
            self.settings.login_lockout_seconds * 2 ** min(strike - 1, 30),
            self.settings.login_lockout_max_seconds,
        )
        await self.store.put(lock, seconds)
        await self.store.delete(fail)
        return seconds

    async def succeeded(self, ip: str, username: str) -> None:
        """Forget failures after a successful login."""
        fail, strikes, _ = self._keys(ip, username)
        await self.store.delete(fail, strikes)


class RequestLimiter:
    """Requests per minute per principal (fixed one-minute windows)."""

    WINDOW: Final = 60

    def __init__(self, store: CounterStore) -> None:
        self.store = store
        self._memory = store if isinstance(store, MemoryCounters) else None

    async def hit(self, key: str, limit: int) -> None:
        """Count one request of ``key``; raise :class:`RateLimitedError` past ``limit``."""
        if limit <= 0:
            return
        if self._memory is not None:
            count, left = self._memory.incr_now(key, self.WINDOW)
        else:
            count, left = await self.store.incr(key, self.WINDOW)
        if count > limit:
            msg = f"rate limit of {limit} requests per minute exceeded"
            raise RateLimitedError(msg, retry_after=left)
