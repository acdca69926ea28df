"""Dependency providers of the audit domain."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.audit.services import AuditService


def provide_audit_service(db_session: NamedDependency[AsyncSession]) -> AuditService:
    """The audit reading service on the request's database session."""
    return AuditService(session=db_session)
