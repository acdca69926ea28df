"""Registry -> catalog: servers and tools of the MCP Gateway Registry, marked ``origin=gateway``.

- a registry server not in the catalog is added (status ``active``, owner ``gateway``);
- a catalog server of origin ``gateway`` is updated (endpoint, description, tags) and its
  tools reconciled with the catalog's discovery rules (drift raises sensitivity, removed
  tools are kept as ``removed``); servers the registry no longer lists, or lists as
  disabled, are decommissioned;
- a catalog server with the same name but another origin (registered by a person) is
  never touched: it is reported as ``skipped``.
Every sync is audited (``kind=catalog``, ``action=gateway.sync``).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.catalog._tools import apply_discovery, new_tool
from sark.api.domain.catalog.discovery import DiscoveredTool
from sark.api.domain.catalog.models import Server, Tool
from sark.api.domain.catalog.services import refresh_facts
from sark.api.observability.logging import request_id_var
from sark.core.errors import DependencyUnavailableError
from sark.core.models import AuditEvent, Sensitivity
from sark.gateway.schemas import SyncResult

if TYPE_CHECKING:
    from sark.api.runtime import Runtime
    from sark.gateway.client import RegistryClient
    from sark.gateway.metrics import GatewayMetrics

ORIGIN = "gateway"
DEFAULT_SENSITIVITY = Sensitivity.MEDIUM.value
_NAME_OK = re.compile(r"[^A-Za-z0-9._:@-]+")


def server_name(entry: dict[str, Any]) -> str | None:
    """The catalog name of a registry entry (its ``server_name``, else its ``path``)."""
    raw = entry.get("server_name") or entry.get("name") or entry.get("path")
    if not isinstance(raw, str):
        return None
    name = _NAME_OK.sub("-", raw.strip().strip("/")).strip("-._:@")
    return name[:255] or None


def _level(entry: dict[str, Any]) -> str:
    level = entry.get("sensitivity_level")
    return level if level in {s.value for s in Sensitivity} else DEFAULT_SENSITIVITY


def _tool(raw: dict[str, Any]) -> DiscoveredTool | None:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        return None
    schema = raw.get("inputSchema", raw.get("input_schema", raw.get("schema", {})))
    annotations = raw.get("annotations")
    return DiscoveredTool(
        name=name[:255],
        description=str(raw.get("description") or ""),
        input_schema=schema if isinstance(schema, dict) else {},
        annotations=annotations if isinstance(annotations, dict) else {},
    )


class RegistrySync:
    """Runs syncs one at a time."""

    def __init__(self, client: RegistryClient, runtime: Runtime, metrics: GatewayMetrics) -> None:
        """Sync from ``client`` into ``runtime``'s catalog."""
        self.client = client
        self.runtime = runtime
        self.metrics = metrics
        self._lock = asyncio.Lock()

    async def run(self, *, actor: str) -> SyncResult:
        """Fetch the registry and apply it to the catalog."""
        async with self._lock:
            try:
                listed = await self._fetch()
                result = await self._apply(listed)
            except DependencyUnavailableError:
                self.metrics.sync.labels("error").inc()
                raise
            self.metrics.sync.labels("ok").inc()
        await refresh_facts(self.runtime)
        self.runtime.audit.record(
            AuditEvent(
                kind="catalog",
                action="gateway.sync",
                occurred_at=time.time(),
                principal_id=actor,
                resource="gateway-registry",
                allow=True,
                request_id=request_id_var.get(None),
                details={
                    "created": result.created,
                    "updated": result.updated,
                    "removed": result.removed,
                    "skipped": result.skipped,
                },
            )
        )
        return result

    async def _fetch(self) -> dict[str, tuple[dict[str, Any], list[DiscoveredTool]]]:
        listed: dict[str, tuple[dict[str, Any], list[DiscoveredTool]]] = {}
        for entry in await self.client.servers():
            name = server_name(entry)
            if name is None or entry.get("is_enabled") is False:
                continue
            path = entry.get("path") if isinstance(entry.get("path"), str) else name
            tools = [t for t in map(_tool, await self.client.tools(str(path))) if t is not None]
            listed[name] = (entry, tools)
        return listed

    async def _apply(
        self, listed: dict[str, tuple[dict[str, Any], list[DiscoveredTool]]]
    ) -> SyncResult:
        result = SyncResult(
            servers_seen=len(listed), created=[], updated=[], unchanged=[], removed=[], skipped=[]
        )
        async with AsyncSession(self.runtime.engine, expire_on_commit=False) as session:
            existing = {s.name: s for s in (await session.execute(select(Server))).scalars()}
            for name, (entry, tools) in sorted(listed.items()):
                server = existing.get(name)
                if server is None:
                    self._create(session, name, entry, tools)
                    result.created.append(name)
                elif server.origin != ORIGIN:
                    result.skipped.append(name)
                elif await self._update(session, server, entry, tools):
                    result.updated.append(name)
                else:
                    result.unchanged.append(name)
            for name, server in sorted(existing.items()):
                if server.origin == ORIGIN and name not in listed and server.status == "active":
                    server.status = "decommissioned"
                    server.version += 1
                    result.removed.append(name)
            await session.commit()
        return result

    @staticmethod
    def _create(
        session: AsyncSession, name: str, entry: dict[str, Any], tools: list[DiscoveredTool]
    ) -> None:
        server = Server(
            id=uuid.uuid4(), name=name, description=str(entry.get("description") or ""),
            transport="http", endpoint=_endpoint(entry), command=None, args=[],
            sensitivity_level=_level(entry), team=None, owner=ORIGIN,
            tags=sorted({str(t) for t in entry.get("tags") or [] if isinstance(t, str)}),
            status="active", origin=ORIGIN, version=1,
        )  # fmt: skip
        session.add(server)
        seen: set[str] = set()
        for tool in tools:
            if tool.name not in seen:
                seen.add(tool.name)
                session.add(new_tool(server.id, tool))

    @staticmethod
    async def _update(
        session: AsyncSession, server: Server, entry: dict[str, Any], tools: list[DiscoveredTool]
    ) -> bool:
        changed = False
        fields = {
            "endpoint": _endpoint(entry),
            "description": str(entry.get("description") or ""),
            "tags": sorted({str(t) for t in entry.get("tags") or [] if isinstance(t, str)}),
            "status": "active",
        }
        for key, value in fields.items():
            if getattr(server, key) != value:
                setattr(server, key, value)
                changed = True
        current = list(
            (await session.execute(select(Tool).where(Tool.server_id == server.id))).scalars()
        )
        unique = list({t.name: t for t in tools}.values())
        outcome = apply_discovery(server.id, current, unique)
        if outcome.modified:
            session.add_all(outcome.new_tools)
            session.add_all(outcome.history)
            changed = True
        if changed:
            server.version += 1
        return changed


def _endpoint(entry: dict[str, Any]) -> str | None:
    url = entry.get("proxy_pass_url") or entry.get("url") or entry.get("endpoint")
    return str(url)[:2048] if isinstance(url, str) and url else None
