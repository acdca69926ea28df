"""Revocations made on one replica reach the others (database feed, or Redis feed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.identity import admin_headers, login_headers

SYNC = {"SARK_AUTH_REVOCATION_SYNC_SECONDS": "0.1"}


async def _eventually_status(client: Any, headers: dict[str, str], status: int) -> int:
    got = 0
    for _ in range(100):  # bounded wait for the other replica's sync loop
        got = (await client.get("/api/v1/auth/me", headers=headers)).status_code
        if got == status:
            return got
        await asyncio.sleep(0.05)
    return got


async def test_revocations_reach_another_replica_through_the_database(
    make_client: Any, tmp_path: Path
) -> None:
    await _revoke_on_one_see_on_two(make_client, tmp_path, dict(SYNC))


async def test_revocations_reach_another_replica_through_redis(
    make_client: Any, tmp_path: Path, redis_url: str
) -> None:
    await _revoke_on_one_see_on_two(make_client, tmp_path, {**SYNC, "SARK_REDIS_URL": redis_url})


async def _revoke_on_one_see_on_two(make_client: Any, tmp_path: Path, env: dict[str, str]) -> None:
    async with make_client(env) as one, make_client(env, home=tmp_path / "two") as two:
        headers = await admin_headers(one)
        key_owner = await login_headers(one, role="service")
        key = (
            await one.post("/api/v1/api-keys", json={"name": "k", "scopes": ["server:read"]},
                           headers=key_owner)
        ).json()  # fmt: skip
        key_headers = {"X-API-Key": key["key"]}
        # Both replicas accept (and cache) the credentials.
        assert (await two.get("/api/v1/auth/me", headers=headers)).status_code == 200
        assert (await two.get("/api/v1/auth/me", headers=key_headers)).status_code == 200
        assert (await one.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        revoked = await one.post(f"/api/v1/api-keys/{key['id']}/revoke", headers=key_owner)
        assert revoked.status_code == 200
        assert await _eventually_status(two, headers, 401) == 401
        assert await _eventually_status(two, key_headers, 401) == 401
