"""The ``audit_events`` table: one row per decision or administrative change."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.schema import Table

#: JSONB on PostgreSQL, JSON text on SQLite (advanced-alchemy's ``JsonB`` does not load on
#: SQLAlchemy 2.1).
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class AuditEventRecord(DefaultBase):
    """A stored audit event.

    The primary key is ``(id, occurred_at)`` because PostgreSQL range-partitions the table
    by month on ``occurred_at`` and a partitioned table's keys must contain that column.
    ``id`` is a UUIDv7 chosen by the writer when the event is recorded, so a replayed spool
    line collides with its earlier copy instead of being stored twice.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        PrimaryKeyConstraint("id", "occurred_at", name="pk_audit_events"),
        Index("ix_audit_events_occurred_at_id", "occurred_at", "id"),
        Index("ix_audit_events_principal_id", "principal_id", "occurred_at"),
        Index("ix_audit_events_action", "action", "occurred_at"),
        Index("ix_audit_events_kind", "kind", "occurred_at"),
        Index("ix_audit_events_decision_id", "decision_id"),
        Index("ix_audit_events_request_id", "request_id"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(GUID(length=16))
    occurred_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String())
    action: Mapped[str] = mapped_column(String())
    decision_id: Mapped[str | None] = mapped_column(String(), nullable=True)
    principal_id: Mapped[str | None] = mapped_column(String(), nullable=True)
    principal_type: Mapped[str | None] = mapped_column(String(), nullable=True)
    principal_role: Mapped[str | None] = mapped_column(String(), nullable=True)
    resource: Mapped[str | None] = mapped_column(String(), nullable=True)
    allow: Mapped[bool | None] = mapped_column(Boolean(), nullable=True)
    reason: Mapped[str] = mapped_column(Text(), default="")
    engine: Mapped[str | None] = mapped_column(String(), nullable=True)
    policy_revision: Mapped[str | None] = mapped_column(String(), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(), nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(), nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float(), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


audit_events: Table = AuditEventRecord.__table__  # type: ignore[assignment]
"""The table, for the writer's bulk inserts and the export's core queries."""
