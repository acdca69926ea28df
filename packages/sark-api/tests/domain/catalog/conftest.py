"""Fixtures of the catalog tests: a started runtime (OPA engine), services, principals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.support.app import make_settings, migrate

from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.writer import AuditWriter
from sark.api.domain.catalog.schemas import ServerCreate, ToolCreate
from sark.api.domain.catalog.services import ServerService
from sark.api.domain.catalog.tool_services import ToolService
from sark.api.runtime import Runtime
from sark.core.models import Principal, PrincipalType, Role, Sensitivity
from sark.core.settings import Settings

ADMIN = Principal(id="u-admin", type=PrincipalType.USER, role=Role.ADMIN)
LEAD = Principal(id="u-lead", type=PrincipalType.USER, role=Role.TEAM_LEAD, teams=("payments",))
DEV = Principal(id="u-dev", type=PrincipalType.USER, role=Role.DEVELOPER, teams=("payments",))
OTHER_DEV = Principal(id="u-dev2", type=PrincipalType.USER, role=Role.DEVELOPER, teams=("search",))
VIEWER = Principal(id="u-viewer", type=PrincipalType.USER, role=Role.VIEWER, teams=("payments",))


def server_create(name: str, level: str = "medium", **kwargs: object) -> ServerCreate:
    """A registration body for an HTTP server."""
    body: dict[str, object] = {
        "name": name,
        "transport": "http",
        "endpoint": f"http://127.0.0.1:1/{name}",
        "sensitivity_level": Sensitivity(level),
        "team": "payments",
    }
    body.update(kwargs)
    return ServerCreate(**body)  # type: ignore[arg-type]


def tool(name: str, **kwargs: object) -> ToolCreate:
    """A tool declaration."""
    return ToolCreate(name=name, **kwargs)  # type: ignore[arg-type]


@dataclass
class Catalog:
    """The catalog services on one session of a started runtime."""

    runtime: Runtime
    servers: ServerService
    tools: ToolService


@pytest.fixture(name="catalog_settings")
def fixture_catalog_settings(tmp_path: Path, database_url: str, opa_url: str) -> Settings:
    return make_settings(tmp_path, {"SARK_DATABASE_URL": database_url, "SARK_OPA_URL": opa_url})


@pytest.fixture(name="runtime")
async def fixture_runtime(catalog_settings: Settings) -> AsyncIterator[Runtime]:
    await migrate(catalog_settings)
    runtime = Runtime.build(catalog_settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture(name="catalog")
async def fixture_catalog(runtime: Runtime) -> AsyncIterator[Catalog]:
    async with AsyncSession(runtime.engine, expire_on_commit=False) as session:
        yield Catalog(
            runtime=runtime,
            servers=ServerService(session=session, runtime=runtime),
            tools=ToolService(session=session, runtime=runtime),
        )


async def catalog_audit(runtime: Runtime, action: str) -> list[dict[str, Any]]:
    """Catalog events with ``action`` in the audit trail (the writer flushed first)."""
    assert isinstance(runtime.audit, AuditWriter)
    await runtime.audit.flush()
    query = (
        select(audit_events)
        .where(audit_events.c.kind == "catalog", audit_events.c.action == action)
        .order_by(audit_events.c.seq)
    )
    async with runtime.engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(query)).mappings()]
