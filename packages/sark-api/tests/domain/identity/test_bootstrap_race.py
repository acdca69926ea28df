"""Workers starting together on an empty database: one creates ``admin``, none crashes."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from tests.support.app import migrate

from sark.api.domain.identity.bootstrap import ensure_admin
from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.models import User
from sark.api.runtime import Runtime
from sark.core.settings import Settings


async def test_concurrent_first_starts_create_one_admin_and_do_not_fail(
    settings: Settings,
) -> None:
    # Regression: the second worker's create_user raised ConflictError (not IntegrityError)
    # and its start-up failed; granian then respawned it (found by tests/faults).
    await migrate(settings)
    runtimes = [Runtime.build(settings) for _ in range(4)]
    try:
        identities = [Identity(runtime) for runtime in runtimes]
        created = await asyncio.gather(*(ensure_admin(identity) for identity in identities))
        assert sorted(created) == [False, False, False, True]
        async with runtimes[0].engine.connect() as connection:
            count = (await connection.execute(select(func.count()).select_from(User))).scalar()
        assert count == 1
    finally:
        for runtime in runtimes:
            await runtime.http.aclose()
            await runtime.engine.dispose()
