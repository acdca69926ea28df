"""Tables of the MCP catalog: servers, their tools, and the history of tool sensitivity."""

from __future__ import annotations

import uuid
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import GUID
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sark.core.models import Sensitivity

#: Lengths shared by the models and the migration.
NAME_LENGTH = 255
LEVEL_LENGTH = 16
#: JSON documents: JSONB on PostgreSQL, JSON text on SQLite. (advanced-alchemy's ``JsonB``
#: attaches an Oracle check constraint through an API SQLAlchemy 2.1 removed.)
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class Server(UUIDv7AuditBase):
    """An MCP server registered in the catalog."""

    __tablename__ = "servers"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    transport: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    command: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    args: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    sensitivity_level: Mapped[str] = mapped_column(String(LEVEL_LENGTH))
    team: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True, index=True)
    owner: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True, index=True)
    tags: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    status: Mapped[str] = mapped_column(String(32), default="active", index=True)
    origin: Mapped[str] = mapped_column(String(32), default="manual")
    # Incremented on every change of the server or of any of its tools: the catalog facts
    # version (and so the decision cache key) and the cross-replica change check use it.
    version: Mapped[int] = mapped_column(Integer, default=1)


class Tool(UUIDv7AuditBase):
    """A tool of a catalogued server, with its declared and derived sensitivity."""

    __tablename__ = "tools"
    __table_args__ = (UniqueConstraint("server_id", "name", name="uq_tools_server_id_name"),)

    server_id: Mapped[uuid.UUID] = mapped_column(
        GUID(length=16), ForeignKey("servers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    input_schema: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    sensitivity_level: Mapped[str | None] = mapped_column(String(LEVEL_LENGTH), nullable=True)
    derived_sensitivity: Mapped[str] = mapped_column(String(LEVEL_LENGTH))
    derivation_rule: Mapped[str] = mapped_column(Text, default="")
    sensitivity_override: Mapped[str | None] = mapped_column(String(LEVEL_LENGTH), nullable=True)
    definition_hash: Mapped[str] = mapped_column(String(64))
    drifted: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    # ``removed`` when discovery no longer finds the tool: kept for its history, never
    # resolved (a call to it is denied as an unknown tool).
    status: Mapped[str] = mapped_column(String(32), default="active")

    @property
    def effective_sensitivity(self) -> Sensitivity:
        """The level policy sees: the override, else the declared level, else the derived."""
        return Sensitivity(
            self.sensitivity_override or self.sensitivity_level or self.derived_sensitivity
        )


class ToolSensitivityChange(UUIDv7AuditBase):
    """One change of a tool's effective sensitivity: who, from what, to what, why."""

    __tablename__ = "tool_sensitivity_changes"

    tool_id: Mapped[uuid.UUID] = mapped_column(
        GUID(length=16), ForeignKey("tools.id", ondelete="CASCADE"), index=True
    )
    old_level: Mapped[str | None] = mapped_column(String(LEVEL_LENGTH), nullable=True)
    new_level: Mapped[str] = mapped_column(String(LEVEL_LENGTH))
    changed_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    reason: Mapped[str] = mapped_column(Text, default="")
