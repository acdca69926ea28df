"""Redis is SIGKILLed under load, then restarted empty on the same port.

Redis holds the shared decision cache (L2), rate-limit counters, the revocation feed and
the flag broadcast. Without it decisions go on from the in-process cache and the engines,
with no error; once it is back the L2 cache fills again, and the flag subscription
reconnects: a flag change made after the restart reaches every worker through pub/sub
(the periodic database re-read is set to an hour, so nothing else could carry it).
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from redis.asyncio import Redis

from tests.faults.harness import (
    Load,
    cases,
    check_responses,
    full_stack,
    merge,
    probe_decision,
    reference,
    seed,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.opa]


async def _decision_keys(url: str) -> int:
    client = Redis.from_url(url)
    try:
        return len(await client.keys("sark:decision:*"))
    finally:
        await client.aclose()


async def test_redis_crash_under_load_degrades_to_l1_and_recovers(tmp_path: Path) -> None:
    env = {"SARK_FLAGS_RESYNC_SECONDS": "3600"}
    with full_stack(tmp_path, env) as stack:
        sark, redis = stack.sark, stack.redis
        seeded = await seed(sark.base)
        all_cases = cases(gateway=True)
        before = await reference(sark.base, seeded, all_cases)
        assert await _decision_keys(redis.url) > 0  # the shared cache is in use

        load = Load(sark.base, seeded, all_cases)
        load.start()
        try:
            await load.run_for(3)
            load.phase = "during"
            await anyio.to_thread.run_sync(redis.kill)
            await load.run_for(4)
            load.phase = "after"
            await anyio.to_thread.run_sync(redis.start)
            restarted = time.monotonic()
            # The L2 cache is used again once its back-off is over (new keys in the empty Redis).
            await wait_until(
                lambda: _has_keys(redis.url), "decision cache back on Redis", within=60
            )
            await load.run_for(2)
        finally:
            outcomes = await load.stop()
        after = await reference(sark.base, seeded, all_cases)
        report = check_responses(outcomes, merge(before, after))
        assert len(load.since("during")) > 20, report.by_phase
        assert not report.failures, [f.body for f in report.failures[:3]]
        log = sark.log_text()
        assert "redis decision cache" in log, log[-3000:]
        assert "flag subscription lost" in log, log[-3000:]

        # Give the subscribers time to reconnect (back-off at most 5 s), then change a flag on
        # one worker: the other learns it through pub/sub only.
        await anyio.sleep(max(0.0, 8 - (time.monotonic() - restarted)))
        async with httpx.AsyncClient(base_url=sark.base, timeout=60) as client:
            response = await client.post(
                "/admin/rollout/update",
                json={"feature": "rust_opa", "percentage": 100},
                headers={"Authorization": f"Bearer {seeded.admin}"},
            )
        assert response.status_code == 200, response.text

        async def native_serves() -> bool:
            probe = await probe_decision(sark.base, seeded.admin, "srv-alpha", "tool-low")
            return probe["engine"] == "native"

        await wait_until(native_serves, "flag change on every worker", within=30, streak=30)


async def _has_keys(url: str) -> bool:
    return await _decision_keys(url) > 0
