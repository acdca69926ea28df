"""Migration 20261123_04 upgrades and downgrades on both backends."""

from __future__ import annotations

import anyio.to_thread
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from sark.api.db import migrations
from sark.api.db.engine import create_engine
from sark.core.settings import Settings

pytestmark = pytest.mark.migration


def _tables(connection: Connection) -> set[str]:
    return {name for name in inspect(connection).get_table_names() if name.startswith("audit_")}


async def _audit_tables(settings: Settings) -> set[str]:
    engine = create_engine(settings.database)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_tables)
    finally:
        await engine.dispose()


async def test_upgrade_then_downgrade(settings: Settings) -> None:
    await anyio.to_thread.run_sync(migrations.upgrade, settings, "20261123_04")
    tables = await _audit_tables(settings)
    assert "audit_events" in tables
    if settings.database.backend == "postgresql":
        assert "audit_events_default" in tables
        assert len(tables) == 4  # parent, this month, next month, default
    await anyio.to_thread.run_sync(migrations.downgrade, settings, "20261123_01")
    assert await _audit_tables(settings) == set()
    await anyio.to_thread.run_sync(migrations.upgrade, settings, "20261123_04")
    assert "audit_events" in await _audit_tables(settings)
