"""Benchmark: authenticating one request by JWT and by API key, in process.

Measures ``Authenticator.authenticate`` — the function the authentication middleware calls
for every request — on a SQLite database in a temporary directory:

- warm: the credential was seen before (the steady state of a busy server);
- cold: caches cleared before every call (JWT: signature and claims verified; API key: its
  record read from the database).

Run: ``uv run python tests/benchmarks/bench_auth.py [--iterations N]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.db import migrations
from sark.api.domain.identity.apikeys import ApiKeyService
from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.schemas import ApiKeyCreate
from sark.api.domain.identity.services import UserService
from sark.api.runtime import Runtime
from sark.core.models import Principal, PrincipalType, Role
from sark.core.settings import Settings

TARGET_P99_US = 50.0


async def _measure(
    call: Callable[[], Awaitable[Any]], n: int, before: Callable[[], None]
) -> list[float]:
    samples = []
    for _ in range(n):
        before()
        started = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def _row(name: str, samples: list[float], target: bool) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    verdict = ("meets" if p99 < TARGET_P99_US else "misses") if target else "n/a"
    return f"| {name} | {len(samples)} | {p50:.2f} | {p99:.2f} | {verdict} |"


async def main(iterations: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="sark-bench-auth-"))
    settings = Settings.from_env(
        {"SARK_HOME": str(home), "SARK_ADMIN_PASSWORD": "bench-admin-password",
         "SARK_JWT_SECRET": "bench-secret-0123456789abcdef0123456789",
         "SARK_API_KEY_PEPPER": "bench-pepper-0123456789"},
        cwd=home,
    )  # fmt: skip
    await asyncio.to_thread(migrations.upgrade, settings)
    runtime = Runtime.build(settings)
    identity = Identity(runtime)
    await identity.start()
    try:
        async with AsyncSession(runtime.engine, expire_on_commit=False) as db:
            admin = await UserService(session=db).by_username("admin")
            assert admin is not None
            owner = Principal(id=str(admin.id), type=PrincipalType.USER, role=Role.ADMIN)
            created = await ApiKeyService(session=db).issue(
                identity, owner, ApiKeyCreate(name="bench", scopes=["server:read"])
            )
            await db.commit()
        token = identity.codec.issue(
            {"sub": str(admin.id), "role": "admin", "teams": ["payments"], "sid": "bench"}
        ).token
        auth = identity.authenticator
        bearer = f"Bearer {token}"

        def nothing() -> None:
            pass

        def clear_tokens() -> None:
            auth._tokens.clear()

        def clear_keys() -> None:
            auth._keys.clear()

        def jwt_call() -> Awaitable[Any]:
            return auth.authenticate(bearer, None, "127.0.0.1")

        def key_call() -> Awaitable[Any]:
            return auth.authenticate(None, created.key, "127.0.0.1")

        await jwt_call()
        await key_call()
        rows = [
            _row("JWT (HS256), warm", await _measure(jwt_call, iterations, nothing), True),
            _row("API key, warm", await _measure(key_call, iterations, nothing), True),
            _row(
                "JWT (HS256), cold", await _measure(jwt_call, iterations // 4, clear_tokens), True
            ),
            _row(
                "API key, cold (DB read)",
                await _measure(key_call, iterations // 20, clear_keys),
                False,
            ),
        ]
    finally:
        await identity.close()
        await runtime.close()
    print("| path | calls | median µs | p99 µs | p99 < 50 µs |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(main(args.iterations))
