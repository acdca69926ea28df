"""The audit writer on SQLite and PostgreSQL: batching, back-pressure, spool, replay, flush."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.rows import decode_line, details_of, make_row
from sark.api.domain.audit.spool import Spool
from sark.api.domain.audit.writer import SEQ_STRIDE, AuditWriter, first_seq
from sark.api.observability.metrics import Telemetry
from sark.core.models import AuditEvent

from .conftest import (
    eventually,
    make_event,
    sample,
    spooled_files,
    spooled_lines,
    stored_numbers,
)

MakeWriter = Callable[..., AuditWriter]


async def write_all(writer: AuditWriter, events: Iterable[AuditEvent]) -> None:
    """Start `writer`, record `events`, wait until they are written and close it."""
    await writer.start()
    try:
        for audit_event in events:
            writer.record(audit_event)
        await writer.flush()
    finally:
        await writer.close()


async def _rename(engine: AsyncEngine, old: str, new: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_many_events_few_inserts_all_stored_in_order(
    make_writer: MakeWriter, engine: AsyncEngine
) -> None:
    statements: list[int] = []  # rows per INSERT into audit_events

    def count(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if sql.startswith("INSERT INTO audit_events"):
            statements.append(len(params) if many else sql.count("(?") or 1)

    telemetry = Telemetry()
    writer = make_writer(telemetry, batch_size=50, flush_interval_ms=20)
    event.listen(Engine, "before_cursor_execute", count)  # SQLite inserts use their own engine
    try:
        await write_all(writer, map(make_event, range(1000)))
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert await stored_numbers(engine) == list(range(1000))
    # Everything queued went in one write, as statements of at most batch_size rows.
    assert sum(statements) == 1000
    assert max(statements) <= 50
    assert len(statements) == 20
    assert sample(telemetry, "sark_audit_batch_duration_seconds_count") == 1
    assert sample(telemetry, "sark_audit_events_written_total") == 1000
    assert sample(telemetry, "sark_audit_spooled_total") == 0
    assert sample(telemetry, "sark_audit_queue_depth") == 0


async def test_tiny_queue_spills_without_dropping(
    make_writer: MakeWriter, engine: AsyncEngine
) -> None:
    telemetry = Telemetry()
    writer = make_writer(telemetry, queue_size=5, batch_size=2, flush_interval_ms=5)
    await writer.start()
    try:
        for number in range(600):  # no await in between: the queue overflows many times
            writer.record(make_event(number))
        await writer.flush()
        await eventually(lambda: not writer.spooling, "the spill to be replayed")
    finally:
        await writer.close()
    assert sample(telemetry, "sark_audit_spooled_total") > 0
    assert await stored_numbers(engine) == list(range(600))


async def test_record_async_waits_for_space_instead_of_spilling(
    make_writer: MakeWriter, engine: AsyncEngine
) -> None:
    telemetry = Telemetry()
    writer = make_writer(telemetry, queue_size=3, batch_size=2, flush_interval_ms=5,
                         backpressure_timeout_ms=60_000)  # fmt: skip
    await writer.start()
    try:
        for number in range(200):
            await writer.record_async(make_event(number))
            assert writer.queue_depth <= 3
        await writer.flush()
    finally:
        await writer.close()
    assert sample(telemetry, "sark_audit_spooled_total") == 0
    assert await stored_numbers(engine) == list(range(200))


async def test_database_failure_spools_then_replays_in_order(
    make_writer: MakeWriter, engine: AsyncEngine, spool_dir: Path
) -> None:
    telemetry = Telemetry()
    writer = make_writer(telemetry, batch_size=10, flush_interval_ms=5)
    await writer.start()
    try:
        for number in range(50):
            writer.record(make_event(number))
        await writer.flush()
        await _rename(engine, "audit_events", "audit_events_away")  # inserts now fail
        for number in range(50, 150):
            writer.record(make_event(number))
        await writer.flush()
        await eventually(lambda: sample(telemetry, "sark_audit_spooled_total") >= 100, "spooling")
        assert writer.spooling
        assert sample(telemetry, "sark_audit_write_errors_total") >= 1
        assert spooled_files(spool_dir)
        for number in range(150, 200):  # the database is still down: these queue behind
            writer.record(make_event(number))
        await writer.flush()
        await _rename(engine, "audit_events_away", "audit_events")
        await eventually(lambda: not writer.spooling, "the spool to be replayed")
        for number in range(200, 210):
            writer.record(make_event(number))
        await writer.flush()
    finally:
        await writer.close()
    assert await stored_numbers(engine) == list(range(210))
    assert not spooled_files(spool_dir)
    assert sample(telemetry, "sark_audit_events_written_total") == 210


async def test_replaying_twice_stores_each_event_once(
    make_writer: MakeWriter, engine: AsyncEngine, spool_dir: Path, tmp_path: Path
) -> None:
    leftover = Spool(spool_dir)
    leftover.open(1_000)
    rows = [make_row(make_event(n), 1_001 + n) for n in range(30)]
    leftover.append(rows)
    [segment] = spooled_files(spool_dir)
    copy = tmp_path / "copy.jsonl"
    shutil.copy(segment, copy)
    leftover.close()

    first = make_writer()
    await first.start()  # replays the leftover spool before anything else
    await first.close()
    assert await stored_numbers(engine) == list(range(30))

    # A crash after the rows committed but before the segment was deleted leaves it behind.
    crashed = spool_dir / "00000000000000000500-1"
    crashed.mkdir()
    shutil.copy(copy, crashed / segment.name)
    second = make_writer()
    await second.start()
    await second.close()
    assert await stored_numbers(engine) == list(range(30))
    assert not spooled_files(spool_dir)


async def test_start_replays_leftover_spool_before_new_events(
    make_writer: MakeWriter, engine: AsyncEngine, spool_dir: Path
) -> None:
    leftover = Spool(spool_dir)
    leftover.open(1)
    leftover.append([make_row(make_event(n), 2 + n) for n in range(5)])
    leftover.close()  # the directory stays: it still holds events
    writer = make_writer()
    await writer.start()
    try:
        assert await stored_numbers(engine) == list(range(5))  # replayed by start()
        for number in range(5, 10):
            writer.record(make_event(number))
        await writer.flush()
    finally:
        await writer.close()
    async with engine.connect() as connection:
        ordered = await connection.execute(
            select(audit_events.c.details).order_by(audit_events.c.seq)
        )
        assert [row.details["n"] for row in ordered] == list(range(10))


async def test_shutdown_writes_the_queue(make_writer: MakeWriter, engine: AsyncEngine) -> None:
    writer = make_writer(batch_size=10_000, flush_interval_ms=60_000)
    await writer.start()
    for number in range(300):
        writer.record(make_event(number))
    assert writer.queue_depth == 300  # nothing would be written for a minute
    await writer.close()
    assert await stored_numbers(engine) == list(range(300))


async def test_shutdown_with_database_down_spools_for_the_next_process(
    make_writer: MakeWriter, engine: AsyncEngine, spool_dir: Path
) -> None:
    writer = make_writer(batch_size=10_000, flush_interval_ms=60_000, shutdown_timeout_seconds=5)
    await writer.start()
    await _rename(engine, "audit_events", "audit_events_away")
    for number in range(40):
        writer.record(make_event(number))
    await writer.close()
    assert spooled_lines(spool_dir) == 40
    await _rename(engine, "audit_events_away", "audit_events")
    assert await stored_numbers(engine) == []
    successor = make_writer()
    await successor.start()
    await successor.close()
    assert await stored_numbers(engine) == list(range(40))


async def test_events_from_other_threads_are_recorded(
    make_writer: MakeWriter, engine: AsyncEngine
) -> None:
    writer = make_writer(batch_size=5, flush_interval_ms=5)
    await writer.start()
    try:
        threads = [
            threading.Thread(
                target=lambda base=base: [writer.record(make_event(base + i)) for i in range(25)]
            )
            for base in (0, 100, 200, 300)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        await eventually(lambda: writer.queue_depth == 0, "the queue to drain")
        await writer.flush()
    finally:
        await writer.close()
    stored = await stored_numbers(engine)
    assert sorted(stored) == sorted(base + i for base in (0, 100, 200, 300) for i in range(25))


async def test_unstorable_values_are_made_storable(
    make_writer: MakeWriter, engine: AsyncEngine
) -> None:
    writer = make_writer(batch_size=5, flush_interval_ms=5)
    await write_all(
        writer, [make_event(0, reason="nul\x00byte", details={"n": 0, "when": object()})]
    )
    async with engine.connect() as connection:
        row = (await connection.execute(select(audit_events))).one()
        count = await connection.scalar(select(func.count()).select_from(audit_events))
    assert count == 1
    assert row.reason == "nulbyte"
    assert row.details["when"].startswith("<object")


async def test_nul_is_removed_but_text_that_looks_like_its_escape_is_kept(
    make_writer: MakeWriter, engine: AsyncEngine
) -> None:
    details = {
        "n": 0,
        "sql": "select '\\u0000'",  # a backslash and "u0000" as text: kept as is
        "nul": "a\x00b",  # a NUL character: removed
        "both": "\\\x00c",  # a backslash, then a NUL: the backslash stays
        "key\x00": ["\\\\u0000", "\x00"],
    }
    writer = make_writer(batch_size=5, flush_interval_ms=5)
    await write_all(writer, [make_event(0, details=details)])
    async with engine.connect() as connection:
        row = (await connection.execute(select(audit_events))).one()
    assert row.details == {
        "n": 0,
        "sql": "select '\\u0000'",
        "nul": "ab",
        "both": "\\c",
        "key": ["\\\\u0000", ""],
    }


async def test_an_event_after_close_is_logged_whole(
    make_writer: MakeWriter, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer()
    await writer.start()
    await writer.close()
    with caplog.at_level(logging.ERROR, logger="sark.audit.writer"):
        writer.record(make_event(5, details={"n": 5, "nested": {"kept": True}}))
    [record] = [r for r in caplog.records if "not stored (writer closed)" in r.getMessage()]
    row = decode_line(record.getMessage().split(": ", 1)[1].encode())
    assert (row.reason, details_of(row)) == (
        make_event(5).reason,
        {"n": 5, "nested": {"kept": True}},
    )


def test_first_seq_follows_the_clock_and_names_the_writer() -> None:
    now = 1_795_561_604_622_226_150
    for pid in (1, 23_749, 23_751, 4_194_303):
        first = first_seq(pid, now)
        assert now <= first < now + SEQ_STRIDE
        assert first % SEQ_STRIDE == pid % SEQ_STRIDE
    # two workers forked 4 us apart (seen in CI): their numbers never meet
    a, b = first_seq(23_751, now), first_seq(23_749, now + 4_176)
    steps = range(100_000)
    assert not {a + n * SEQ_STRIDE for n in steps} & {b + n * SEQ_STRIDE for n in steps}
    # a restart a second later starts above the 900,000 events the previous run made in it
    assert first_seq(23_751, now + 10**9) > a + 900_000 * SEQ_STRIDE


async def test_a_writer_numbers_its_events_with_its_stride(
    make_writer: MakeWriter, engine: AsyncEngine
) -> None:
    writer = make_writer(batch_size=5, flush_interval_ms=5)
    await write_all(writer, map(make_event, range(6)))
    async with engine.connect() as connection:
        seqs = list((await connection.scalars(select(audit_events.c.seq).order_by("seq"))).all())
    assert len(seqs) == 6
    assert {b - a for a, b in itertools.pairwise(seqs)} == {SEQ_STRIDE}
    assert {s % SEQ_STRIDE for s in seqs} == {os.getpid() % SEQ_STRIDE}
