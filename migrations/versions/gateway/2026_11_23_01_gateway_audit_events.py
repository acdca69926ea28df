"""gateway: gateway_audit_events (first revision of the gateway branch).

Additive and reversible: ``sark db downgrade gateway@base`` drops exactly this table and
leaves every core table and its data as they were.

Revision ID: 20261123_g01
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261123_g01"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("gateway",)
depends_on: str | Sequence[str] | None = "20261123_01"


def upgrade() -> None:
    json_doc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.create_table(
        "gateway_audit_events",
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("agent_id", sa.String(length=255), nullable=True),
        sa.Column("server_name", sa.String(length=255), nullable=True),
        sa.Column("tool_name", sa.String(length=255), nullable=True),
        sa.Column("allow", sa.Boolean(), nullable=True),
        sa.Column("decision_id", sa.String(length=64), nullable=True),
        sa.Column("gateway_request_id", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", json_doc, nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    )
    op.create_index("ix_gateway_audit_events_occurred_at", "gateway_audit_events", ["occurred_at"])
    op.create_index(
        "ix_gateway_audit_events_user_id", "gateway_audit_events", ["user_id", "occurred_at"]
    )
    op.create_index(
        "ix_gateway_audit_events_event_type", "gateway_audit_events", ["event_type", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_audit_events_event_type", table_name="gateway_audit_events")
    op.drop_index("ix_gateway_audit_events_user_id", table_name="gateway_audit_events")
    op.drop_index("ix_gateway_audit_events_occurred_at", table_name="gateway_audit_events")
    op.drop_table("gateway_audit_events")
