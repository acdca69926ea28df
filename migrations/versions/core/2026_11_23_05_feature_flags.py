"""core: runtime feature flags (feature_flags) and their history (feature_flag_changes).

Revision ID: 20261123_05
Revises: 20261123_01
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261123_05"
down_revision: str | Sequence[str] | None = "20261123_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "feature_flags",
        sa.Column("feature", sa.String(length=32), nullable=False),
        sa.Column("state", JsonDoc, nullable=False),
        sa.Column("base", JsonDoc, nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("feature", name="pk_feature_flags"),
    )
    op.create_table(
        "feature_flag_changes",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("feature", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("old", JsonDoc, nullable=False),
        sa.Column("new", JsonDoc, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_flag_changes"),
    )
    op.create_index("ix_feature_flag_changes_feature_at", "feature_flag_changes", ["feature", "at"])


def downgrade() -> None:
    op.drop_index("ix_feature_flag_changes_feature_at", table_name="feature_flag_changes")
    op.drop_table("feature_flag_changes")
    op.drop_table("feature_flags")
