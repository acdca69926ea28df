"""Catalog services for tools: list, get, sensitivity override and its history."""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.catalog import _access, _cursor
from sark.api.domain.catalog.facts import effective_level
from sark.api.domain.catalog.models import Server, Tool, ToolSensitivityChange
from sark.api.domain.catalog.services import MAX_PAGE, refresh_facts
from sark.api.runtime import Runtime
from sark.core.errors import NotFoundError
from sark.core.models import Principal, Sensitivity

_SCAN_ROUNDS: Final = 5
EFFECTIVE_LEVEL: ColumnElement[str] = func.coalesce(
    Tool.sensitivity_override, Tool.sensitivity_level, Tool.derived_sensitivity
)


class ToolFilters(msgspec.Struct, frozen=True, kw_only=True):
    """Filters of the tool listing (all optional, combined with AND)."""

    server: uuid.UUID | None = None
    sensitivity: str | None = None
    team: str | None = None
    drifted: bool | None = None
    q: str | None = None
    status: str | None = None


class ToolService(SQLAlchemyAsyncRepositoryService[Tool]):
    """Tools of the catalog; visibility follows their server's."""

    class Repo(SQLAlchemyAsyncRepository[Tool]):
        """Tool repository."""

        model_type = Tool

    repository_type = Repo

    def __init__(self, session: AsyncSession, *, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(session=session, **kwargs)
        self.runtime = runtime
        self.session = session

    async def find(self, tool_id: uuid.UUID) -> tuple[Tool, Server]:
        """The tool ``tool_id`` and its server; NotFoundError otherwise."""
        query = select(Tool, Server).join(Server, Server.id == Tool.server_id)
        row = (await self.session.execute(query.where(Tool.id == tool_id))).one_or_none()
        if row is None:
            raise NotFoundError(f"no tool {tool_id}")
        return row[0], row[1]

    async def get_visible(self, principal: Principal, tool_id: uuid.UUID) -> tuple[Tool, Server]:
        """The tool if ``principal`` may read its server (404 otherwise)."""
        _access.require_scope(principal, _access.READ_SCOPE)
        tool, server = await self.find(tool_id)
        if not await _access.readable(self.runtime, principal, [str(server.id)]):
            raise NotFoundError(f"no tool {tool_id}")
        return tool, server

    async def list_visible(
        self, principal: Principal, filters: ToolFilters, *, cursor: str | None, limit: int
    ) -> tuple[list[tuple[Tool, Server]], str | None]:
        """One page of the tools ``principal`` may read, in (name, id) order."""
        _access.require_scope(principal, _access.READ_SCOPE)
        limit = max(1, min(limit, MAX_PAGE))
        after = _cursor.decode(cursor) if cursor else None
        page: list[tuple[Tool, Server]] = []
        for _ in range(_SCAN_ROUNDS):
            rows = [(r[0], r[1]) for r in await self.session.execute(_query(filters, after, limit))]
            allowed = await _access.readable(
                self.runtime, principal, [str(server.id) for _, server in rows]
            )
            for tool, server in rows:
                after = (tool.name, tool.id)
                if str(server.id) in allowed:
                    page.append((tool, server))
                    if len(page) == limit:
                        return page, _cursor.encode(tool.name, tool.id)
            if len(rows) < limit:
                return page, None
        return page, _cursor.encode(*after) if after else None

    async def override(
        self, principal: Principal, tool_id: uuid.UUID, level: Sensitivity | None, reason: str
    ) -> tuple[Tool, Server]:
        """Set (or clear) a tool's sensitivity override (``tool:update``), with history.

        A person's review also clears the tool's drift flag.
        """
        _access.require_scope(principal, _access.WRITE_SCOPE)
        tool, server = await self.find(tool_id)
        decision = await _access.authorize(
            self.runtime, principal, "tool:update", server=str(server.id), tool=tool.name
        )
        previous = effective_level(tool)
        tool.sensitivity_override = level.value if level else None
        was_drifted = tool.drifted
        tool.drifted = False
        current = effective_level(tool)
        self.session.add(
            ToolSensitivityChange(
                id=uuid.uuid4(),
                tool_id=tool.id,
                old_level=previous,
                new_level=current,
                changed_by=principal.id,
                reason=reason,
            )
        )
        server.version += 1
        await self.session.commit()
        await refresh_facts(self.runtime)
        _access.record(
            self.runtime, principal, "tool.sensitivity_override",
            f"server:{server.name}/tool:{tool.name}",
            decision=decision,
            details={"tool_id": str(tool.id), "server_id": str(server.id), "old_level": previous,
                     "new_level": current, "override": tool.sensitivity_override,
                     "reason": reason, "cleared_drift": was_drifted},
        )  # fmt: skip
        return tool, server

    async def history(
        self, principal: Principal, tool_id: uuid.UUID
    ) -> list[ToolSensitivityChange]:
        """Every sensitivity change of a visible tool, oldest first."""
        tool, _ = await self.get_visible(principal, tool_id)
        query = (
            select(ToolSensitivityChange)
            .where(ToolSensitivityChange.tool_id == tool.id)
            .order_by(ToolSensitivityChange.created_at, ToolSensitivityChange.id)
        )
        return list((await self.session.execute(query)).scalars())


def _query(filters: ToolFilters, after: tuple[str, uuid.UUID] | None, limit: int) -> Any:
    query = select(Tool, Server).join(Server, Server.id == Tool.server_id)
    query = query.where(Tool.status == (filters.status or "active"))
    if filters.server is not None:
        query = query.where(Tool.server_id == filters.server)
    if filters.sensitivity:
        query = query.where(EFFECTIVE_LEVEL.in_((filters.sensitivity,)))
    if filters.team:
        query = query.where(Server.team == filters.team)
    if filters.drifted is not None:
        query = query.where(Tool.drifted == filters.drifted)
    if filters.q:
        query = query.where(
            or_(
                Tool.name.icontains(filters.q, autoescape=True),
                Tool.description.icontains(filters.q, autoescape=True),
            )
        )
    if after is not None:
        name, item_id = after
        query = query.where(or_(Tool.name > name, and_(Tool.name == name, Tool.id > item_id)))
    return query.order_by(Tool.name, Tool.id).limit(limit)
