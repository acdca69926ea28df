"""Tables of the foundation (``core`` branch, first revision)."""

from __future__ import annotations

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column


class Installation(UUIDv7AuditBase):
    """One row per database: which installation it is and which release created it."""

    __tablename__ = "sark_installation"

    created_by_version: Mapped[str] = mapped_column(String(64))
