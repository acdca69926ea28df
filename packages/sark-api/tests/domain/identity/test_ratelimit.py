"""Login lockout with back-off, request limits, in process and shared through Redis."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support.app import TEST_ADMIN_PASSWORD

from sark.api.domain.identity.models import AuthSession
from sark.api.domain.identity.ratelimit import LoginThrottle, MemoryCounters
from sark.core.settings import RateLimitSettings

LOCKOUT_ENV = {"SARK_LOGIN_MAX_FAILURES": "2", "SARK_LOGIN_LOCKOUT_SECONDS": "30"}


async def _login(client: Any, password: str) -> Any:
    return await client.post("/api/v1/auth/login", json={"username": "admin", "password": password})


async def _sessions(client: Any) -> int:
    engine = create_async_engine(client.app.state.runtime.settings.database.url.reveal())
    async with engine.connect() as connection:
        count = (
            await connection.execute(select(func.count()).select_from(AuthSession))
        ).scalar_one()
    await engine.dispose()
    return int(count)


async def _lock_out(client: Any) -> None:
    assert (await _login(client, "wrong-1")).status_code == 401
    assert (await _login(client, "wrong-2")).status_code == 401


async def test_lockout_refuses_even_the_right_password(make_client: Any) -> None:
    async with make_client(LOCKOUT_ENV) as client:
        await _lock_out(client)
        before = await _sessions(client)
        locked = await _login(client, TEST_ADMIN_PASSWORD)
        assert locked.status_code == 429
        assert 0 < int(locked.headers["retry-after"]) <= 30
        assert locked.json()["detail"].startswith("too many failed logins")
        assert await _sessions(client) == before


async def test_lockout_is_shared_through_redis(
    make_client: Any, redis_url: str, tmp_path: Any
) -> None:
    env = {**LOCKOUT_ENV, "SARK_REDIS_URL": redis_url}
    async with make_client(env) as first:
        await _lock_out(first)
    # A second replica (same Redis) sees the lockout.
    async with make_client(env, home=tmp_path / "replica") as second:
        locked = await _login(second, TEST_ADMIN_PASSWORD)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0


async def test_request_limit_per_user(make_client: Any) -> None:
    async with make_client({"SARK_RATE_LIMIT_USER_PER_MINUTE": "3"}) as client:
        token = (await _login(client, TEST_ADMIN_PASSWORD)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [
            (await client.get("/api/v1/auth/me", headers=headers)).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = await client.get("/api/v1/auth/me", headers=headers)
        assert int(limited.headers["retry-after"]) > 0
        assert limited.json()["detail"] == "rate limit of 3 requests per minute exceeded"


async def test_request_limit_per_api_key_in_redis(make_client: Any, redis_url: str) -> None:
    env = {"SARK_REDIS_URL": redis_url}
    async with make_client(env) as client:
        token = (await _login(client, TEST_ADMIN_PASSWORD)).json()["access_token"]
        key = (
            await client.post(
                "/api/v1/api-keys",
                json={"name": "k", "scopes": ["server:read"], "rate_limit_per_minute": 2},
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()["key"]
        statuses = [
            (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


@pytest.mark.parametrize("strikes", [1, 2, 3, 10])
async def test_lockout_doubles_up_to_the_maximum(strikes: int) -> None:
    settings = RateLimitSettings(
        login_max_failures=1,
        login_failure_window_seconds=60,
        login_lockout_seconds=10,
        login_lockout_max_seconds=60,
        user_per_minute=0,
        api_key_per_minute=0,
    )
    throttle = LoginThrottle(MemoryCounters(), settings)
    seconds = [await throttle.failed("1.2.3.4", "Admin") for _ in range(strikes)]
    assert seconds == [min(10 * 2**i, 60) for i in range(strikes)]
    await throttle.succeeded("1.2.3.4", "admin")
    assert await throttle.failed("1.2.3.4", "admin") == 10


async def test_redis_down_degrades_limits_to_in_process(make_client: Any) -> None:
    from tests.support.services import free_port

    env = {**LOCKOUT_ENV, "SARK_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    async with make_client(env) as client:
        token = (await _login(client, TEST_ADMIN_PASSWORD)).json()["access_token"]
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        await _lock_out(client)
        assert (await _login(client, TEST_ADMIN_PASSWORD)).status_code == 429
