"""In-process decision caches: pure-Python LRU + TTL, or sark.native's dashmap cache."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import msgspec

from sark.api.domain.policy.cache.protocol import CachedDecision, EachInTurn


class MemoryCache(EachInTurn):
    """LRU + TTL cache for one event loop (no lock: every call runs on the loop thread)."""

    implementation = "python"

    def __init__(self, max_size: int, max_ttl: float) -> None:
        """Keep at most ``max_size`` entries, none longer than ``max_ttl`` seconds."""
        self._max_size = max_size
        self._max_ttl = max_ttl
        self._entries: OrderedDict[str, tuple[CachedDecision, float]] = OrderedDict()
        self._hits = self._misses = self._evictions = self._expirations = 0

    async def get(self, key: str) -> CachedDecision | None:
        """The live entry under ``key``."""
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return None
        if entry[1] <= time.monotonic():
            del self._entries[key]
            self._expirations += 1
            self._misses += 1
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return entry[0]

    async def set(self, key: str, value: CachedDecision, ttl: float) -> None:
        """Store ``value`` for ``min(ttl, max_ttl)`` seconds."""
        ttl = min(ttl, self._max_ttl)
        if ttl <= 0:
            self._entries.pop(key, None)
            return
        if key not in self._entries:
            while len(self._entries) >= self._max_size:
                self._entries.popitem(last=False)
                self._evictions += 1
        self._entries[key] = (value, time.monotonic() + ttl)
        self._entries.move_to_end(key)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._entries.pop(key, None)

    async def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def cleanup_expired(self) -> int:
        """Drop every expired entry now (they also expire when next read); the number dropped."""
        now = time.monotonic()
        expired = [key for key, (_, expires) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
        self._expirations += len(expired)
        return len(expired)

    def stats(self) -> dict[str, Any]:
        """hits, misses, evictions, expirations, size, max_size."""
        return {
            "implementation": self.implementation,
            "hits": self._hits,
            "misses": self._misses,
            "evictions": self._evictions,
            "expirations": self._expirations,
            "size": len(self._entries),
            "max_size": self._max_size,
        }


class NativeCache(EachInTurn):
    """``sark.native.Cache`` (dashmap LRU + TTL in Rust) behind the same protocol.

    Entries are kept as MessagePack bytes, not as Python objects: a cached decision then
    costs about a third of the memory (its nested dicts and strings are one bytes object),
    and every hit decodes a private copy, so no caller can alter what the next one reads.
    The decode costs about a microsecond per hit (docs/performance.md, sark-native).
    """

    implementation = "rust"

    def __init__(self, cache_class: Any, max_size: int, max_ttl: float) -> None:
        """Build a ``cache_class(max_size, ttl_seconds)`` (``sark.native.Cache``)."""
        self._cache = cache_class(max_size, float(max_ttl) if max_ttl > 0 else 1.0)
        self._max_ttl = max_ttl
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(CachedDecision).decode

    async def get(self, key: str) -> CachedDecision | None:
        """The live entry under ``key``."""
        raw = self._cache.get(key)
        if not isinstance(raw, bytes):
            return None
        try:
            return self._decode(raw)
        except msgspec.DecodeError:  # pragma: no cover - only this class writes entries
            self._cache.delete(key)
            return None

    async def set(self, key: str, value: CachedDecision, ttl: float) -> None:
        """Store ``value`` for ``min(ttl, max_ttl)`` seconds."""
        ttl = min(ttl, self._max_ttl)
        if ttl <= 0:
            self._cache.delete(key)
            return
        self._cache.set(key, self._encode(value), ttl)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._cache.delete(key)

    async def clear(self) -> None:
        """Forget everything."""
        self._cache.clear()

    def cleanup_expired(self) -> int:
        """Drop every expired entry now; the number dropped."""
        return int(self._cache.cleanup_expired())

    def stats(self) -> dict[str, Any]:
        """The native counters."""
        return {"implementation": self.implementation, **self._cache.stats()}
