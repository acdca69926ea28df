"""HTTP endpoints of the catalog: servers, tools, sensitivity overrides, live discovery."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from sark.api.domain.catalog.deps import provide_server_service, provide_tool_service
from sark.api.domain.catalog.schemas import (
    DiscoveryResult,
    SensitivityChange,
    SensitivityOverride,
    Server,
    ServerCreate,
    ServerPage,
    ServerUpdate,
    Tag,
    Tool,
    ToolPage,
)
from sark.api.domain.catalog.services import ServerFilters, ServerService
from sark.api.domain.catalog.tool_services import ToolFilters, ToolService
from sark.api.domain.catalog.views import change_view, server_view, tool_view
from sark.api.domain.identity.guards import require_scope
from sark.core.models import Principal, Sensitivity

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size (at most 200).")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page.")]
Search = Annotated[
    str | None, QueryParameter(max_length=200, description="Text in name or description.")
]
READ = [require_scope("server:read")]
WRITE = [require_scope("server:write")]


class ServerController(Controller):
    """MCP servers: register, list, get, update, decommission, discover."""

    path = "/api/v1/servers"
    tags = ["catalog"]
    dependencies = {
        "servers": Provide(provide_server_service, sync_to_thread=False),
    }

    @post("/", operation_id="registerServer", guards=WRITE)
    async def register(
        self,
        data: JSONBody[ServerCreate],
        servers: NamedDependency[ServerService],
        principal: NamedDependency[Principal],
    ) -> Server:
        """Register a server with its tools (policy decision ``server:register``)."""
        server = await servers.register(principal, data)
        tools = await servers.tools_of([server.id])
        return server_view(server, tools[server.id])

    @get("/", operation_id="listServers", guards=READ)
    async def list_servers(
        self,
        *,
        servers: NamedDependency[ServerService],
        principal: NamedDependency[Principal],
        sensitivity: FromQuery[Sensitivity | None] = None,
        team: FromQuery[str | None] = None,
        owner: FromQuery[str | None] = None,
        tag: FromQuery[Tag | None] = None,
        q: Search = None,
        status: FromQuery[Literal["active", "decommissioned"] | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> ServerPage:
        """Servers the caller may read, filtered, in name order (decommissioned: by status)."""
        filters = ServerFilters(
            sensitivity=sensitivity.value if sensitivity else None,
            team=team, owner=owner, tag=tag, q=q, status=status,
        )  # fmt: skip
        page, next_cursor = await servers.list_visible(
            principal, filters, cursor=cursor, limit=limit
        )
        tools = await servers.tools_of([server.id for server in page])
        return ServerPage(
            items=[server_view(server, tools[server.id]) for server in page],
            next_cursor=next_cursor,
        )

    @get("/{server:str}", operation_id="getServer", guards=READ)
    async def get_server(
        self,
        server: FromPath[str],
        servers: NamedDependency[ServerService],
        principal: NamedDependency[Principal],
    ) -> Server:
        """One server by id or name, with its tools."""
        found = await servers.get_visible(principal, server)
        tools = await servers.tools_of([found.id])
        return server_view(found, tools[found.id])

    @patch("/{server:str}", operation_id="updateServer", guards=WRITE)
    async def update_server(
        self,
        server: FromPath[str],
        data: JSONBody[ServerUpdate],
        servers: NamedDependency[ServerService],
        principal: NamedDependency[Principal],
    ) -> Server:
        """Change a server (policy decision ``server:update``)."""
        updated = await servers.edit(principal, server, data)
        tools = await servers.tools_of([updated.id])
        return server_view(updated, tools[updated.id])

    @delete("/{server:str}", operation_id="decommissionServer", guards=WRITE, status_code=200)
    async def decommission_server(
        self,
        server: FromPath[str],
        servers: NamedDependency[ServerService],
        principal: NamedDependency[Principal],
    ) -> Server:
        """Decommission a server (``server:delete``); it and its history are kept."""
        gone = await servers.decommission(principal, server)
        tools = await servers.tools_of([gone.id])
        return server_view(gone, tools[gone.id])

    @post("/{server:str}/discover", operation_id="discoverServer", guards=WRITE, status_code=200)
    async def discover(
        self,
        server: FromPath[str],
        servers: NamedDependency[ServerService],
        principal: NamedDependency[Principal],
    ) -> DiscoveryResult:
        """Connect to the server, list its tools and update the catalog (drift included)."""
        return await servers.discover(principal, server)


class ToolController(Controller):
    """Tools: list, get, sensitivity override and its history."""

    path = "/api/v1/tools"
    tags = ["catalog"]
    dependencies = {
        "tools": Provide(provide_tool_service, sync_to_thread=False),
    }

    @get("/", operation_id="listTools", guards=READ)
    async def list_tools(
        self,
        *,
        tools: NamedDependency[ToolService],
        principal: NamedDependency[Principal],
        server_id: FromQuery[uuid.UUID | None] = None,
        sensitivity: FromQuery[Sensitivity | None] = None,
        team: FromQuery[str | None] = None,
        drifted: FromQuery[bool | None] = None,
        q: Search = None,
        status: FromQuery[Literal["active", "removed"] | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> ToolPage:
        """Tools of servers the caller may read; ``sensitivity`` filters the effective level."""
        filters = ToolFilters(
            server=server_id, sensitivity=sensitivity.value if sensitivity else None,
            team=team, drifted=drifted, q=q, status=status,
        )  # fmt: skip
        page, next_cursor = await tools.list_visible(principal, filters, cursor=cursor, limit=limit)
        return ToolPage(
            items=[tool_view(tool, server.name) for tool, server in page], next_cursor=next_cursor
        )

    @get("/{tool_id:uuid}", operation_id="getTool", guards=READ)
    async def get_tool(
        self,
        tool_id: FromPath[uuid.UUID],
        tools: NamedDependency[ToolService],
        principal: NamedDependency[Principal],
    ) -> Tool:
        """One tool, with its sensitivity and the rule that derived it."""
        tool, server = await tools.get_visible(principal, tool_id)
        return tool_view(tool, server.name)

    @patch("/{tool_id:uuid}/sensitivity", operation_id="overrideToolSensitivity", guards=WRITE)
    async def override_sensitivity(
        self,
        tool_id: FromPath[uuid.UUID],
        data: JSONBody[SensitivityOverride],
        tools: NamedDependency[ToolService],
        principal: NamedDependency[Principal],
    ) -> Tool:
        """Set or clear (null) a tool's sensitivity override (``tool:update``), with a reason."""
        tool, server = await tools.override(principal, tool_id, data.sensitivity_level, data.reason)
        return tool_view(tool, server.name)

    @get(
        "/{tool_id:uuid}/sensitivity-history",
        operation_id="getToolSensitivityHistory",
        guards=READ,
    )
    async def sensitivity_history(
        self,
        tool_id: FromPath[uuid.UUID],
        tools: NamedDependency[ToolService],
        principal: NamedDependency[Principal],
    ) -> list[SensitivityChange]:
        """Who changed the tool's sensitivity, from what to what, and why."""
        return [change_view(change) for change in await tools.history(principal, tool_id)]
