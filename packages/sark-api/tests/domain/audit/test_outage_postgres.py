"""A real PostgreSQL outage: the server is stopped while events flow, then restarted."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest
from tests.support.app import make_settings, migrate
from tests.support.services import private_postgres

from sark.api.db.engine import create_engine
from sark.api.domain.audit.spool import Spool
from sark.api.domain.audit.writer import AuditWriter
from sark.api.observability.metrics import Telemetry

from .conftest import (
    audit_config,
    eventually,
    make_event,
    sample,
    spooled_files,
    stored_numbers,
)

pytestmark = pytest.mark.postgres


async def test_events_spool_while_postgres_is_stopped_and_replay_in_order(tmp_path: Path) -> None:
    with private_postgres() as server:
        settings = make_settings(tmp_path, {"SARK_DATABASE_URL": server.url})
        await migrate(settings)
        engine = create_engine(settings.database)
        telemetry = Telemetry()
        spool_dir = tmp_path / "audit-spool"
        config = audit_config(settings, batch_size=20, flush_interval_ms=10)
        writer = AuditWriter(engine, Spool(spool_dir), telemetry, config)
        await writer.start()
        try:
            for number in range(100):
                writer.record(make_event(number))
            await writer.flush()
            assert await stored_numbers(engine) == list(range(100))

            await anyio.to_thread.run_sync(server.stop)
            for number in range(100, 300):
                writer.record(make_event(number))
            await writer.flush()
            await eventually(lambda: sample(telemetry, "sark_audit_spooled_total") >= 200, "spool")
            assert writer.spooling
            assert spooled_files(spool_dir)
            lag = sample(telemetry, "sark_audit_lag_seconds")

            await anyio.to_thread.run_sync(server.start)
            await eventually(lambda: not writer.spooling, "replay after restart", within=60)
            for number in range(300, 350):
                writer.record(make_event(number))
            await writer.flush()
        finally:
            await writer.close()
        try:
            assert await stored_numbers(engine) == list(range(350))
        finally:
            await engine.dispose()
        assert not spooled_files(spool_dir)
        assert sample(telemetry, "sark_audit_write_errors_total") >= 1
        assert lag > 0
