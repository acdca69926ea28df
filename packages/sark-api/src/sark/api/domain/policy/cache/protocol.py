"""The decision cache interface and the value it stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec


class CachedDecision(msgspec.Struct, frozen=True, array_like=True):
    """A decision as cached: everything but its id (each answer gets a fresh one)."""

    allow: bool
    reason: str
    filtered_parameters: dict[str, Any]
    obligations: tuple[dict[str, Any], ...]
    policy_revision: str
    engine: str
    expires_at: float
    """Unix time after which the decision must be evaluated again."""


Entry = tuple[str, CachedDecision, float]
"""``(key, value, ttl)`` of ``set_many``."""


class EachInTurn:
    """``get_many`` and ``set_many`` one key at a time: in-process caches (no round trip)."""

    async def get_many(self: DecisionCache, keys: Sequence[str]) -> list[CachedDecision | None]:
        """``get`` of each key, in order."""
        return [await self.get(key) for key in keys]

    async def set_many(self: DecisionCache, entries: Sequence[Entry]) -> None:
        """``set`` of each entry."""
        for key, value, ttl in entries:
            await self.set(key, value, ttl)


class DecisionCache(Protocol):
    """Where decisions are kept between evaluations; never raises on the hot path."""

    @property
    def implementation(self) -> str:
        """Metric label: ``python``, ``rust``, ``redis`` or ``tiered``."""

    async def get(self, key: str) -> CachedDecision | None:
        """The live entry under ``key`` (None when absent, expired or unreachable)."""

    async def set(self, key: str, value: CachedDecision, ttl: float) -> None:
        """Keep ``value`` under ``key`` for ``ttl`` seconds (``ttl <= 0`` stores nothing)."""

    async def get_many(self, keys: Sequence[str]) -> list[CachedDecision | None]:
        """``get`` of each key, in order (one round trip where the cache is remote)."""

    async def set_many(self, entries: Sequence[Entry]) -> None:
        """``set`` of each ``(key, value, ttl)`` (one round trip where the cache is remote)."""

    async def delete(self, key: str) -> None:
        """Forget ``key``."""

    async def clear(self) -> None:
        """Forget every decision this cache holds (in-process levels only for Redis)."""

    def stats(self) -> dict[str, Any]:
        """Counters: hits, misses, size and implementation specifics."""
