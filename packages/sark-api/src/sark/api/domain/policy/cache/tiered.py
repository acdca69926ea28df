"""The decision cache the service uses: an in-process first level, Redis as the second.

A first-level miss asks Redis; a Redis hit is copied into the first level for the time
it has left. Batches (``get_many``/``set_many``) ask Redis once for all their keys. Every
operation is timed per implementation (``cache_operation_duration_seconds``), as the 1.4
dashboards expect; a batch is one observation under ``get_many``/``set_many``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sark.api.domain.policy.cache.protocol import CachedDecision, DecisionCache, Entry
from sark.api.observability.metrics import Telemetry


class TieredCache:
    """L1 (in process) in front of an optional L2 (Redis)."""

    implementation = "tiered"

    def __init__(self, l1: DecisionCache, l2: DecisionCache | None, telemetry: Telemetry) -> None:
        """Combine ``l1`` and ``l2``; metrics go to ``telemetry``."""
        self.l1 = l1
        self.l2 = l2
        seconds = telemetry.histogram(
            "cache_operation_duration_seconds",
            "Time of one decision-cache operation.",
            ("implementation", "operation"),
        )
        self._l1_get = seconds.labels(l1.implementation, "get")
        self._l1_set = seconds.labels(l1.implementation, "set")
        self._l2_get = seconds.labels(l2.implementation, "get") if l2 else None
        self._l2_set = seconds.labels(l2.implementation, "set") if l2 else None
        self._l1_get_many = seconds.labels(l1.implementation, "get_many")
        self._l1_set_many = seconds.labels(l1.implementation, "set_many")
        self._l2_get_many = seconds.labels(l2.implementation, "get_many") if l2 else None
        self._l2_set_many = seconds.labels(l2.implementation, "set_many") if l2 else None

    async def get(self, key: str) -> CachedDecision | None:
        """The entry from L1, else from L2 (copied into L1)."""
        started = time.perf_counter()
        value = await self.l1.get(key)
        self._l1_get.observe(time.perf_counter() - started)
        if value is not None or self.l2 is None or self._l2_get is None:
            return value
        started = time.perf_counter()
        value = await self.l2.get(key)
        self._l2_get.observe(time.perf_counter() - started)
        if value is not None:
            await self.l1.set(key, value, value.expires_at - time.time())
        return value

    async def set(self, key: str, value: CachedDecision, ttl: float) -> None:
        """Store in both levels."""
        started = time.perf_counter()
        await self.l1.set(key, value, ttl)
        self._l1_set.observe(time.perf_counter() - started)
        if self.l2 is not None and self._l2_set is not None:
            started = time.perf_counter()
            await self.l2.set(key, value, ttl)
            self._l2_set.observe(time.perf_counter() - started)

    async def get_many(self, keys: Sequence[str]) -> list[CachedDecision | None]:
        """The entries from L1, the L1 misses from L2 in one call (copied into L1)."""
        started = time.perf_counter()
        values = await self.l1.get_many(keys)
        self._l1_get_many.observe(time.perf_counter() - started)
        missing = [i for i, value in enumerate(values) if value is None]
        if not missing or self.l2 is None or self._l2_get_many is None:
            return values
        started = time.perf_counter()
        found = await self.l2.get_many([keys[i] for i in missing])
        self._l2_get_many.observe(time.perf_counter() - started)
        now = time.time()
        back: list[Entry] = []
        for i, value in zip(missing, found, strict=True):
            if value is not None:
                values[i] = value
                back.append((keys[i], value, value.expires_at - now))
        if back:
            await self.l1.set_many(back)
        return values

    async def set_many(self, entries: Sequence[Entry]) -> None:
        """Store every entry in both levels (one call each)."""
        started = time.perf_counter()
        await self.l1.set_many(entries)
        self._l1_set_many.observe(time.perf_counter() - started)
        if self.l2 is not None and self._l2_set_many is not None:
            started = time.perf_counter()
            await self.l2.set_many(entries)
            self._l2_set_many.observe(time.perf_counter() - started)

    async def delete(self, key: str) -> None:
        """Forget ``key`` in both levels."""
        await self.l1.delete(key)
        if self.l2 is not None:
            await self.l2.delete(key)

    async def clear(self) -> None:
        """Clear both levels (Redis entries age out: their keys name the old revision)."""
        await self.l1.clear()
        if self.l2 is not None:
            await self.l2.clear()

    def stats(self) -> dict[str, Any]:
        """Statistics of each level."""
        return {"l1": self.l1.stats(), "l2": self.l2.stats() if self.l2 else None}
