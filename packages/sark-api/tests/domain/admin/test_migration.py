"""Revision 20261123_05 creates exactly the flag tables the models describe, and reverts."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection
from tests.support.app import migrate

from sark.api.db import migrations
from sark.api.db.engine import create_engine
from sark.api.domain.admin.models import feature_flag_changes, feature_flags
from sark.core.settings import Settings

TABLES = {"feature_flags", "feature_flag_changes"}


def _diff(connection: Connection) -> list[Any]:
    metadata = MetaData()
    feature_flags.to_metadata(metadata)
    feature_flag_changes.to_metadata(metadata)
    # SQLite reflects GUID's BINARY(16) with numeric affinity: compare types on PostgreSQL.
    compare_type = connection.dialect.name != "sqlite"
    context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
    return [
        d for d in compare_metadata(context, metadata)
        if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name not in TABLES)
        and not (isinstance(d, tuple) and d[0] in {"remove_index", "remove_fk"}
                 and d[1].table.name not in TABLES)
    ]  # fmt: skip


async def _tables(settings: Settings) -> set[str]:
    engine = create_engine(settings.database)
    try:
        async with engine.connect() as connection:
            names: set[str] = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            return names
    finally:
        await engine.dispose()


async def test_models_match_the_migration_and_downgrade_drops_them(settings: Settings) -> None:
    await migrate(settings)
    engine = create_engine(settings.database)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()
    assert await _tables(settings) >= TABLES
    await anyio.to_thread.run_sync(migrations.downgrade, settings, "20261123_05-1")
    assert not TABLES & await _tables(settings)
    await migrate(settings)
    assert await _tables(settings) >= TABLES
