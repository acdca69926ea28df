"""Response bodies from catalog rows."""

from __future__ import annotations

from typing import Literal

from sark.api.domain.catalog import schemas
from sark.api.domain.catalog.facts import effective_level
from sark.api.domain.catalog.models import Server, Tool, ToolSensitivityChange
from sark.core.models import Sensitivity


def tool_view(tool: Tool, server_name: str) -> schemas.Tool:
    """A tool as the API shows it."""
    source: Literal["override", "declared", "derived"]
    if tool.sensitivity_override:
        source = "override"
    elif tool.sensitivity_level:
        source = "declared"
    else:
        source = "derived"
    return schemas.Tool(
        id=tool.id,
        server_id=tool.server_id,
        server_name=server_name,
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_schema or {},
        annotations=tool.annotations or {},
        sensitivity_level=Sensitivity(effective_level(tool)),
        sensitivity_source=source,
        declared_sensitivity=_level(tool.sensitivity_level),
        derived_sensitivity=Sensitivity(tool.derived_sensitivity),
        derivation_rule=tool.derivation_rule,
        sensitivity_override=_level(tool.sensitivity_override),
        requires_approval=tool.requires_approval,
        definition_hash=tool.definition_hash,
        drifted=tool.drifted,
        status="removed" if tool.status == "removed" else "active",
        created_at=tool.created_at,
        updated_at=tool.updated_at,
    )


def server_view(server: Server, tools: list[Tool]) -> schemas.Server:
    """A server (with its active tools) as the API shows it."""
    return schemas.Server(
        id=server.id,
        name=server.name,
        description=server.description,
        transport=server.transport,  # type: ignore[arg-type]
        endpoint=server.endpoint,
        command=server.command,
        args=list(server.args or ()),
        sensitivity_level=Sensitivity(server.sensitivity_level),
        team=server.team,
        owner=server.owner,
        tags=list(server.tags or ()),
        status=server.status,  # type: ignore[arg-type]
        origin=server.origin,
        version=server.version,
        created_at=server.created_at,
        updated_at=server.updated_at,
        tools=[tool_view(tool, server.name) for tool in tools],
    )


def change_view(change: ToolSensitivityChange) -> schemas.SensitivityChange:
    """A sensitivity history entry as the API shows it."""
    return schemas.SensitivityChange(
        id=change.id,
        tool_id=change.tool_id,
        old_level=_level(change.old_level),
        new_level=Sensitivity(change.new_level),
        changed_by=change.changed_by,
        reason=change.reason,
        at=change.created_at,
    )


def _level(value: str | None) -> Sensitivity | None:
    return Sensitivity(value) if value else None
