"""Bulk inserts: what SARK's own SQLite insert stores is what SQLAlchemy would store."""

from __future__ import annotations

import datetime
import itertools
import random

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.rows import details_of, make_row, to_params
from sark.api.domain.audit.store import (
    SQLITE_CHUNK_ROWS,
    AuditStore,
    insert_rows,
    sqlite_datetime,
)

from .conftest import make_event

_seq = itertools.count(1)


def _rows(count: int, **changes: object) -> list:
    return [make_row(make_event(n, **changes), next(_seq)) for n in range(count)]


async def _raw(engine: AsyncEngine, where: str) -> list[tuple[object, ...]]:
    columns = ", ".join(column.name for column in audit_events.columns)
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(
            f"SELECT {columns} FROM audit_events WHERE {where} ORDER BY seq"
        )
        return [tuple(row) for row in result]


async def test_sqlite_rows_are_stored_exactly_as_sqlalchemy_stores_them(
    engine: AsyncEngine,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SARK writes SQLite rows itself; PostgreSQL goes through SQLAlchemy")
    odd = {
        "occurred_at": datetime.datetime(2026, 3, 1, 0, 0, 0, tzinfo=datetime.UTC).timestamp(),
        "allow": None,
        "latency_ms": 1.25,
        "client_ip": "203.0.113.7",
        "details": {"parameters": {"nested": [1, "ü", None, True]}, "n": 0},
    }
    events = [make_event(n) for n in range(3)] + [make_event(3, **odd)]
    ours = [make_row(event, next(_seq)) for event in events]
    theirs = [make_row(event, next(_seq)) for event in events]
    await insert_rows(engine, ours)
    async with engine.begin() as connection:  # the reference: SQLAlchemy's own binding
        statement = sqlite.insert(audit_events).on_conflict_do_nothing()
        await connection.execute(statement, [to_params(row) for row in theirs])

    first, second = ours[0].seq, theirs[0].seq
    mine = await _raw(engine, f"seq BETWEEN {first} AND {first + 3}")
    reference = await _raw(engine, f"seq BETWEEN {second} AND {second + 3}")
    names = [column.name for column in audit_events.columns]
    skip = {"id", "seq", "occurred_at", "details"}  # differ by construction; compared below
    for row, expected in zip(mine, reference, strict=True):
        for name, value, want in zip(names, row, expected, strict=True):
            if name not in skip:
                assert value == want, name
            else:
                assert type(value) is type(want), name
    # Same storage form for the key and the time: 16-byte id, SQLAlchemy's DATETIME text.
    assert all(len(row[names.index("id")]) == 16 for row in mine)
    times = [row[names.index("occurred_at")] for row in mine + reference]
    assert all(len(str(moment)) == len("2026-03-01 00:00:00.000000") for moment in times)
    assert mine[-1][names.index("occurred_at")] == "2026-03-01 00:00:00.000000"

    # And SQLAlchemy reads both back to the same values.
    async with engine.connect() as connection:
        result = await connection.execute(
            select(audit_events).where(audit_events.c.seq >= first).order_by(audit_events.c.seq)
        )
        loaded = {row.seq: row for row in result}
    for row in ours:
        stored = loaded[row.seq]
        assert str(stored.id) == row.id
        assert stored.occurred_at.timestamp() == pytest.approx(row.occurred_at, abs=1e-6)
        assert stored.details == details_of(row)
        assert (stored.allow, stored.latency_ms, stored.reason) == (
            row.allow,
            row.latency_ms,
            row.reason,
        )


async def test_batches_larger_than_one_statement_are_stored_once(engine: AsyncEngine) -> None:
    rows = _rows(SQLITE_CHUNK_ROWS * 2 + 7)
    await insert_rows(engine, rows)
    await insert_rows(engine, rows[: SQLITE_CHUNK_ROWS + 3])  # a replay: ignored
    async with engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT count(*) FROM audit_events WHERE seq >= :first"),
            {"first": rows[0].seq},
        )
    assert stored == len(rows)


async def test_a_refused_row_fails_the_whole_batch(engine: AsyncEngine) -> None:
    rows = _rows(3)
    bad = make_row(make_event(9, kind=None), next(_seq))  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"(?i)not null|null value"):
        await insert_rows(engine, [*rows, bad])
    async with engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT count(*) FROM audit_events WHERE seq >= :first"),
            {"first": rows[0].seq},
        )
    assert stored == 0


@pytest.mark.parametrize(
    "moment",
    [
        0.0,
        1_772_323_200.0,
        1_772_323_200.5,
        1_772_323_199.9999997,  # rounds up into the next second
        86_399.9999995,  # (small moments: fractions of a microsecond are representable)
        86_399.9999994,
        86_400.0000005,  # about half a microsecond
        86_400.0000015,
        86_400.0000025,
        4_102_444_799.999999,
    ],
)
def test_sqlite_time_text_is_datetimes_own(moment: float) -> None:
    expected = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    assert sqlite_datetime(moment) == expected.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_sqlite_time_text_agrees_on_many_random_moments() -> None:
    generator = random.Random(7)
    for _ in range(20_000):
        moment = generator.uniform(0, 4.2e9)
        expected = datetime.datetime.fromtimestamp(moment, datetime.UTC)
        assert sqlite_datetime(moment) == expected.strftime("%Y-%m-%d %H:%M:%S.%f"), moment


async def test_an_in_memory_database_is_written_through_its_own_engine() -> None:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:", poolclass=StaticPool)
    async with engine.begin() as connection:
        await connection.run_sync(audit_events.create)
    store = AuditStore(engine)
    try:
        await store.insert(_rows(3))
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM audit_events")) == 3
    finally:
        store.close()
        await engine.dispose()
