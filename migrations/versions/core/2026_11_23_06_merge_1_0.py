"""core: join the 1.0 domain revisions (identity, catalog, audit, feature flags) into one head.

The four revisions were written in parallel, each on top of the installation record; they
touch disjoint tables, so their order does not matter. This merge gives the core branch a
single head again, so `sark db downgrade core@-1`-style targets stay unambiguous.

Revision ID: 20261123_06
Revises: 20261123_02, 20261123_03, 20261123_04, 20261123_05
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "20261123_06"
down_revision: str | Sequence[str] | None = (
    "20261123_02",
    "20261123_03",
    "20261123_04",
    "20261123_05",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: a merge point only."""


def downgrade() -> None:
    """Nothing to change: a merge point only."""
