"""Audit rows against decisions served: every answered decision has exactly its rows.

Each request of the workload carries a unique ``X-Request-ID`` that SARK writes on the
audit rows of the decisions it made for it. The client writes down the ids answered with a
2xx; a decision endpoint's answer stands for 1 decision (authorize, evaluate) or 100
(an AuthZEN batch). After the writer has flushed, the rows are counted per request id:

- ``missing``: answered decisions without their row (lost audit events) — must be 0;
- ``duplicated``: more rows than decisions for a request — must be 0;
- ``unanswered``: rows of requests the client never saw answered (in flight when wrk
  stopped at the end of a run: served and audited, but not counted by the client).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from sark.api.db.engine import create_engine
from sark.api.domain.audit.models import AuditEventRecord
from sark.core.settings import Settings
from tests.load.workload import BY_NAME


@dataclass
class Tally:
    """Decisions and audit rows of one endpoint class."""

    endpoint: str
    answered: int = 0
    decisions: int = 0
    rows_matched: int = 0
    missing: int = 0
    duplicated: int = 0
    unanswered_rows: int = 0


def answered_ids(prefixes: list[Path]) -> set[str]:
    """Request ids the client got a 2xx for (every thread's file of every run)."""
    ids: set[str] = set()
    for prefix in prefixes:
        for path in prefix.parent.glob(prefix.name + ".*"):
            ids.update(line for line in path.read_text().splitlines() if line)
    return ids


async def _rows(settings: Settings) -> Counter[str]:
    engine = create_engine(settings.database)
    try:
        query = (
            select(AuditEventRecord.request_id, func.count())
            .where(AuditEventRecord.kind == "decision")
            .where(AuditEventRecord.request_id.like("ld-%"))
            .group_by(AuditEventRecord.request_id)
        )
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).all()
    finally:
        await engine.dispose()
    return Counter({str(r[0]): int(r[1]) for r in rows})


async def _fail_closed(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings.database)
    try:
        query = (
            select(AuditEventRecord.reason, func.count())
            .where(AuditEventRecord.kind == "decision")
            .where(AuditEventRecord.request_id.like("ld-%"))
            .where(AuditEventRecord.engine == "none")
            .group_by(AuditEventRecord.reason)
        )
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).all()
    finally:
        await engine.dispose()
    return {str(r[0]): int(r[1]) for r in rows}


def fail_closed(settings: Settings) -> dict[str, int]:
    """Denies of the workload no engine made (fail-closed: timeout, engine error ...), by reason."""
    return asyncio.run(_fail_closed(settings))


def wait_flushed(settings: Settings, *, quiet: float = 5.0, limit: float = 180.0) -> Counter[str]:
    """Rows per request id once their count stopped changing for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    last = asyncio.run(_rows(settings))
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = asyncio.run(_rows(settings))
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            break
    return last


def reconcile(rows: Counter[str], answered: dict[str, list[Path]]) -> list[Tally]:
    """Compare the rows with the answers of each decision endpoint class."""
    tallies = []
    for name, prefixes in answered.items():
        per_request = BY_NAME[name].decisions_per_request
        ids = answered_ids(prefixes)
        tally = Tally(name, answered=len(ids), decisions=len(ids) * per_request)
        for request_id in ids:
            found = rows.get(request_id, 0)
            tally.rows_matched += min(found, per_request)
            tally.missing += max(0, per_request - found)
            tally.duplicated += max(0, found - per_request)
        marker = f"ld-{name}-"
        tally.unanswered_rows = sum(
            n for request_id, n in rows.items() if request_id.startswith(marker)
            and request_id not in ids
        )  # fmt: skip
        tallies.append(tally)
    return tallies
