from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis
from tests.support.services import free_port

from sark.api.domain.policy.cache import CachedDecision, MemoryCache, RedisCache, TieredCache
from sark.api.domain.policy.cache.redis import PREFIX
from sark.api.observability.metrics import Telemetry


def entry(reason: str = "allowed_by_role", ttl: float = 60) -> CachedDecision:
    return CachedDecision(
        allow=True, reason=reason, filtered_parameters={"a": {"b": 1}},
        obligations=({"type": "redacted_parameters", "paths": ["/p"]},),
        policy_revision="rev", engine="opa", expires_at=time.time() + ttl,
    )  # fmt: skip


async def test_memory_cache_lru_and_ttl() -> None:
    cache = MemoryCache(max_size=2, max_ttl=300)
    await cache.set("a", entry("a"), 60)
    await cache.set("b", entry("b"), 60)
    assert (await cache.get("a")) is not None  # a is now most recent
    await cache.set("c", entry("c"), 60)  # evicts b
    assert await cache.get("b") is None
    assert (await cache.get("a")).reason == "a"  # type: ignore[union-attr]
    await cache.set("short", entry(), 0.01)
    await asyncio.sleep(0.05)
    assert await cache.get("short") is None
    await cache.set("never", entry(), 0)
    assert await cache.get("never") is None
    stats = cache.stats()
    assert stats["evictions"] >= 1
    assert stats["expirations"] == 1
    await cache.clear()
    assert cache.stats()["size"] == 0


async def test_memory_cache_caps_ttl() -> None:
    cache = MemoryCache(max_size=10, max_ttl=0.01)
    await cache.set("k", entry(), 1800)
    await asyncio.sleep(0.05)
    assert await cache.get("k") is None


async def test_native_cache_behind_the_protocol() -> None:
    native = pytest.importorskip("sark.native", reason="sark-native is not installed")
    from sark.api.domain.policy.cache import NativeCache

    cache = NativeCache(native.Cache, 10, 300)
    stored = entry()
    await cache.set("k", stored, 60)
    got = await cache.get("k")
    assert got == stored
    # Each hit is a private copy: changing one answer cannot change the next.
    got.filtered_parameters["injected"] = True
    again = await cache.get("k")
    assert again == stored
    assert again is not got
    await cache.delete("k")
    assert await cache.get("k") is None
    await cache.set("short", entry(), 0)  # nothing to keep
    assert await cache.get("short") is None


@pytest.mark.redis
async def test_redis_cache_round_trip(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        cache = RedisCache(client)
        value = entry()
        await cache.set("k1", value, 30)
        assert await cache.get("k1") == value
        remaining = await client.ttl(PREFIX + "k1")
        assert 0 < remaining <= 30
        await cache.set("k0", value, 0.5)  # less than a second: not stored
        assert await client.exists(PREFIX + "k0") == 0
        await client.set(PREFIX + "junk", b"\x00garbage")
        assert await cache.get("junk") is None
        await cache.delete("k1")
        assert await cache.get("k1") is None
    finally:
        await client.aclose()


async def test_redis_down_is_a_miss_never_an_error() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        cache = RedisCache(client)
        await cache.set("k", entry(), 30)
        assert await cache.get("k") is None
        assert cache.stats()["errors"] >= 1
        assert not cache.available  # backing off: later calls skip Redis entirely
        assert await cache.get("k") is None
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_tiered_cache_fills_l1_from_redis(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    telemetry = Telemetry()
    try:
        shared = RedisCache(client)
        replica_a = TieredCache(MemoryCache(10, 300), shared, telemetry)
        replica_b = TieredCache(MemoryCache(10, 300), RedisCache(client), telemetry)
        await replica_a.set("k", entry(), 60)
        got = await replica_b.get("k")  # L1 miss on b, L2 hit
        assert got is not None
        assert got.reason == "allowed_by_role"
        assert await replica_b.l1.get("k") == got  # copied into b's L1
        await replica_a.clear()
        assert await replica_a.l1.get("k") is None
        text = telemetry.render().decode()
        assert (
            'cache_operation_duration_seconds_count{implementation="redis",operation="get"}' in text
        )
    finally:
        await client.aclose()


async def test_memory_cache_cleanup_removes_only_expired_entries() -> None:
    import asyncio as _asyncio

    from sark.api.domain.policy.cache import MemoryCache as _Memory

    cache = _Memory(100, 3600)
    value = object()
    await cache.set("short", value, 0.05)  # type: ignore[arg-type]
    await cache.set("long", value, 60)  # type: ignore[arg-type]
    await _asyncio.sleep(0.1)
    assert cache.cleanup_expired() == 1
    assert cache.stats()["size"] == 1
    assert await cache.get("long") is value


@pytest.mark.redis
async def test_batches_ask_redis_once_and_fill_l1(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    telemetry = Telemetry()
    try:
        replica_a = TieredCache(MemoryCache(10, 300), RedisCache(client), telemetry)
        replica_b = TieredCache(MemoryCache(10, 300), RedisCache(client), telemetry)
        await replica_a.set_many([("b1", entry("one"), 60), ("b2", entry("two"), 60),
                                  ("b0", entry("brief"), 0.5)])  # fmt: skip
        assert 0 < await client.ttl(PREFIX + "b2") <= 60
        assert await client.exists(PREFIX + "b0") == 0  # under a second: not shared
        await replica_b.set("b3", entry("three"), 60)  # in b's L1 and in Redis
        got = await replica_b.get_many(["b1", "missing", "b2", "b3"])
        assert [g.reason if g else None for g in got] == ["one", None, "two", "three"]
        assert [await replica_b.l1.get(k) is not None for k in ("b1", "b2")] == [True, True]
        text = telemetry.render().decode()
        count = (
            'cache_operation_duration_seconds_count{implementation="redis",operation="get_many"}'
        )
        assert f"{count} 1.0" in text  # one MGET for the three L1 misses
        assert await replica_b.get_many([]) == []
    finally:
        await client.aclose()


async def test_batches_on_a_redis_that_is_down_are_misses() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        cache = RedisCache(client)
        await cache.set_many([("k", entry(), 30)])
        assert cache.stats()["errors"] == 1
        assert await cache.get_many(["k", "j"]) == [None, None]
    finally:
        await client.aclose()


async def test_in_process_caches_answer_batches_key_by_key() -> None:
    cache = MemoryCache(max_size=10, max_ttl=300)
    await cache.set_many([("a", entry("a"), 60), ("gone", entry(), 0)])
    assert [v.reason if v else None for v in await cache.get_many(["a", "gone", "x"])] == [
        "a", None, None
    ]  # fmt: skip
