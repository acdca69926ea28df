"""``/api/v1/gateway``: authorization for an MCP gateway, visible servers and tools, events."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from sark.api.domain.identity.deps import caller
from sark.core.errors import DependencyUnavailableError
from sark.core.models import Principal
from sark.gateway import services
from sark.gateway.auth import admin_caller, audit_writer, gateway_caller, state_of
from sark.gateway.controllers._deps import client_ip
from sark.gateway.schemas import (
    AuthorizeRequest,
    AuthorizeResponse,
    GatewayAuditIn,
    GatewayAuditOut,
    ServerList,
    SyncResult,
    ToolList,
)


class GatewayController(Controller):
    """Endpoints an MCP gateway calls (503 while ``GATEWAY_ENABLED`` is off)."""

    path = "/api/v1/gateway"
    tags = ["gateway"]  # noqa: RUF012

    @post(
        "/authorize", operation_id="gatewayAuthorize", before_request=gateway_caller,
        status_code=200,
    )  # fmt: skip
    async def authorize(
        self, request: Request[Any, Any, Any], data: JSONBody[AuthorizeRequest]
    ) -> AuthorizeResponse:
        """Decide a gateway request with the ``mcp.gateway`` policy (audited)."""
        gateway = state_of(request)
        context = dict(data.context)
        context["gateway"] = data.gateway_metadata or None
        decision = await services.authorize(
            gateway, caller(request), data.action, server=data.server_name, tool=data.tool_name,
            parameters=data.parameters, context=context, client_ip=client_ip(request),
        )  # fmt: skip
        return services.response_of(decision)

    @get("/servers", operation_id="gatewayListServers", before_request=gateway_caller)
    async def servers(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        include_tools: FromQuery[bool] = False,
    ) -> ServerList:
        """Active servers the caller may see (``gateway:server:list``), tools optionally."""
        found = await services.visible_servers(
            state_of(request), principal, include_tools=include_tools, client_ip=client_ip(request)
        )
        return ServerList(servers=found)

    @get("/tools", operation_id="gatewayListTools", before_request=gateway_caller)
    async def tools(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        server_name: FromQuery[str | None] = None,
    ) -> ToolList:
        """Active tools the caller may discover (``gateway:tool:discover``)."""
        found = await services.visible_tools(
            state_of(request), principal, server_name=server_name, client_ip=client_ip(request)
        )
        return ToolList(tools=found)

    @post("/audit", operation_id="gatewayAudit", before_request=audit_writer, status_code=201)
    async def audit(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[GatewayAuditIn],
        principal: NamedDependency[Principal],
    ) -> GatewayAuditOut:
        """Store an event reported by the gateway (``GATEWAY_API_KEY`` or ``gateway`` scope)."""
        return await services.ingest_audit(state_of(request), principal, data, client_ip(request))

    @post("/sync", operation_id="gatewaySync", before_request=admin_caller, status_code=200)
    async def sync(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
    ) -> SyncResult:
        """Sync servers and tools from the MCP Gateway Registry into the catalog now."""
        sync = state_of(request).sync
        if sync is None:
            raise DependencyUnavailableError(
                "no MCP Gateway Registry is configured: set GATEWAY_URL to sync from it"
            )
        return await sync.run(actor=principal.id)
