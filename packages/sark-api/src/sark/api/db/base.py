"""The metadata every SARK table is declared on, which alembic compares against."""

from __future__ import annotations

from advanced_alchemy.base import orm_registry

metadata = orm_registry.metadata

__all__ = ["metadata"]
