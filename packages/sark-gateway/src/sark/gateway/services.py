"""The gateway endpoints' work: decisions through the one decision service, audit storage."""

from __future__ import annotations

import datetime
import time
import uuid
from typing import Any

from sqlalchemy import insert

from sark.api.domain.policy.services import DecisionRequest
from sark.api.observability.logging import request_id_var
from sark.api.runtime import Runtime
from sark.core.errors import PermissionDeniedError
from sark.core.models import AuditEvent, Decision, Principal
from sark.gateway import catalog
from sark.gateway.models import GatewayAuditEvent
from sark.gateway.schemas import (
    AuthorizeResponse,
    GatewayAuditIn,
    GatewayAuditOut,
    GatewayServer,
    GatewayTool,
)
from sark.gateway.state import GatewayState

GATEWAY_PACKAGE = "mcp.gateway"
A2A_PACKAGE = "mcp.gateway.a2a"


def response_of(decision: Decision) -> AuthorizeResponse:
    """The HTTP answer for ``decision`` (a deny never carries parameters)."""
    return AuthorizeResponse(
        allow=decision.allow,
        reason=decision.reason,
        filtered_parameters=decision.filtered_parameters if decision.allow else {},
        audit_id=decision.decision_id,
        cache_ttl=decision.cache_ttl if decision.allow else 0,
        obligations=list(decision.obligations),
        policy_revision=decision.policy_revision,
    )


async def authorize(
    state: GatewayState,
    principal: Principal,
    action: str,
    *,
    server: str | None,
    tool: str | None,
    parameters: dict[str, Any],
    context: dict[str, Any],
    client_ip: str | None,
    package: str = GATEWAY_PACKAGE,
    endpoint: str = "authorize",
) -> Decision:
    """Decide one gateway question, counted and timed."""
    started = time.perf_counter()
    decision = await state.runtime.decisions.decide(
        principal, action, server=server, tool=tool, parameters=parameters,
        context=context, package=package, client_ip=client_ip,
    )  # fmt: skip
    metrics = state.metrics
    metrics.count(decision)
    metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
    return decision


async def visible_servers(
    state: GatewayState, principal: Principal, *, include_tools: bool, client_ip: str | None
) -> list[GatewayServer]:
    """Active servers (and tools) the caller may see: one batch of decisions."""
    runtime = state.runtime
    servers = await catalog.active_servers(runtime.engine)
    tools = await catalog.active_tools(runtime.engine, servers) if include_tools else []
    items = [DecisionRequest(action="gateway:server:list", server=s.id) for s in servers]
    items += [
        DecisionRequest(action="gateway:tool:discover", server=t.server_id, tool=t.name)
        for t in tools
    ]
    decisions = await _batch(state, principal, items, client_ip, "servers")
    visible_tools: dict[str, list[GatewayTool]] = {}
    for tool, decision in zip(tools, decisions[len(servers) :], strict=True):
        if decision.allow:
            visible_tools.setdefault(tool.server_id, []).append(_tool(tool))
    return [
        GatewayServer(
            id=s.id,
            name=s.name,
            description=s.description,
            transport=s.transport,
            endpoint=s.endpoint,
            sensitivity_level=s.sensitivity_level,
            team=s.team,
            tags=s.tags,
            origin=s.origin,
            tools=visible_tools.get(s.id, []) if include_tools else None,
        )
        for s, decision in zip(servers, decisions[: len(servers)], strict=True)
        if decision.allow
    ]


async def visible_tools(
    state: GatewayState, principal: Principal, *, server_name: str | None, client_ip: str | None
) -> list[GatewayTool]:
    """Active tools (of one server, or all) the caller may discover: one batch."""
    runtime = state.runtime
    servers = await catalog.active_servers(runtime.engine, server_name)
    tools = await catalog.active_tools(runtime.engine, servers)
    items = [
        DecisionRequest(action="gateway:tool:discover", server=t.server_id, tool=t.name)
        for t in tools
    ]
    decisions = await _batch(state, principal, items, client_ip, "tools")
    return [_tool(t) for t, d in zip(tools, decisions, strict=True) if d.allow]


async def _batch(
    state: GatewayState,
    principal: Principal,
    items: list[DecisionRequest],
    client_ip: str | None,
    endpoint: str,
) -> list[Decision]:
    started = time.perf_counter()
    decisions = await state.runtime.decisions.decide_many(
        principal, items, package=GATEWAY_PACKAGE, client_ip=client_ip
    )
    state.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
    return decisions


def _tool(tool: catalog.ToolRow) -> GatewayTool:
    return GatewayTool(
        name=tool.name,
        server_name=tool.server_name,
        sensitivity_level=tool.sensitivity_level,
        description=tool.description,
        input_schema=tool.input_schema,
    )


async def ingest_audit(
    state: GatewayState, principal: Principal, event: GatewayAuditIn, client_ip: str | None
) -> GatewayAuditOut:
    """Store an event reported by the gateway (decision ``gateway:audit:write`` first)."""
    runtime: Runtime = state.runtime
    decision = await runtime.decisions.decide(
        principal, "gateway:audit:write", package=GATEWAY_PACKAGE, client_ip=client_ip,
        context={"event_type": event.event_type},
    )  # fmt: skip
    if not decision.allow:
        raise PermissionDeniedError(f"gateway audit events cannot be written: {decision.reason}")
    now = datetime.datetime.now(datetime.UTC)
    row_id = uuid.uuid4()
    allow = (
        None if event.authorization_decision is None else event.authorization_decision == "allow"
    )
    values = {
        "id": row_id,
        "event_type": event.event_type,
        "occurred_at": event.timestamp or now,
        "reported_by": principal.id,
        "user_id": event.user_id,
        "agent_id": event.agent_id,
        "server_name": event.server_name,
        "tool_name": event.tool_name,
        "allow": allow,
        "decision_id": event.audit_id,
        "gateway_request_id": event.request_id,
        "message": event.message,
        "details": event.metadata,
        "created_at": now,
        "updated_at": now,
    }
    async with runtime.engine.begin() as connection:
        await connection.execute(insert(GatewayAuditEvent).values(**values))
    state.metrics.audit_events.labels(event.event_type).inc()
    runtime.audit.record(
        AuditEvent(
            kind="gateway",
            action=f"gateway.event.{event.event_type}",
            occurred_at=time.time(),
            principal_id=principal.id,
            principal_type=str(principal.type),
            principal_role=str(principal.role),
            resource=_label(event.server_name, event.tool_name),
            allow=allow,
            reason=event.message[:200],
            decision_id=event.audit_id,
            request_id=request_id_var.get(None),
            client_ip=client_ip,
            details={
                "gateway_audit_id": str(row_id),
                "user_id": event.user_id,
                "agent_id": event.agent_id,
                "gateway_request_id": event.request_id,
            },
        )
    )
    return GatewayAuditOut(audit_id=str(row_id), status="logged", timestamp=now)


def _label(server: str | None, tool: str | None) -> str | None:
    if server is None:
        return None
    return f"{server}/{tool}" if tool else server
