"""Reaching the decision caches from the admin domain: expired-entry cleanup and sizes.

The decision service owns its caches; this module only walks what it exposes. A cache
level takes part in cleanup by offering ``cleanup_expired() -> int`` (sync or async), the
small protocol :class:`SupportsCleanup`; levels without it are reported as skipped.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import msgspec


@runtime_checkable
class SupportsCleanup(Protocol):
    """A cache level that can drop its expired entries on demand."""

    def cleanup_expired(self) -> Any:
        """Remove expired entries; the number removed (or an awaitable of it)."""


class CleanupReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``POST /admin/cache/cleanup`` did."""

    removed: int
    """Expired entries removed, over every in-process cache level."""
    caches: dict[str, int]
    """Entries removed per cache (``<cache>.<level>`` keys)."""
    skipped: list[str]
    """Levels that cannot clean up on demand (their entries expire when next read)."""


def _levels(decisions: Any) -> Iterator[tuple[str, Any]]:
    choosers = getattr(decisions, "caches", None)
    if choosers is None:
        return
    for name in ("default", "native"):
        cache = getattr(choosers, name, None)
        if cache is None:
            continue
        if isinstance(cache, SupportsCleanup):
            yield name, cache
            continue
        for level in ("l1",):  # l2 is Redis, whose keys expire by themselves
            inner = getattr(cache, level, None)
            if inner is not None:
                label = getattr(inner, "implementation", level)
                yield f"{name}.{label}", inner


async def cleanup_expired(decisions: Any) -> CleanupReport:
    """Ask every in-process cache level of ``decisions`` to drop its expired entries."""
    removed: dict[str, int] = {}
    skipped: list[str] = []
    for name, level in _levels(decisions):
        if not isinstance(level, SupportsCleanup):
            skipped.append(name)
            continue
        count = level.cleanup_expired()
        if inspect.isawaitable(count):
            count = await count
        removed[name] = int(count)
    return CleanupReport(removed=sum(removed.values()), caches=removed, skipped=skipped)


def native_cache_size(decisions: Any) -> int | None:
    """Entries held by the native (Rust) cache level, or None when there is none."""
    native = getattr(getattr(decisions, "caches", None), "native", None)
    if native is None:
        return None
    stats = native.stats()
    level = stats.get("l1", stats) if isinstance(stats, dict) else {}
    size = level.get("size") if isinstance(level, dict) else None
    return int(size) if isinstance(size, int) else None
