"""The gateway branch's table: events reported by the MCP gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Boolean, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class GatewayAuditEvent(UUIDv7AuditBase):
    """One event the gateway reported (a tool call it routed, an error, an A2A message)."""

    __tablename__ = "gateway_audit_events"
    __table_args__ = (
        Index("ix_gateway_audit_events_occurred_at", "occurred_at"),
        Index("ix_gateway_audit_events_user_id", "user_id", "occurred_at"),
        Index("ix_gateway_audit_events_event_type", "event_type", "occurred_at"),
    )

    event_type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    """When the gateway says it happened."""
    reported_by: Mapped[str] = mapped_column(String(255))
    """Principal that posted the event (``gateway`` for the shared key)."""
    user_id: Mapped[str | None] = mapped_column(String(255), default=None)
    agent_id: Mapped[str | None] = mapped_column(String(255), default=None)
    server_name: Mapped[str | None] = mapped_column(String(255), default=None)
    tool_name: Mapped[str | None] = mapped_column(String(255), default=None)
    allow: Mapped[bool | None] = mapped_column(Boolean, default=None)
    decision_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """SARK decision the event refers to (the ``audit_id`` of an authorization)."""
    gateway_request_id: Mapped[str | None] = mapped_column(String(255), default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
