"""Request and response bodies of the catalog API."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

import msgspec

from sark.core.models import Sensitivity

Name = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$",
        description="Letters, digits and . _ : @ - (first character a letter or digit).",
    ),
]
ToolName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Transport = Literal["http", "sse", "stdio"]
ServerStatus = Literal["active", "decommissioned"]


class ToolCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A tool declared at registration."""

    name: ToolName
    description: Text = ""
    input_schema: dict[str, Any] = msgspec.field(default_factory=dict)
    sensitivity_level: Sensitivity | None = None
    """Declared level; None lets SARK derive it from the definition."""
    annotations: dict[str, Any] = msgspec.field(default_factory=dict)
    """MCP tool annotations (``readOnlyHint``, ``destructiveHint``, ``openWorldHint``...)."""
    requires_approval: bool = False


class ServerCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Registration of an MCP server with its tools."""

    name: Name
    transport: Transport
    sensitivity_level: Sensitivity
    endpoint: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    """URL of an ``http`` (streamable HTTP) or ``sse`` server."""
    command: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)] | None = None
    """Executable of a ``stdio`` server."""
    args: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=1024)]], msgspec.Meta(max_length=64)
    ] = msgspec.field(default_factory=list)
    team: Name | None = None
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    """User id of the owner; defaults to the caller."""
    tags: Annotated[list[Tag], msgspec.Meta(max_length=32)] = msgspec.field(default_factory=list)
    description: Text = ""
    tools: Annotated[list[ToolCreate], msgspec.Meta(max_length=1000)] = msgspec.field(
        default_factory=list
    )


class ServerUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A partial update of a server; fields left out (or null) are unchanged."""

    name: Name | None = None
    description: Text | None = None
    transport: Transport | None = None
    endpoint: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    command: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)] | None = None
    args: list[Annotated[str, msgspec.Meta(max_length=1024)]] | None = None
    sensitivity_level: Sensitivity | None = None
    team: Name | None = None
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=32)] | None = None
    status: ServerStatus | None = None
    """``active`` brings a decommissioned server back."""


class Tool(msgspec.Struct, kw_only=True):
    """A catalogued tool with every part of its sensitivity."""

    id: uuid.UUID
    server_id: uuid.UUID
    server_name: str
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]
    sensitivity_level: Sensitivity
    """Effective level: the override, else the declared, else the derived."""
    sensitivity_source: Literal["override", "declared", "derived"]
    declared_sensitivity: Sensitivity | None
    derived_sensitivity: Sensitivity
    derivation_rule: str
    """The derivation rule that fired, e.g. ``destructive:delete@name``."""
    sensitivity_override: Sensitivity | None
    requires_approval: bool
    definition_hash: str
    drifted: bool
    status: Literal["active", "removed"]
    created_at: datetime.datetime
    updated_at: datetime.datetime


class Server(msgspec.Struct, kw_only=True):
    """A catalogued MCP server."""

    id: uuid.UUID
    name: str
    description: str
    transport: Transport
    endpoint: str | None
    command: str | None
    args: list[str]
    sensitivity_level: Sensitivity
    team: str | None
    owner: str | None
    tags: list[str]
    status: ServerStatus
    origin: str
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    tools: list[Tool]


class ServerPage(msgspec.Struct, kw_only=True):
    """One page of servers; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[Server]
    next_cursor: str | None


class ToolPage(msgspec.Struct, kw_only=True):
    """One page of tools; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[Tool]
    next_cursor: str | None


class SensitivityOverride(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Set (or, with null, clear) the sensitivity override of a tool."""

    sensitivity_level: Sensitivity | None
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class SensitivityChange(msgspec.Struct, kw_only=True):
    """One change of a tool's effective sensitivity."""

    id: uuid.UUID
    tool_id: uuid.UUID
    old_level: Sensitivity | None
    new_level: Sensitivity
    changed_by: str
    reason: str
    at: datetime.datetime


class DiscoveryResult(msgspec.Struct, kw_only=True):
    """What a discovery changed: tool names per outcome."""

    server_id: uuid.UUID
    version: int
    added: list[str]
    removed: list[str]
    changed: list[str]
    """Tools whose definition changed (drift: flagged and re-derived)."""
    unchanged: list[str]
