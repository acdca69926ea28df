"""``POST /api/v1/policy/reload`` on one worker reloads every worker and replica.

Two apps stand for two workers: sharing ``SARK_HOME`` (one host, no Redis: the marker file,
read on every flag poll) or each with its own (two hosts: the Redis message only, with the
periodic re-read pushed out of the way).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate
from tests.support.identity import admin_headers

from sark.api import create_app
from sark.api.domain.policy.engines.native import native_module
from sark.api.runtime import Runtime

POLL_SECONDS = 0.2


async def _app(stack: AsyncExitStack, home: Path, env: dict[str, str]) -> AsyncTestClient[Any]:
    settings = make_settings(home, env)
    await migrate(settings)
    client = AsyncTestClient(app=create_app(settings, plugins={}))
    return await stack.enter_async_context(client)


async def _applied(runtime: Runtime, revision: str, limit: float) -> float:
    started = time.monotonic()
    while runtime.decisions.revision != revision:
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"still at {runtime.decisions.revision} after {elapsed:.2f}s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def _edit(bundle_dir: Path) -> None:
    data = bundle_dir / "data" / "mcp" / "authz" / "data.json"
    document = json.loads(data.read_text())
    document["allow_unregistered"] = not document.get("allow_unregistered", False)
    data.write_text(json.dumps(document))


async def _reload(client: AsyncTestClient[Any]) -> str:
    response = await client.post("/api/v1/policy/reload", headers=await admin_headers(client))
    assert response.status_code == 200, response.text
    revision: str = response.json()["revision"]
    return revision


@pytest.fixture(name="one_host")
async def fixture_one_host(
    tmp_path: Path, database_url: str, bundle_dir: Path
) -> AsyncIterator[list[AsyncTestClient[Any]]]:
    """Two workers of one host (one SARK_HOME), polling the flags, no Redis."""
    env = {"SARK_DATABASE_URL": database_url, "SARK_POLICY_PATH": str(bundle_dir),
           "SARK_FLAGS_POLL_SECONDS": str(POLL_SECONDS)}  # fmt: skip
    async with AsyncExitStack() as stack:
        yield [await _app(stack, tmp_path, env) for _ in range(2)]


async def test_a_reload_reaches_the_other_workers_of_the_host(
    one_host: list[AsyncTestClient[Any]], bundle_dir: Path
) -> None:
    first, second = one_host
    other: Runtime = second.app.state.runtime
    before = other.decisions.revision
    _edit(bundle_dir)
    revision = await _reload(first)
    assert revision != before
    # bound: one poll interval plus one reload
    await _applied(other, revision, POLL_SECONDS + 2.0)
    # the worker that asked does not reload a second time, nor does the other again
    await asyncio.sleep(3 * POLL_SECONDS)
    for client in (first, second):
        runtime: Runtime = client.app.state.runtime
        reloads = runtime.telemetry.registry.get_sample_value(
            "sark_policy_reloads_total", {"result": "ok"}
        )
        assert reloads == 2, reloads  # start + this reload


async def test_a_rejected_reload_is_not_announced(
    one_host: list[AsyncTestClient[Any]], bundle_dir: Path
) -> None:
    if native_module() is None:  # tox env `api`: no engine compiles, nothing is rejected
        pytest.skip("sark-native is not installed: no engine to reject the bundle")
    first, second = one_host
    other: Runtime = second.app.state.runtime
    _edit(bundle_dir)
    revision = await _reload(first)
    await _applied(other, revision, POLL_SECONDS + 2.0)
    policy = bundle_dir / "policies" / "authz" / "authz.rego"
    policy.write_text(policy.read_text() + "\nbroken := {\n")
    response = await first.post("/api/v1/policy/reload", headers=await admin_headers(first))
    assert response.status_code == 422
    await asyncio.sleep(3 * POLL_SECONDS)
    assert other.decisions.revision == revision  # nothing was announced


@pytest.mark.redis
async def test_with_redis_a_reload_reaches_a_replica_on_another_host_within_a_second(
    tmp_path: Path, postgres_url: str, redis_url: str, bundle_dir: Path
) -> None:
    env = {"SARK_DATABASE_URL": postgres_url, "SARK_REDIS_URL": redis_url,
           "SARK_POLICY_PATH": str(bundle_dir),
           # only the message can carry the reload: no re-read within the test
           "SARK_FLAGS_RESYNC_SECONDS": "3600"}  # fmt: skip
    async with AsyncExitStack() as stack:
        first = await _app(stack, tmp_path / "host-a", env)
        second = await _app(stack, tmp_path / "host-b", env)
        other: Runtime = second.app.state.runtime
        deadline = time.monotonic() + 10
        while not other.flags.follower.subscribed.is_set():
            assert time.monotonic() < deadline, "never subscribed"
            await asyncio.sleep(0.01)
        _edit(bundle_dir)
        revision = await _reload(first)
        await _applied(other, revision, 1.0)
