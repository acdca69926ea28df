"""core: MCP catalog (servers, tools, tool sensitivity history).

Revision ID: 20261123_03
Revises: 20261123_01
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261123_03"
down_revision: str | Sequence[str] | None = "20261123_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=True),
        sa.Column("command", sa.String(length=1024), nullable=True),
        sa.Column("args", JSON_DOC, nullable=False),
        sa.Column("sensitivity_level", sa.String(length=16), nullable=False),
        sa.Column("team", sa.String(length=255), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("tags", JSON_DOC, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_audit_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_servers"),
        sa.UniqueConstraint("name", name="uq_servers_name"),
    )
    op.create_index("ix_servers_owner", "servers", ["owner"])
    op.create_index("ix_servers_team", "servers", ["team"])
    op.create_index("ix_servers_status", "servers", ["status"])

    op.create_table(
        "tools",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("server_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("input_schema", JSON_DOC, nullable=False),
        sa.Column("annotations", JSON_DOC, nullable=False),
        sa.Column("sensitivity_level", sa.String(length=16), nullable=True),
        sa.Column("derived_sensitivity", sa.String(length=16), nullable=False),
        sa.Column("derivation_rule", sa.Text(), nullable=False),
        sa.Column("sensitivity_override", sa.String(length=16), nullable=True),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        *_audit_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_tools"),
        sa.UniqueConstraint("server_id", "name", name="uq_tools_server_id_name"),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name="fk_tools_server_id_servers", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_tools_server_id", "tools", ["server_id"])

    op.create_table(
        "tool_sensitivity_changes",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("tool_id", GUID(length=16), nullable=False),
        sa.Column("old_level", sa.String(length=16), nullable=True),
        sa.Column("new_level", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_audit_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_tool_sensitivity_changes"),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tools.id"],
            name="fk_tool_sensitivity_changes_tool_id_tools",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_tool_sensitivity_changes_tool_id", "tool_sensitivity_changes", ["tool_id"])


def downgrade() -> None:
    op.drop_index("ix_tool_sensitivity_changes_tool_id", table_name="tool_sensitivity_changes")
    op.drop_table("tool_sensitivity_changes")
    op.drop_index("ix_tools_server_id", table_name="tools")
    op.drop_table("tools")
    op.drop_index("ix_servers_status", table_name="servers")
    op.drop_index("ix_servers_team", table_name="servers")
    op.drop_index("ix_servers_owner", table_name="servers")
    op.drop_table("servers")
