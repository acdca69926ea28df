"""core: identity (users, teams, members, sessions, refresh tokens, API keys).

Revision ID: 20261123_02
Revises: 20261123_01
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "20261123_02"
down_revision: str | Sequence[str] | None = "20261123_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _base() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    ]


def _when(name: str, *, index: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, DateTimeUTC(timezone=True), nullable=True, index=index)


def upgrade() -> None:
    op.create_table(
        "users",
        *_base(),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("auth_provider", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        _when("last_login_at"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.UniqueConstraint("auth_provider", "external_id", name="uq_users_external"),
    )
    op.create_table(
        "teams",
        *_base(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.UniqueConstraint("name", name="uq_teams_name"),
    )
    op.create_table(
        "team_members",
        *_base(),
        sa.Column(
            "team_id",
            GUID(length=16),
            sa.ForeignKey("teams.id", name="fk_team_members_team_id_teams", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "user_id",
            GUID(length=16),
            sa.ForeignKey("users.id", name="fk_team_members_user_id_users", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("is_lead", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("team_id", "user_id", name="uq_team_members_team_user"),
    )
    op.create_table(
        "auth_sessions",
        *_base(),
        sa.Column(
            "user_id",
            GUID(length=16),
            sa.ForeignKey("users.id", name="fk_auth_sessions_user_id_users", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        _when("last_used_at"),
        _when("revoked_at", index=True),
        sa.Column("revoked_reason", sa.String(length=64), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
    )
    op.create_table(
        "refresh_tokens",
        *_base(),
        sa.Column(
            "session_id",
            GUID(length=16),
            sa.ForeignKey(
                "auth_sessions.id",
                name="fk_refresh_tokens_session_id_auth_sessions",
                ondelete="CASCADE",
            ),
            nullable=False,
            index=True,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        _when("used_at"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    op.create_table(
        "api_keys",
        *_base(),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column(
            "owner_id",
            GUID(length=16),
            sa.ForeignKey("users.id", name="fk_api_keys_owner_id_users", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column(
            "team_id",
            GUID(length=16),
            sa.ForeignKey("teams.id", name="fk_api_keys_team_id_teams", ondelete="SET NULL"),
            nullable=True,
        ),
        _when("expires_at"),
        _when("revoked_at", index=True),
        _when("last_used_at"),
        sa.Column("last_used_ip", sa.String(length=64), nullable=True),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
    )


def downgrade() -> None:
    for table in ("api_keys", "refresh_tokens", "auth_sessions", "team_members", "teams", "users"):
        op.drop_table(table)
