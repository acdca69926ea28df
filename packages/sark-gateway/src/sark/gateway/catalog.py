"""Reads of the catalog the gateway endpoints need (listing, lookups by tool or endpoint).

The decision path itself resolves facts through ``runtime.catalog``; these queries only
enumerate candidates (which are then decided in one batch) and find a server by one of
its tools or by its endpoint URL, cached per catalog generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.catalog.facts import effective_level
from sark.api.domain.catalog.models import Server, Tool


@dataclass(frozen=True, slots=True)
class ServerRow:
    """A catalogued server, as listed."""

    id: str
    name: str
    description: str
    transport: str
    endpoint: str | None
    sensitivity_level: str
    team: str | None
    tags: list[str]
    origin: str


@dataclass(frozen=True, slots=True)
class ToolRow:
    """A catalogued tool, as listed."""

    server_id: str
    server_name: str
    name: str
    description: str
    input_schema: dict[str, Any]
    sensitivity_level: str


async def active_servers(engine: AsyncEngine, name: str | None = None) -> list[ServerRow]:
    """Active servers in name order (one, when ``name`` names one)."""
    query = select(Server).where(Server.status == "active").order_by(Server.name)
    if name is not None:
        query = query.where(Server.name == name)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [
        ServerRow(
            id=str(r.id),
            name=r.name,
            description=r.description or "",
            transport=r.transport,
            endpoint=r.endpoint,
            sensitivity_level=r.sensitivity_level,
            team=r.team,
            tags=list(r.tags or ()),
            origin=r.origin,
        )
        for r in rows
    ]


async def active_tools(engine: AsyncEngine, servers: list[ServerRow]) -> list[ToolRow]:
    """Active tools of ``servers``, by server then tool name."""
    if not servers:
        return []
    names = {s.id: s.name for s in servers}
    ids = [s.id for s in servers]
    query = (
        select(Tool)
        .where(Tool.status == "active")
        .where(Tool.server_id.in_([_uuid(i) for i in ids]))
        .order_by(Tool.name)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    tools = [
        ToolRow(
            server_id=str(r.server_id),
            server_name=names[str(r.server_id)],
            name=r.name,
            description=r.description or "",
            input_schema=dict(r.input_schema or {}),
            sensitivity_level=effective_level(r),
        )
        for r in rows
    ]
    return sorted(tools, key=lambda t: (t.server_name, t.name))


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


class CatalogIndex:
    """Servers by tool name and by endpoint, rebuilt when the catalog generation changes."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Read through ``engine``."""
        self._engine = engine
        self._generation: object = None
        self._by_tool: dict[str, list[str]] = {}
        self._by_endpoint: dict[str, str] = {}

    async def _refresh(self, generation: object) -> None:
        if generation is not None and generation == self._generation:
            return
        query = (
            select(Tool.name, Server.name)
            .join(Server, Server.id == Tool.server_id)
            .where(Tool.status == "active")
            .where(Server.status == "active")
        )
        by_tool: dict[str, list[str]] = {}
        by_endpoint: dict[str, str] = {}
        async with self._engine.connect() as connection:
            for tool_name, server_name in (await connection.execute(query)).all():
                by_tool.setdefault(tool_name, []).append(server_name)
            endpoints = select(Server.endpoint, Server.name).where(Server.status == "active")
            for endpoint, server_name in (await connection.execute(endpoints)).all():
                if endpoint:
                    by_endpoint[endpoint.rstrip("/")] = server_name
        self._by_tool = {k: sorted(v) for k, v in by_tool.items()}
        self._by_endpoint = by_endpoint
        self._generation = generation

    async def servers_with_tool(self, tool: str, generation: object) -> list[str]:
        """Names of the active servers offering ``tool``."""
        await self._refresh(generation)
        return self._by_tool.get(tool, [])

    async def server_at(self, endpoint: str, generation: object) -> str | None:
        """Name of the active server whose endpoint is ``endpoint``."""
        await self._refresh(generation)
        return self._by_endpoint.get(endpoint.rstrip("/"))
