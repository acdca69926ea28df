"""Two SARK apps sharing one database (and Redis): a change on one reaches the other.

The bounds asserted are the documented guarantees (docs/operations/rollout.md): with Redis
a change is applied by every replica within 1 s; without Redis within the poll interval
plus one table read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from tests.support.app import make_settings, migrate
from tests.support.identity import admin_headers

from sark.api import create_app
from sark.api.runtime import Runtime
from sark.core.flags import FeatureFlags

Client = AsyncTestClient  # type: ignore[type-arg]
POLL_SECONDS = 0.2
RESYNC_SECONDS = 1.0


async def observe(runtime: Runtime, done: Callable[[FeatureFlags], bool], limit: float) -> float:
    """Seconds until ``done(runtime.flags.current())`` holds (fails past ``limit``)."""
    started = time.monotonic()
    while not done(runtime.flags.current()):
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"not applied after {elapsed:.2f}s: {runtime.flags.current()}"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def two_apps(stack: AsyncExitStack, tmp_path: Path, env: dict[str, str]) -> list[Client]:
    settings = make_settings(tmp_path, env)
    await migrate(settings)
    return [
        await stack.enter_async_context(AsyncTestClient(app=create_app(settings, plugins={})))
        for _ in range(2)
    ]


@pytest.fixture(name="pair_with_redis")
async def fixture_pair_with_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as stack:
        clients = await two_apps(
            stack,
            tmp_path,
            {
                "SARK_DATABASE_URL": postgres_url,
                "SARK_REDIS_URL": redis_url,
                "SARK_FLAGS_RESYNC_SECONDS": str(RESYNC_SECONDS),
            },
        )
        for client in clients:
            runtime: Runtime = client.app.state.runtime
            assert runtime.flags.follower.mode == "pubsub"
            deadline = time.monotonic() + 10
            while not runtime.flags.follower.subscribed.is_set():  # set on the app's loop
                assert time.monotonic() < deadline, "never subscribed"
                await asyncio.sleep(0.01)
        yield clients


@pytest.fixture(name="pair_polling")
async def fixture_pair_polling(tmp_path: Path, database_url: str) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as stack:
        yield await two_apps(
            stack,
            tmp_path,
            {"SARK_DATABASE_URL": database_url, "SARK_FLAGS_POLL_SECONDS": str(POLL_SECONDS)},
        )


async def test_update_and_rollback_reach_the_other_replica_within_a_second(
    pair_with_redis: list[Client], redis_url: str
) -> None:
    first, second = pair_with_redis
    other: Runtime = second.app.state.runtime
    admin = await admin_headers(first)
    response = await first.post(
        "/admin/rollout/update", json={"feature": "rust_opa", "percentage": 25}, headers=admin
    )
    assert response.status_code == 200, response.text
    await observe(other, lambda f: f.rust_opa.rollout_percentage == 25, limit=1.0)
    # the guide's troubleshooting key mirrors the percentage
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.get("feature:rust_opa:rollout_pct") == b"25"
    finally:
        await redis.aclose()

    response = await first.post(
        "/admin/rollout/rollback", json={"feature": "rust_opa"}, headers=admin
    )
    assert response.status_code == 200, response.text
    await observe(other, lambda f: f.rust_opa.rollout_percentage == 0, limit=1.0)
    # the receiving replica reports the change's origin too
    row = other.flags.row("rust_opa")
    assert row is not None
    assert (row.version, row.updated_by) == (2, "admin")


async def test_a_change_whose_message_was_lost_still_arrives_by_resync(
    pair_with_redis: list[Client],
) -> None:
    # a message lost (here: never sent) is repaired by the periodic re-read
    first, second = pair_with_redis
    one: Runtime = first.app.state.runtime
    other: Runtime = second.app.state.runtime
    redis, one.flags.redis = one.flags.redis, None  # this replica cannot publish
    try:
        admin = await admin_headers(first)
        response = await first.post(
            "/admin/rollout/update", json={"feature": "rust_cache", "percentage": 50},
            headers=admin,
        )  # fmt: skip
        assert response.status_code == 200
    finally:
        one.flags.redis = redis
    await observe(
        other, lambda f: f.rust_cache.rollout_percentage == 50, limit=RESYNC_SECONDS + 1.0
    )


async def test_without_redis_replicas_poll_within_the_documented_bound(
    pair_polling: list[Client],
) -> None:
    first, second = pair_polling
    other: Runtime = second.app.state.runtime
    assert other.flags.follower.mode == "poll"
    admin = await admin_headers(first)
    response = await first.post(
        "/admin/rollout/update", json={"feature": "rust_cache", "percentage": 30}, headers=admin
    )
    assert response.status_code == 200, response.text
    # bound: one poll interval plus one table read
    await observe(other, lambda f: f.rust_cache.rollout_percentage == 30, limit=POLL_SECONDS + 1.0)
    response = await first.post(
        "/admin/rollout/rollback", json={"feature": "rust_cache"}, headers=admin
    )
    assert response.status_code == 200
    await observe(other, lambda f: f.rust_cache.rollout_percentage == 0, limit=POLL_SECONDS + 1.0)
