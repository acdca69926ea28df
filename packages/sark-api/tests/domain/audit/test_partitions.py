"""Monthly partitions on PostgreSQL and retention on both backends."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.partitions import (
    add_months,
    apply_retention,
    create_month,
    ensure_partitions,
    month_start,
    monthly_partitions,
    partition_name,
)
from sark.api.domain.audit.rows import make_row
from sark.api.domain.audit.store import insert_rows
from sark.api.domain.audit.writer import AuditWriter
from sark.core.settings import Settings

from .conftest import make_event

_seq = itertools.count(1)
UTC = datetime.UTC


async def _insert_at(engine: AsyncEngine, *moments: datetime.datetime) -> None:
    rows = [
        make_row(make_event(i, occurred_at=m.timestamp()), next(_seq))
        for i, m in enumerate(moments)
    ]
    await insert_rows(engine, rows)


async def _count(engine: AsyncEngine, table: str = "audit_events") -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


def _postgres_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")


async def test_migration_creates_current_and_next_month_and_default(engine: AsyncEngine) -> None:
    _postgres_only(engine)
    this_month = month_start(datetime.datetime.now(UTC))
    async with engine.connect() as connection:
        names = await monthly_partitions(connection)
        default = await connection.scalar(text("SELECT to_regclass('audit_events_default')"))
    assert names == [partition_name(this_month), partition_name(add_months(this_month, 1))]
    assert default is not None


async def test_writer_creates_partitions_ahead(
    make_writer: Callable[..., AuditWriter], engine: AsyncEngine
) -> None:
    _postgres_only(engine)
    later = datetime.datetime.now(UTC) + datetime.timedelta(days=95)
    writer = make_writer()
    await writer.maintain(now=later)
    async with engine.connect() as connection:
        names = await monthly_partitions(connection)
    start = month_start(later)
    assert partition_name(start) in names
    assert partition_name(add_months(start, 1)) in names
    await _insert_at(engine, start + datetime.timedelta(days=3))
    assert await _count(engine, partition_name(start)) == 1
    assert await _count(engine, "audit_events_default") == 0


async def test_rows_in_default_partition_move_into_a_new_month(engine: AsyncEngine) -> None:
    _postgres_only(engine)
    far = datetime.datetime(2031, 5, 10, tzinfo=UTC)
    await _insert_at(engine, far, far + datetime.timedelta(hours=1))
    assert await _count(engine, "audit_events_default") == 2
    created = await ensure_partitions(engine, far, months_ahead=0)
    assert created == ["audit_events_y2031m05"]
    assert await _count(engine, "audit_events_default") == 0
    assert await _count(engine, "audit_events_y2031m05") == 2
    assert await _count(engine) == 2
    # the same ids are still recognised: a replay of them is ignored
    await _insert_at(engine)
    assert await ensure_partitions(engine, far, months_ahead=0) == []


async def test_retention_drops_whole_old_partitions(engine: AsyncEngine) -> None:
    _postgres_only(engine)
    old = datetime.datetime(2020, 1, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        assert await create_month(connection, old)
    now = datetime.datetime.now(UTC)
    await _insert_at(
        engine,
        old + datetime.timedelta(days=10),
        datetime.datetime(2019, 6, 1, tzinfo=UTC),  # no partition: the default one holds it
        now,
    )
    removed = await apply_retention(engine, now, days=30)
    assert removed == 2  # the 2020-01 partition and one row of the default partition
    async with engine.connect() as connection:
        names = await monthly_partitions(connection)
    assert "audit_events_y2020m01" not in names
    assert await _count(engine) == 1


async def test_retention_zero_keeps_everything(engine: AsyncEngine) -> None:
    await _insert_at(engine, datetime.datetime(2019, 6, 1, tzinfo=UTC))
    assert await apply_retention(engine, datetime.datetime.now(UTC), days=0) == 0
    assert await _count(engine) == 1


async def test_retention_deletes_old_rows(
    make_writer: Callable[..., AuditWriter], engine: AsyncEngine, migrated: Settings
) -> None:
    now = datetime.datetime.now(UTC)
    await _insert_at(
        engine, now - datetime.timedelta(days=400), now - datetime.timedelta(days=1), now
    )
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("SELECT 1"))
    writer = make_writer(retention_days=200)
    await writer.maintain(now=now)
    async with engine.connect() as connection:
        oldest = await connection.scalar(select(func.min(audit_events.c.occurred_at)))
    assert await _count(engine) == 2
    assert oldest is not None
    assert oldest > now - datetime.timedelta(days=200)
