"""core: audit trail (audit_events, monthly partitions on PostgreSQL).

Revision ID: 20261123_04
Revises: 20261123_01
Create Date: 2026-11-23
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261123_04"
down_revision: str | Sequence[str] | None = "20261123_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_audit_events_occurred_at_id", ["occurred_at", "id"]),
    ("ix_audit_events_principal_id", ["principal_id", "occurred_at"]),
    ("ix_audit_events_action", ["action", "occurred_at"]),
    ("ix_audit_events_kind", ["kind", "occurred_at"]),
    ("ix_audit_events_decision_id", ["decision_id"]),
    ("ix_audit_events_request_id", ["request_id"]),
)


def _month(offset: int) -> tuple[str, str, str]:
    now = datetime.datetime.now(datetime.UTC)
    index = now.year * 12 + now.month - 1 + offset
    start = datetime.datetime(index // 12, index % 12 + 1, 1, tzinfo=datetime.UTC)
    end_index = index + 1
    end = datetime.datetime(end_index // 12, end_index % 12 + 1, 1, tzinfo=datetime.UTC)
    name = f"audit_events_y{start.year:04d}m{start.month:02d}"
    return name, start.isoformat(), end.isoformat()


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("occurred_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("decision_id", sa.String(), nullable=True),
        sa.Column("principal_id", sa.String(), nullable=True),
        sa.Column("principal_type", sa.String(), nullable=True),
        sa.Column("principal_role", sa.String(), nullable=True),
        sa.Column("resource", sa.String(), nullable=True),
        sa.Column("allow", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(), nullable=True),
        sa.Column("policy_revision", sa.String(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("client_ip", sa.String(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", "occurred_at", name="pk_audit_events"),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    for name, columns in _INDEXES:
        op.create_index(name, "audit_events", columns)
    if op.get_bind().dialect.name == "postgresql":
        # The months around the upgrade; the writer creates later ones ahead of time, and
        # the default partition takes anything outside them so an insert never fails.
        for offset in (0, 1):
            name, start, end = _month(offset)
            op.execute(
                f"CREATE TABLE {name} PARTITION OF audit_events "
                f"FOR VALUES FROM ('{start}') TO ('{end}')"
            )
        op.execute("CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT")


def downgrade() -> None:
    for name, _ in reversed(_INDEXES):
        op.drop_index(name, table_name="audit_events")
    # On PostgreSQL dropping the partitioned parent drops every partition with it.
    op.drop_table("audit_events")
