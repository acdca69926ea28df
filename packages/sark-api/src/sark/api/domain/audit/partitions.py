"""Monthly partitions of ``audit_events`` on PostgreSQL, and the retention of old events.

PostgreSQL keeps one partition per calendar month (UTC) named ``audit_events_yYYYYmMM``
plus ``audit_events_default``, which catches any row no monthly partition covers so an
insert never fails. The writer creates the partitions of the current and next months ahead
of time; retention drops whole monthly partitions older than the retention period (and
deletes old rows from the default partition). SQLite has a plain table whose old rows are
deleted.
"""

from __future__ import annotations

import datetime
import logging
import re

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sark.api.domain.audit.models import audit_events

log = logging.getLogger("sark.audit.partitions")

PARENT = "audit_events"
DEFAULT_PARTITION = "audit_events_default"
_NAME = re.compile(r"^audit_events_y(\d{4})m(\d{2})$")
_LOCK_KEY = 0x5A4B_A0D1  # advisory lock: one replica at a time changes partitions


def month_start(moment: datetime.datetime) -> datetime.datetime:
    """The first instant (UTC) of the month containing ``moment``."""
    moment = moment.astimezone(datetime.UTC)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=datetime.UTC)


def add_months(start: datetime.datetime, months: int) -> datetime.datetime:
    """``start`` (a month start) moved by ``months`` months."""
    index = start.year * 12 + start.month - 1 + months
    return datetime.datetime(index // 12, index % 12 + 1, 1, tzinfo=datetime.UTC)


def partition_name(start: datetime.datetime) -> str:
    """The name of the partition of the month beginning at ``start``."""
    return f"{PARENT}_y{start.year:04d}m{start.month:02d}"


async def _exists(connection: AsyncConnection, name: str) -> bool:
    found = await connection.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
    return bool(found)


async def create_month(connection: AsyncConnection, start: datetime.datetime) -> bool:
    """Create the partition of the month at ``start``; False when it already exists."""
    name = partition_name(start)
    if await _exists(connection, name):
        return False
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    if await _exists(connection, name):
        return False
    bounds = {"lo": start, "hi": add_months(start, 1)}
    stray = await connection.scalar(
        text(
            f"SELECT count(*) FROM {DEFAULT_PARTITION} "  # noqa: S608  # constants  # nosec B608
            "WHERE occurred_at >= :lo AND occurred_at < :hi"
        ),
        bounds,
    )
    lo = start.isoformat()
    hi = add_months(start, 1).isoformat()
    if not stray:
        await connection.execute(
            text(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM ('{lo}') TO ('{hi}')")
        )
        return True
    # Rows of that month already sit in the default partition (the month arrived before
    # its partition did): move them into a new table, then attach it as the partition.
    await connection.execute(
        text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    await connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608  # see above  # nosec B608
            "WHERE occurred_at >= :lo AND occurred_at < :hi RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    await connection.execute(
        text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')")
    )
    log.info("created audit partition %s and moved %s rows into it", name, stray)
    return True


async def ensure_partitions(
    engine: AsyncEngine, now: datetime.datetime, months_ahead: int = 1
) -> list[str]:
    """Create the partitions from the month of ``now`` to ``months_ahead`` later."""
    if engine.dialect.name != "postgresql":
        return []
    created = []
    first = month_start(now)
    for offset in range(months_ahead + 1):
        start = add_months(first, offset)
        async with engine.begin() as connection:
            if await create_month(connection, start):
                created.append(partition_name(start))
    return created


async def monthly_partitions(connection: AsyncConnection) -> list[str]:
    """Names of the monthly partitions attached to ``audit_events``, oldest first."""
    result = await connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = :parent"
        ),
        {"parent": PARENT},
    )
    return sorted(name for (name,) in result if _NAME.match(name))


async def apply_retention(engine: AsyncEngine, now: datetime.datetime, days: int) -> int:
    """Remove events older than ``days`` (0 keeps everything); returns partitions/rows removed.

    On PostgreSQL a monthly partition is dropped once its whole month is older than the
    cut-off, so events live between ``days`` and ``days`` + one month.
    """
    if days <= 0:
        return 0
    cutoff = now - datetime.timedelta(days=days)
    if engine.dialect.name != "postgresql":
        async with engine.begin() as connection:
            result = await connection.execute(
                delete(audit_events).where(audit_events.c.occurred_at < cutoff)
            )
            return int(result.rowcount or 0)
    removed = 0
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        for name in await monthly_partitions(connection):
            match = _NAME.match(name)
            assert match is not None
            start = datetime.datetime(int(match[1]), int(match[2]), 1, tzinfo=datetime.UTC)
            if add_months(start, 1) <= cutoff:
                await connection.execute(text(f"DROP TABLE {name}"))
                log.info("retention dropped audit partition %s", name)
                removed += 1
        if await _exists(connection, DEFAULT_PARTITION):
            result = await connection.execute(
                text(f"DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at < :cutoff"),  # noqa: S608  # nosec B608
                {"cutoff": cutoff},
            )
            removed += int(result.rowcount or 0)
    return removed
