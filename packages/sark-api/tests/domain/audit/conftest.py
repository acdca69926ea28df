"""Fixtures of the audit tests: migrated settings, writers, events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.app import migrate

from sark.api.db.engine import create_engine
from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.spool import Spool
from sark.api.domain.audit.writer import AuditWriter
from sark.api.observability.metrics import Telemetry
from sark.core.models import AuditEvent
from sark.core.settings import AuditSettings, Settings


def make_event(number: int, **changes: Any) -> AuditEvent:
    """A decision event numbered ``number`` (kept in ``details``)."""
    values: dict[str, Any] = {
        "kind": "decision",
        "action": "tool:invoke",
        "occurred_at": time.time(),
        "principal_id": "u-1",
        "principal_type": "user",
        "principal_role": "developer",
        "resource": f"postgres-mcp/tool{number}",
        "allow": number % 2 == 0,
        "reason": "ok" if number % 2 == 0 else "denied_by_rule",
        "decision_id": f"d-{number}",
        "engine": "opa",
        "policy_revision": "rev1",
        "details": {"n": number},
    }
    values.update(changes)
    return AuditEvent(**values)


def audit_config(settings: Settings, **changes: Any) -> AuditSettings:
    """The audit settings of ``settings`` with ``changes``."""
    return msgspec.structs.replace(settings.audit, **changes)


async def stored_numbers(engine: AsyncEngine) -> list[int]:
    """``details.n`` of every stored event, in sequence order."""
    async with engine.connect() as connection:
        result = await connection.execute(
            select(audit_events.c.details).order_by(audit_events.c.seq)
        )
        return [row.details["n"] for row in result]


async def eventually(check: Callable[[], Any], what: str, within: float = 30.0) -> None:
    """Poll the (async or sync) ``check`` until it is truthy."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def spooled_files(directory: Path) -> list[Path]:
    """Every spool segment under ``directory``."""
    return sorted(directory.rglob("*.jsonl"))


def spooled_lines(directory: Path) -> int:
    """Events spooled under ``directory``."""
    return sum(len(path.read_bytes().splitlines()) for path in spooled_files(directory))


def sample(telemetry: Telemetry, name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of a metric sample (0 when absent)."""
    value = telemetry.registry.get_sample_value(name, labels or {})
    return float(value or 0.0)


@pytest.fixture(name="migrated")
async def fixture_migrated(settings: Settings) -> Settings:
    """Settings on the parametrised backend, with the schema migrated."""
    await migrate(settings)
    return settings


@pytest.fixture(name="engine")
async def fixture_engine(migrated: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the migrated database."""
    engine = create_engine(migrated.database)
    yield engine
    await engine.dispose()


@pytest.fixture(name="spool_dir")
def fixture_spool_dir(tmp_path: Path) -> Path:
    """Where the test's writers spool."""
    return tmp_path / "audit-spool"


@pytest.fixture(name="make_writer")
def fixture_make_writer(
    migrated: Settings, engine: AsyncEngine, spool_dir: Path
) -> Callable[..., AuditWriter]:
    """Build (not start) writers on the test database; ``changes`` alter AuditSettings."""

    def build(telemetry: Telemetry | None = None, **changes: Any) -> AuditWriter:
        return AuditWriter(
            engine, Spool(spool_dir), telemetry or Telemetry(), audit_config(migrated, **changes)
        )

    return build
