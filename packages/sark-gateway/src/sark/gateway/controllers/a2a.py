"""Agent-to-agent authorization and agent tokens (503 while ``A2A_ENABLED`` is off)."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.params import JSONBody

from sark.api.domain.identity.deps import caller
from sark.core.errors import PermissionDeniedError, ValidationError
from sark.core.models import AuditEvent, Principal, PrincipalType, Role
from sark.gateway import services
from sark.gateway.auth import a2a_caller, authenticate, state_of
from sark.gateway.controllers._deps import client_ip
from sark.gateway.schemas import (
    A2AAuthorizeRequest,
    A2AAuthorizeResponse,
    AgentToken,
    AgentTokenRequest,
    TargetAgent,
)
from sark.gateway.state import GatewayState


async def a2a_admin(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """A2A on, then an admin."""
    state_of(connection).require_a2a()
    principal = await authenticate(connection)
    if principal.role is not Role.ADMIN or not principal.has_scope("admin"):
        raise PermissionDeniedError("issuing agent tokens needs the admin role")


def _target(gateway: GatewayState, target: TargetAgent) -> dict[str, Any]:
    if target.token is not None:
        proven = gateway.agents.verify(target.token).attributes
        return {
            "id": proven["agent_id"], "type": proven["agent_type"],
            "trust_level": proven["trust_level"], "environment": proven["environment"],
            "capabilities": proven["capabilities"], "verified": True,
        }  # fmt: skip
    return {
        "id": target.id, "type": target.type, "trust_level": target.trust_level,
        "environment": target.environment, "capabilities": list(target.capabilities),
        "verified": False,
    }  # fmt: skip


class A2AController(Controller):
    """``/api/v1/gateway``: the agent-to-agent endpoints."""

    path = "/api/v1/gateway"
    tags = ["gateway", "a2a"]  # noqa: RUF012

    @post(
        "/authorize-a2a",
        operation_id="gatewayAuthorizeA2A",
        before_request=a2a_caller,
        status_code=200,
    )
    async def authorize_a2a(
        self, request: Request[Any, Any, Any], data: JSONBody[A2AAuthorizeRequest]
    ) -> A2AAuthorizeResponse:
        """Decide an agent-to-agent call with the ``mcp.gateway.a2a`` policy (audited).

        The source agent is the caller's agent token, or ``agent_token`` when a gateway
        asks for it. The target's facts are trusted (``verified``) only when its own
        token is given.
        """
        gateway = state_of(request)
        source = caller(request)
        if data.agent_token is not None:
            source = gateway.agents.verify(data.agent_token)
        if source.type is not PrincipalType.AGENT:
            raise ValidationError(
                "the source agent is unknown: call with an agent token, or pass agent_token"
            )
        context = dict(data.context)
        context["target_agent"] = _target(gateway, data.target_agent)
        decision = await services.authorize(
            gateway, source, data.action, server=data.server_name, tool=data.tool_name,
            parameters=data.parameters, context=context, client_ip=client_ip(request),
            package=services.A2A_PACKAGE, endpoint="authorize-a2a",
        )  # fmt: skip
        base = services.response_of(decision)
        chain = source.attributes.get("delegation_chain") or []
        return A2AAuthorizeResponse(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            source_agent=str(source.attributes.get("agent_id", source.id)),
            acting_for=source.acting_for,
            delegation_depth=len(chain) + (1 if data.action == "a2a:delegate" else 0),
        )

    @post(
        "/agents/token",
        operation_id="gatewayIssueAgentToken",
        before_request=a2a_admin,
        status_code=201,
    )
    async def issue_token(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AgentTokenRequest],
        principal: NamedDependency[Principal],
    ) -> AgentToken:
        """Issue an agent token (shown once); the issue is audited."""
        gateway = state_of(request)
        token, expires = gateway.agents.issue(data)
        gateway.runtime.audit.record(
            AuditEvent(
                kind="identity",
                action="agent_token.issue",
                occurred_at=time.time(),
                principal_id=principal.id,
                principal_type=str(principal.type),
                principal_role=str(principal.role),
                resource=f"agent:{data.agent_id}",
                allow=True,
                client_ip=client_ip(request),
                details={
                    "trust_level": data.trust_level,
                    "capabilities": list(data.capabilities),
                    "environment": data.environment,
                    "acting_for": data.acting_for,
                    "delegation_chain": list(data.delegation_chain),
                },
            )
        )
        return AgentToken(  # token_type is the scheme's name  # nosec B106
            token=token,
            token_type="Bearer",  # noqa: S106 - the scheme's name, not a secret
            expires_at=expires,
            agent_id=data.agent_id,
        )
