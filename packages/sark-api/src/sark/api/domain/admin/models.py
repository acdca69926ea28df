"""The ``feature_flags`` table (runtime state) and ``feature_flag_changes`` (its history)."""

from __future__ import annotations

import datetime
from typing import Any, cast

from advanced_alchemy.base import DefaultBase, UUIDv7Base
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Boolean, Index, Integer, String, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

# advanced-alchemy's JsonB adds an Oracle check constraint this SQLAlchemy cannot build.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class FeatureFlagRecord(DefaultBase):
    """The runtime state of one feature, written by the admin API or ``sark flags``.

    A row exists only once a feature was changed at runtime; until then the feature
    follows the settings (defaults < config.yaml < environment).
    """

    __tablename__ = "feature_flags"

    feature: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    """Every field of the flag, as served."""
    base: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    """The flag as the settings gave it when ``state`` was written (detects config edits)."""
    pinned: Mapped[bool] = mapped_column(Boolean(), default=False)
    """The last change was a rollback: configuration never raises the rollout again."""
    version: Mapped[int] = mapped_column(Integer())
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))


class FeatureFlagChangeRecord(UUIDv7Base):
    """One change of one feature: before, after, who, when and through what."""

    __tablename__ = "feature_flag_changes"
    __table_args__ = (Index("ix_feature_flag_changes_feature_at", "feature", "at"),)

    feature: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer())
    action: Mapped[str] = mapped_column(String(16))
    """``update``, ``rollback`` or ``config`` (a restart with edited configuration)."""
    old: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    new: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    actor: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))
    """``api``, ``cli`` or ``config``."""
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))


feature_flags = cast("Table", FeatureFlagRecord.__table__)
feature_flag_changes = cast("Table", FeatureFlagChangeRecord.__table__)
