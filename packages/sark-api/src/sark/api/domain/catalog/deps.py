"""Dependency providers of the catalog domain."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.catalog.services import ServerService
from sark.api.domain.catalog.tool_services import ToolService
from sark.api.runtime import Runtime


def provide_server_service(
    db_session: NamedDependency[AsyncSession], runtime: NamedDependency[Runtime]
) -> ServerService:
    """The server service on the request's database session."""
    return ServerService(session=db_session, runtime=runtime)


def provide_tool_service(
    db_session: NamedDependency[AsyncSession], runtime: NamedDependency[Runtime]
) -> ToolService:
    """The tool service on the request's database session."""
    return ToolService(session=db_session, runtime=runtime)
