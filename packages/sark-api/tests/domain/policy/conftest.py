"""Fixtures of the decision-path tests: runtimes on real OPA and a real catalog."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from tests.support.app import make_settings, migrate

from sark.api.domain.audit.sink import AuditSink
from sark.api.domain.catalog.models import Server, Tool
from sark.api.resources import default_bundle_dir
from sark.api.runtime import Runtime
from sark.core.models import AuditEvent, Principal, PrincipalType, Role
from sark.core.settings import Settings


class RecordingSink:
    """An AuditSink (the documented seam) that keeps what it receives and passes it on."""

    def __init__(self, inner: AuditSink) -> None:
        self.inner = inner
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)
        self.inner.record(event)

    def decisions(self) -> list[AuditEvent]:
        return [e for e in self.events if e.kind == "decision"]


def principal(
    role: str = "developer", teams: Iterable[str] = (), subject_id: str = "u-1", **kw: Any
) -> Principal:
    return Principal(
        id=subject_id, type=PrincipalType.USER, role=Role(role), teams=tuple(teams), **kw
    )


@pytest.fixture(name="bundle_dir")
def fixture_bundle_dir(tmp_path: Path) -> Path:
    """A private copy of the default bundle (tests may edit it)."""
    target = tmp_path / "bundle"
    shutil.copytree(default_bundle_dir(), target)
    return target


async def add_server(
    runtime: Runtime,
    name: str,
    level: str,
    tools: dict[str, str | None],
    *,
    team: str | None = None,
    owner: str | None = None,
    requires_approval: bool = False,
) -> None:
    """Insert a server and its tools, then refresh the catalog snapshot."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(runtime.engine, expire_on_commit=False) as session:
        server = Server(
            name=name, transport="http", endpoint="http://127.0.0.1:1/mcp",
            sensitivity_level=level, team=team, owner=owner, tags=[], args=[],
        )  # fmt: skip
        session.add(server)
        await session.flush()
        for tool_name, tool_level in tools.items():
            session.add(
                Tool(
                    server_id=server.id,
                    name=tool_name,
                    sensitivity_level=tool_level,
                    derived_sensitivity=tool_level or level,
                    definition_hash="0" * 64,
                    requires_approval=requires_approval,
                    input_schema={},
                    annotations={},
                )
            )
        await session.commit()
    await runtime.catalog.refresh()


async def start_runtime(settings: Settings) -> tuple[Runtime, RecordingSink]:
    await migrate(settings)
    runtime = Runtime.build(settings)
    await runtime.start()
    sink = RecordingSink(runtime.audit)
    runtime.audit = sink
    return runtime, sink


async def stop_runtime(runtime: Runtime) -> None:
    if isinstance(runtime.audit, RecordingSink):
        runtime.audit = runtime.audit.inner
    await runtime.close()


@pytest.fixture(name="opa_settings")
def fixture_opa_settings(
    tmp_path: Path, database_url: str, opa_url: str, bundle_dir: Path
) -> Settings:
    """Settings on the parametrised database with the session OPA server."""
    return make_settings(
        tmp_path,
        {
            "SARK_DATABASE_URL": database_url,
            "SARK_OPA_URL": opa_url,
            "SARK_POLICY_PATH": str(bundle_dir),
        },
    )


@pytest.fixture(name="opa_runtime")
async def fixture_opa_runtime(
    opa_settings: Settings,
) -> AsyncIterator[tuple[Runtime, RecordingSink]]:
    """A started runtime deciding on OPA, with a recording audit sink."""
    runtime, sink = await start_runtime(opa_settings)
    try:
        yield runtime, sink
    finally:
        await stop_runtime(runtime)
