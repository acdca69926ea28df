"""Idempotent bulk inserts into ``audit_events`` and the database probe of the writer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.rows import AuditRow, to_params


def _insert(dialect: str) -> Insert:
    # ON CONFLICT DO NOTHING on the primary key (id, occurred_at): a row replayed after a
    # crash between commit and spool deletion is ignored instead of stored twice.
    if dialect == "postgresql":
        return postgresql.insert(audit_events).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(audit_events).on_conflict_do_nothing()
    return audit_events.insert()  # pragma: no cover - only the two backends are supported


async def insert_rows(engine: AsyncEngine, rows: Sequence[AuditRow]) -> None:
    """Insert ``rows`` in one transaction (executemany); rows already stored are skipped."""
    if not rows:
        return
    statement = _insert(engine.dialect.name)
    params = [to_params(row) for row in rows]
    async with engine.begin() as connection:
        await connection.execute(statement, params)


async def probe(engine: AsyncEngine) -> None:
    """Raise unless the audit table can be read (the database is back)."""
    async with engine.connect() as connection:
        await connection.execute(select(audit_events.c.seq).limit(0))
