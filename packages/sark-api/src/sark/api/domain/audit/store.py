"""Idempotent bulk inserts into ``audit_events`` and the database probe of the writer.

On PostgreSQL a statement is one ``executemany`` through SQLAlchemy (asyncpg pipelines it).
On SQLite a statement is one multi-row ``INSERT`` with the values already in the form
SQLAlchemy's column types store (see :func:`sqlite_values`): ``executemany`` there steps
the statement once per row, and Python's sqlite3 module releases and re-takes the GIL
around every step, so a row waited for a busy event loop to yield.

:class:`AuditStore` is what the writer inserts through. On SQLite it writes on a thread of
its own with a synchronous connection: through the async engine every step of a write
(begin, each statement, commit) waited for a turn of the event loop, and a worker busy
with requests gave one only between them, so at 20,000 decisions/s the queue overflowed
to the spool and most of the trail reached the database only after the burst.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import math
import operator
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from sqlalchemy import Engine, Insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.db.engine import sqlite_sync_twin
from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.rows import AuditRow, to_params

SQLITE_MAX_VARIABLES: Final = 32_766
"""SQLite's limit on bound parameters in one statement (3.32 and later)."""
_COLUMNS: Final = tuple(column.name for column in audit_events.columns)
SQLITE_CHUNK_ROWS: Final = SQLITE_MAX_VARIABLES // len(_COLUMNS)
_row_values = operator.attrgetter(*_COLUMNS)
_ID, _OCCURRED_AT, _DETAILS = (_COLUMNS.index(name) for name in ("id", "occurred_at", "details"))
_second_text: tuple[int, str] = (-1, "")
"""The last second :func:`sqlite_datetime` formatted, and its text."""


def _insert(dialect: str) -> Insert:
    # ON CONFLICT DO NOTHING on the primary key (id, occurred_at): a row replayed after a
    # crash between commit and spool deletion is ignored instead of stored twice.
    if dialect == "postgresql":
        return postgresql.insert(audit_events).on_conflict_do_nothing()
    return audit_events.insert()  # pragma: no cover - only the two backends are supported


@functools.lru_cache(maxsize=32)
def sqlite_insert_sql(rows: int) -> str:
    """``INSERT ... VALUES (?, ...), ... ON CONFLICT DO NOTHING`` for ``rows`` rows."""
    # Only the table's own column names and placeholders: no value is ever spliced in.
    one = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
    return (
        f"INSERT INTO {audit_events.name} ({', '.join(_COLUMNS)}) "  # noqa: S608  # nosec B608
        f"VALUES {', '.join([one] * rows)} ON CONFLICT DO NOTHING"
    )


def sqlite_values(row: AuditRow) -> list[Any]:
    """The values of ``row`` in column order, as SQLAlchemy's types store them on SQLite.

    ``id``: advanced-alchemy's binary ``GUID`` (16 bytes); ``occurred_at``: SQLAlchemy's
    SQLite ``DATETIME`` text (UTC, always with microseconds), so text order is time order;
    ``details``: JSON text. ``tests/domain/audit/test_store.py`` holds this to what
    SQLAlchemy itself writes.
    """
    values = list(_row_values(row))
    values[_ID] = bytes.fromhex(row.id.replace("-", ""))
    values[_OCCURRED_AT] = sqlite_datetime(row.occurred_at)
    values[_DETAILS] = bytes(row.details).decode()
    return values


def sqlite_datetime(moment: float) -> str:
    """``datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")``, faster.

    Rounds to microseconds as ``datetime`` does (half to even, carrying into the second)
    and formats each second once (the writer's rows come in time order).
    """
    global _second_text  # noqa: PLW0603 - a one-entry cache, replaced as a whole
    fraction, whole = math.modf(moment)
    micros = round(fraction * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second = int(whole)
    cached = _second_text
    if cached[0] != second:
        text = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        cached = _second_text = (second, text)
    return f"{cached[1]}.{micros:06d}"


def _sqlite_statements(
    rows: Sequence[AuditRow], statement_rows: int | None
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    step = min(statement_rows or len(rows), SQLITE_CHUNK_ROWS)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        flat = [value for row in chunk for value in sqlite_values(row)]
        yield sqlite_insert_sql(len(chunk)), tuple(flat)


async def insert_rows(
    engine: AsyncEngine, rows: Sequence[AuditRow], statement_rows: int | None = None
) -> None:
    """Insert ``rows`` in one transaction; rows already stored are skipped.

    Each statement carries at most ``statement_rows`` rows (default: all of them, within
    SQLite's parameter limit).
    """
    if not rows:
        return
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            for sql, params in _sqlite_statements(rows, statement_rows):
                await connection.exec_driver_sql(sql, params)
            return
        step = statement_rows or len(rows)
        for start in range(0, len(rows), step):
            batch = [to_params(row) for row in rows[start : start + step]]
            await connection.execute(_insert(engine.dialect.name), batch)


def insert_sqlite_rows(
    engine: Engine, rows: Sequence[AuditRow], statement_rows: int | None = None
) -> None:
    """:func:`insert_rows` on a synchronous SQLite engine (for a thread of its own)."""
    if not rows:
        return
    with engine.begin() as connection:
        for sql, params in _sqlite_statements(rows, statement_rows):
            connection.exec_driver_sql(sql, params)


def _is_file(engine: AsyncEngine) -> bool:
    # A second connection to an in-memory database would open another, empty database.
    database = engine.url.database or ""
    return database not in {"", ":memory:"} and engine.url.query.get("mode") != "memory"


class AuditStore:
    """The writer's inserts: through ``engine``, or on SQLite on a thread of their own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._twin: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite" and _is_file(engine):
            self._twin = sqlite_sync_twin(engine)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sark-audit-db")

    async def insert(self, rows: Sequence[AuditRow], statement_rows: int | None = None) -> None:
        """Insert ``rows`` in one transaction (see :func:`insert_rows`)."""
        if self._twin is None or self._thread is None:
            await insert_rows(self.engine, rows, statement_rows)
            return
        future = self._thread.submit(insert_sqlite_rows, self._twin, rows, statement_rows)
        await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the thread (after the insert in progress) and close its connections."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._twin is not None:
            self._twin.dispose()


async def probe(engine: AsyncEngine) -> None:
    """Raise unless the audit table can be read (the database is back)."""
    async with engine.connect() as connection:
        await connection.execute(select(audit_events.c.seq).limit(0))
