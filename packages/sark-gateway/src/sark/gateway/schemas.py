"""Request and response bodies of the gateway and A2A endpoints."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

import msgspec

from sark.gateway.agents import AgentClaims

GatewayAction = Literal[
    "gateway:tool:invoke",
    "gateway:server:list",
    "gateway:tool:discover",
    "gateway:server:info",
    "gateway:resource:read",
    "gateway:prompt:get",
]
A2AAction = Literal["a2a:execute", "a2a:query", "a2a:delegate"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class AuthorizeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A gateway asks whether the caller may do ``action`` on a server (and tool)."""

    action: GatewayAction
    server_name: Name | None = None
    tool_name: Name | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    gateway_metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    """What the gateway knows of the request (its request id, client address ...)."""
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    """Caller context (``approval_id`` ...); ``time``, ``ip``, ``request_id`` are SARK's."""


class AuthorizeResponse(msgspec.Struct, kw_only=True):
    """The decision: allowed or not, why, with which parameters, for how long."""

    allow: bool
    reason: str
    filtered_parameters: dict[str, Any]
    audit_id: str
    """Decision id, also the id of its audit event."""
    cache_ttl: int
    """Seconds the gateway may reuse this decision (0: do not cache)."""
    obligations: list[dict[str, Any]] = msgspec.field(default_factory=list)
    policy_revision: str = ""


class TargetAgent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The agent being called, as the caller describes it (or proves with its token)."""

    id: Name | None = None
    type: Name | None = None
    trust_level: Name | None = None
    environment: Name | None = None
    capabilities: list[str] = msgspec.field(default_factory=list)
    token: str | None = None
    """The target's own agent token: when valid, its claims replace the fields above."""


class A2AAuthorizeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """May the calling agent execute, query or delegate to ``target_agent``."""

    action: A2AAction
    target_agent: TargetAgent
    server_name: Name | None = None
    tool_name: Name | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    agent_token: str | None = None
    """The source agent's token, when a gateway (not the agent) asks on its behalf."""


class A2AAuthorizeResponse(AuthorizeResponse, kw_only=True):
    """An A2A decision, with who the source agent acts for."""

    source_agent: str = ""
    acting_for: str | None = None
    delegation_depth: int = 0


class GatewayTool(msgspec.Struct, kw_only=True):
    """A tool the caller may see."""

    name: str
    server_name: str
    sensitivity_level: str
    description: str = ""
    input_schema: dict[str, Any] = msgspec.field(default_factory=dict)


class GatewayServer(msgspec.Struct, kw_only=True):
    """A server the caller may see."""

    id: str
    name: str
    description: str
    transport: str
    endpoint: str | None
    sensitivity_level: str
    team: str | None
    tags: list[str]
    origin: str
    tools: list[GatewayTool] | None = None


class ServerList(msgspec.Struct, kw_only=True):
    """Servers visible to the caller."""

    servers: list[GatewayServer]


class ToolList(msgspec.Struct, kw_only=True):
    """Tools visible to the caller."""

    tools: list[GatewayTool]


class GatewayAuditIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An event the gateway reports."""

    event_type: Annotated[
        str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9_.:-]+$")
    ]
    timestamp: datetime.datetime | None = None
    user_id: Name | None = None
    agent_id: Name | None = None
    server_name: Name | None = None
    tool_name: Name | None = None
    authorization_decision: Literal["allow", "deny"] | None = None
    audit_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """The SARK decision the event follows (``audit_id`` of an authorize answer)."""
    request_id: Name | None = None
    message: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class GatewayAuditOut(msgspec.Struct, kw_only=True):
    """The stored event."""

    audit_id: str
    status: Literal["logged"]
    timestamp: datetime.datetime


class SyncResult(msgspec.Struct, kw_only=True):
    """What a registry sync changed in the catalog."""

    servers_seen: int
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    skipped: list[str]
    """Registry servers whose name a non-gateway catalog entry already holds."""


class AgentTokenRequest(AgentClaims, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Claims of an agent token to issue (admin only)."""


class AgentToken(msgspec.Struct, kw_only=True):
    """A freshly issued agent token (shown once)."""

    token: str
    token_type: Literal["Bearer"]
    expires_at: float
    agent_id: str
