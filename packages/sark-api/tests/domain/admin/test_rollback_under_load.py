"""A rollback on one replica moves another replica's traffic off the native engine, live.

Two apps share PostgreSQL and Redis, both with the native engine and OPA. Replica B serves
a steady stream of decisions (all on the native engine at 100 %) while replica A rolls
``rust_opa`` back: every request succeeds, and every decision B starts more than 1 s after
the rollback returned is answered by OPA.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate
from tests.support.identity import admin_headers

from sark.api import create_app
from sark.api.domain.policy.engines.native import native_module
from sark.api.runtime import Runtime

Client = AsyncTestClient  # type: ignore[type-arg]
WORKERS = 4


@pytest.fixture(name="replicas")
async def fixture_replicas(
    tmp_path: Path, postgres_url: str, redis_url: str, opa_url: str
) -> AsyncIterator[list[Client]]:
    if native_module() is None:
        pytest.skip("sark-native (the compiled extension) is not installed")
    env = {
        "SARK_DATABASE_URL": postgres_url,
        "SARK_REDIS_URL": redis_url,
        "SARK_OPA_URL": opa_url,
        "SARK_RUST_OPA_ENABLED": "true",
        "SARK_RUST_OPA_ROLLOUT_PCT": "100",
    }
    settings = make_settings(tmp_path, env)
    await migrate(settings)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(AsyncTestClient(app=create_app(settings, plugins={})))
            for _ in range(2)
        ]
        for client in clients:
            runtime: Runtime = client.app.state.runtime
            deadline = time.monotonic() + 10
            while not runtime.flags.follower.subscribed.is_set():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
        yield clients


async def test_rollback_under_load_fails_no_request_and_applies_within_a_second(
    replicas: list[Client],
) -> None:
    first, second = replicas
    admin_a = await admin_headers(first)
    admin_b = await admin_headers(second)
    counter = itertools.count()
    results: list[tuple[float, int, str]] = []  # (started, status, engine)
    stop = asyncio.Event()

    finish = time.monotonic() + 30  # bound, whatever happens

    async def worker() -> None:
        while not stop.is_set() and time.monotonic() < finish:
            await asyncio.sleep(0)  # the test client may not yield on its own
            n = next(counter)
            body = {
                "action": "tool:invoke",
                "server": "unknown-server",
                "parameters": {"n": n},  # unique: never a cache hit, always an evaluation
                "subject": {"id": f"subject-{n % 500}", "role": "developer"},
            }
            started = time.monotonic()
            response = await second.post("/api/v1/policy/evaluate", json=body, headers=admin_b)
            engine = response.json().get("engine", "") if response.status_code == 200 else ""
            results.append((started, response.status_code, engine))

    tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    try:
        await asyncio.sleep(1.0)
        rollback = await first.post(
            "/admin/rollout/rollback", json={"feature": "rust_opa"}, headers=admin_a
        )
        assert rollback.status_code == 200, rollback.text
        rolled_back = time.monotonic()
        await asyncio.sleep(2.0)
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    assert results, "no request was made"
    assert all(status == 200 for _, status, _ in results), {s for _, s, _ in results}
    before = [engine for started, _, engine in results if started < rolled_back - 0.1]
    after = [engine for started, _, engine in results if started > rolled_back + 1.0]
    assert before
    assert set(before) == {"native"}
    assert after
    assert set(after) == {"opa"}
