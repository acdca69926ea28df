"""Alembic environment of SARK: async engines for SQLite and PostgreSQL.

Run through ``sark db ...`` (which passes its settings in ``config.attributes``) or plain
``alembic`` from the repository root (which reads settings from the environment).
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from sark.api.db import models as _models  # noqa: F401  (registers tables on the metadata)
from sark.api.db.base import metadata
from sark.api.db.engine import create_engine
from sark.core.settings import Settings

config = context.config
settings: Settings = config.attributes.get("sark_settings") or Settings.from_env(os.environ)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(settings.database)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=settings.database.url.reveal(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
