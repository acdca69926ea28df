"""Cache contract, run against the native and the pure-Python implementation alike."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

SHORT_TTL = 0.05
PAST_SHORT_TTL = 0.15


def test_get_returns_what_set_stored(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=10, ttl_seconds=60)
    value = {"allow": True, "obligations": []}
    cache.set("k", value)
    assert cache.get("k") is value
    assert cache.get("missing") is None
    assert len(cache) == 1


def test_least_recently_used_entry_is_evicted_first(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=3, ttl_seconds=60)
    for key in ("a", "b", "c"):
        cache.set(key, key)
    assert cache.get("a") == "a"  # a is now the most recent; b the least
    cache.set("d", "d")
    assert cache.get("b") is None
    assert [cache.get(k) for k in ("a", "c", "d")] == ["a", "c", "d"]
    cache.set("e", "e")  # a was read back first of the three, so it is now the oldest
    assert cache.get("a") is None
    assert cache.stats()["evictions"] == 2


def test_set_counts_as_use_and_overwrite_does_not_evict(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=2, ttl_seconds=60)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("a", 3)
    assert len(cache) == 2
    assert cache.stats()["evictions"] == 0
    cache.set("c", 4)
    assert cache.get("b") is None
    assert cache.get("a") == 3


def test_size_never_exceeds_max_size(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=50, ttl_seconds=60)
    for i in range(1000):
        cache.set(f"k{i}", i)
        assert len(cache) <= 50
    assert cache.stats()["evictions"] == 950
    assert cache.get("k999") == 999
    assert cache.get("k949") is None


def test_expired_entries_are_never_returned(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=10, ttl_seconds=60)
    cache.set("short", "v", ttl=SHORT_TTL)
    cache.set("long", "v")
    time.sleep(PAST_SHORT_TTL)
    assert cache.get("short") is None
    assert cache.get("long") == "v"
    stats = cache.stats()
    assert (stats["expirations"], stats["misses"], stats["hits"]) == (1, 1, 1)
    assert len(cache) == 1


def test_default_ttl_applies(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=10, ttl_seconds=SHORT_TTL)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    time.sleep(PAST_SHORT_TTL)
    assert cache.get("k") is None


def test_cleanup_expired_removes_and_counts(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=10, ttl_seconds=60)
    for i in range(3):
        cache.set(f"old{i}", i, ttl=SHORT_TTL)
    cache.set("new", 1)
    time.sleep(PAST_SHORT_TTL)
    assert len(cache) == 4  # expired entries count until removed
    assert cache.cleanup_expired() == 3
    assert len(cache) == 1
    assert cache.stats()["expirations"] == 3
    assert cache.cleanup_expired() == 0


def test_zero_ttl_stores_nothing_and_drops_an_old_value(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=10, ttl_seconds=60)
    cache.set("k", "old")
    cache.set("k", "new", ttl=0)
    assert cache.get("k") is None
    assert len(cache) == 0
    zero_default = cache_cls(max_size=10, ttl_seconds=0)
    zero_default.set("k", "v")
    assert len(zero_default) == 0


def test_delete_and_clear(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=10, ttl_seconds=60)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    cache.get("b")
    cache.clear()
    assert len(cache) == 0
    assert cache.get("b") is None
    stats = cache.stats()
    assert stats["hits"] == 1  # counters survive clear()
    assert stats["size"] == 0


def test_stats_has_every_counter(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=7, ttl_seconds=60)
    cache.set("a", None)
    cache.get("a")
    cache.get("b")
    assert cache.stats() == {
        "hits": 1,
        "misses": 1,
        "evictions": 0,
        "expirations": 0,
        "size": 1,
        "max_size": 7,
    }


@pytest.mark.parametrize("bad", [0, -1])
def test_max_size_must_be_positive(cache_cls: type[Any], bad: int) -> None:
    with pytest.raises(ValueError, match="max_size"):
        cache_cls(max_size=bad)


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_ttl_must_be_a_non_negative_number(cache_cls: type[Any], bad: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        cache_cls(max_size=1, ttl_seconds=bad)
    with pytest.raises(ValueError, match="ttl"):
        cache_cls(max_size=1).set("k", 1, ttl=bad)


def test_keys_must_be_str(cache_cls: type[Any]) -> None:
    cache = cache_cls()
    with pytest.raises(TypeError):
        cache.set(1, "v")
    with pytest.raises(TypeError):
        cache.get(1)


def test_infinite_ttl_never_expires(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=2, ttl_seconds=float("inf"))
    cache.set("k", "v")
    assert cache.cleanup_expired() == 0
    assert cache.get("k") == "v"


def test_concurrent_use_keeps_the_bound_and_counts_every_lookup(cache_cls: type[Any]) -> None:
    cache = cache_cls(max_size=64, ttl_seconds=60)
    errors: list[str] = []
    per_thread = 3000

    def work(seed: int) -> None:
        for i in range(per_thread):
            key = f"k{(i * 7 + seed) % 200}"
            cache.set(key, i)
            cache.get(key)
            if len(cache) > 64:
                errors.append(f"size {len(cache)}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == 4 * per_thread
    assert stats["size"] == len(cache) <= 64
