"""Catalog services: servers (register, list, get, update, decommission, discover)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.catalog import _access, _cursor, destinations, discovery
from sark.api.domain.catalog._tools import DISCOVERY_ACTOR, apply_discovery, new_tool
from sark.api.domain.catalog.facts import server_facts
from sark.api.domain.catalog.models import Server, Tool
from sark.api.domain.catalog.schemas import DiscoveryResult, ServerCreate, ServerUpdate
from sark.api.runtime import Runtime
from sark.core.errors import (
    ConflictError,
    DependencyUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from sark.core.models import Principal, Role

log = logging.getLogger("sark.catalog")

MAX_PAGE: Final = 200
_SCAN_ROUNDS: Final = 5
"""Batches a list scans for visible servers before it returns a short page with a cursor."""


class ServerFilters(msgspec.Struct, frozen=True, kw_only=True):
    """Filters of the server listing (all optional, combined with AND)."""

    sensitivity: str | None = None
    team: str | None = None
    owner: str | None = None
    tag: str | None = None
    q: str | None = None
    status: str | None = None


class ServerService(SQLAlchemyAsyncRepositoryService[Server]):
    """Servers of the catalog, with policy decisions and audit on every action."""

    class Repo(SQLAlchemyAsyncRepository[Server]):
        """Server repository."""

        model_type = Server

    repository_type = Repo

    def __init__(self, session: AsyncSession, *, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(session=session, **kwargs)
        self.runtime = runtime
        self.session = session

    # ------------------------------------------------------------------ reads

    async def find(self, ref: str) -> Server:
        """The server with id or name ``ref``; NotFoundError otherwise."""
        query = select(Server)
        try:
            query = query.where(Server.id == uuid.UUID(ref))
        except ValueError:
            query = query.where(Server.name == ref)
        server = (await self.session.execute(query)).scalar_one_or_none()
        if server is None:
            raise NotFoundError(f"no server {ref!r}")
        return server

    async def tools_of(
        self, server_ids: Sequence[uuid.UUID], *, active_only: bool = True
    ) -> dict[uuid.UUID, list[Tool]]:
        """Tools of each server, by name."""
        if not server_ids:
            return {}
        query = select(Tool).where(Tool.server_id.in_(server_ids)).order_by(Tool.name)
        if active_only:
            query = query.where(Tool.status == "active")
        tools: dict[uuid.UUID, list[Tool]] = {server_id: [] for server_id in server_ids}
        for tool in (await self.session.execute(query)).scalars():
            tools[tool.server_id].append(tool)
        return tools

    async def get_visible(self, principal: Principal, ref: str) -> Server:
        """The server ``ref`` if ``principal`` may read it (404 otherwise, hiding it)."""
        _access.require_scope(principal, _access.READ_SCOPE)
        server = await self.find(ref)
        if not await _access.readable(self.runtime, principal, [str(server.id)]):
            raise NotFoundError(f"no server {ref!r}")
        return server

    async def list_visible(
        self, principal: Principal, filters: ServerFilters, *, cursor: str | None, limit: int
    ) -> tuple[list[Server], str | None]:
        """One page of the servers ``principal`` may read, in (name, id) order."""
        _access.require_scope(principal, _access.READ_SCOPE)
        limit = max(1, min(limit, MAX_PAGE))
        after = _cursor.decode(cursor) if cursor else None
        page: list[Server] = []
        for _ in range(_SCAN_ROUNDS):
            rows = list((await self.session.execute(self._query(filters, after, limit))).scalars())
            allowed = await _access.readable(self.runtime, principal, [str(r.id) for r in rows])
            for row in rows:
                after = (row.name, row.id)
                if str(row.id) in allowed:
                    page.append(row)
                    if len(page) == limit:
                        return page, _cursor.encode(row.name, row.id)
            if len(rows) < limit:
                return page, None
        # Many invisible servers in a row: a short page, the cursor continues the scan.
        return page, _cursor.encode(*after) if after else None

    @staticmethod
    def _query(filters: ServerFilters, after: tuple[str, uuid.UUID] | None, limit: int) -> Any:
        query = select(Server)
        query = query.where(Server.status == (filters.status or "active"))
        if filters.sensitivity:
            query = query.where(Server.sensitivity_level == filters.sensitivity)
        if filters.team:
            query = query.where(Server.team == filters.team)
        if filters.owner:
            query = query.where(Server.owner == filters.owner)
        if filters.tag:
            # Tags are a JSON list of strings; its text holds each tag in quotes.
            query = query.where(
                cast(Server.tags, String).contains(f'"{filters.tag}"', autoescape=True)
            )
        if filters.q:
            query = query.where(
                or_(
                    Server.name.icontains(filters.q, autoescape=True),
                    Server.description.icontains(filters.q, autoescape=True),
                )
            )
        if after is not None:
            name, item_id = after
            query = query.where(
                or_(Server.name > name, and_(Server.name == name, Server.id > item_id))
            )
        return query.order_by(Server.name, Server.id).limit(limit)

    # ------------------------------------------------------------------ writes

    async def register(self, principal: Principal, data: ServerCreate) -> Server:
        """Register a server and its tools (decision ``server:register``)."""
        _access.require_scope(principal, _access.WRITE_SCOPE)
        _check_transport(data.transport, data.endpoint, data.command, data.args)
        names = [tool.name for tool in data.tools]
        if len(set(names)) != len(names):
            raise ValidationError("tool names must be unique within a server")
        server = Server(
            id=uuid.uuid4(),
            name=data.name,
            description=data.description,
            transport=data.transport,
            endpoint=data.endpoint,
            command=data.command,
            args=list(data.args),
            sensitivity_level=data.sensitivity_level.value,
            team=data.team,
            owner=data.owner or principal.id,
            tags=sorted(set(data.tags)),
            status="active",
            origin="manual",
            version=1,
        )
        decision = await _access.authorize(
            self.runtime, principal, "server:register", proposed_server=proposed(server)
        )
        await self._ensure_name_free(server.name)
        self.session.add(server)
        for spec in data.tools:
            definition = discovery.DiscoveredTool(
                name=spec.name,
                description=spec.description,
                input_schema=spec.input_schema,
                annotations=spec.annotations,
            )
            self.session.add(
                new_tool(
                    server.id,
                    definition,
                    declared=spec.sensitivity_level,
                    requires_approval=spec.requires_approval,
                )
            )
        await self._commit()
        _access.record(
            self.runtime, principal, "server.register", f"server:{server.name}",
            decision=decision,
            details={"server_id": str(server.id), "sensitivity_level": server.sensitivity_level,
                     "team": server.team, "owner": server.owner, "tools": names},
        )  # fmt: skip
        return server

    async def edit(self, principal: Principal, ref: str, data: ServerUpdate) -> Server:
        """Change a server (``server:update``; ``server:delete`` to decommission)."""
        _access.require_scope(principal, _access.WRITE_SCOPE)
        server = await self.find(ref)
        changes = {
            field: value
            for field in data.__struct_fields__
            if (value := getattr(data, field)) is not None
        }
        if changes.get("status") == "decommissioned":
            changes.pop("status")
            if changes:
                raise ValidationError("decommission a server on its own, without other changes")
            return await self.decommission(principal, ref)
        action = "server:update"
        decision = await _access.authorize(self.runtime, principal, action, server=str(server.id))
        if "sensitivity_level" in changes:
            changes["sensitivity_level"] = changes["sensitivity_level"].value
        if "tags" in changes:
            changes["tags"] = sorted(set(changes["tags"]))
        changes = {k: v for k, v in changes.items() if getattr(server, k) != v}
        if not changes:
            return server
        merged = {
            key: changes.get(key, getattr(server, key))
            for key in ("transport", "endpoint", "command", "args")
        }
        _check_transport(merged["transport"], merged["endpoint"], merged["command"], merged["args"])
        if changes.keys() & {"sensitivity_level", "team", "owner"}:
            # A server may not be moved into a shape its editor could not register.
            candidate = proposed(server) | {
                k: v for k, v in changes.items() if k in {"sensitivity_level", "team", "owner"}
            }
            await _access.authorize(
                self.runtime, principal, "server:register", proposed_server=candidate
            )
        if "name" in changes:
            await self._ensure_name_free(changes["name"])
        before = {key: getattr(server, key) for key in changes}
        for key, value in changes.items():
            setattr(server, key, value)
        server.version += 1
        await self._commit()
        _access.record(
            self.runtime, principal, "server.update", f"server:{server.name}",
            decision=decision,
            details={"server_id": str(server.id), "before": before, "after": changes},
        )  # fmt: skip
        return server

    async def decommission(self, principal: Principal, ref: str) -> Server:
        """Decommission a server (``server:delete``): hidden from lists, history kept."""
        _access.require_scope(principal, _access.WRITE_SCOPE)
        server = await self.find(ref)
        decision = await _access.authorize(
            self.runtime, principal, "server:delete", server=str(server.id)
        )
        if server.status == "decommissioned":
            return server
        server.status = "decommissioned"
        server.version += 1
        await self._commit()
        _access.record(
            self.runtime, principal, "server.decommission", f"server:{server.name}",
            decision=decision, details={"server_id": str(server.id)},
        )  # fmt: skip
        return server

    async def discover(
        self, principal: Principal, ref: str, *, time_limit: float = discovery.DEFAULT_TIMEOUT
    ) -> DiscoveryResult:
        """List the server's tools live and update the catalog (``server:update``)."""
        _access.require_scope(principal, _access.WRITE_SCOPE)
        server = await self.find(ref)
        decision = await _access.authorize(
            self.runtime, principal, "server:update", server=str(server.id)
        )
        if server.transport == "stdio" and principal.role is not Role.ADMIN:
            # Discovering a stdio server runs its command on this host, as SARK.
            raise PermissionDeniedError("only an admin may discover a stdio server")
        if server.status != "active":
            raise ConflictError(f"server {server.name!r} is {server.status}")
        if server.transport != "stdio" and server.endpoint:
            await destinations.check(
                server.endpoint, self.runtime.settings.discovery.allowed_networks
            )
        target = discovery.Target(
            name=server.name,
            transport=server.transport,
            endpoint=server.endpoint,
            command=server.command,
            args=tuple(server.args or ()),
        )
        # End the read transaction before talking to the server (no lock held meanwhile).
        await self.session.commit()
        found = await discovery.list_tools(target, time_limit=time_limit)
        existing = list((await self.tools_of([server.id], active_only=False))[server.id])
        outcome = apply_discovery(server.id, existing, found)
        if outcome.modified:
            self.session.add_all(outcome.new_tools)
            self.session.add_all(outcome.history)
            server.version += 1
            await self._commit()
        for drift in outcome.drift:
            _access.record(
                self.runtime, principal, "tool.drift", f"server:{server.name}/tool:{drift['tool']}",
                decision=decision, details={"server_id": str(server.id), **drift},
            )  # fmt: skip
        summary = {
            "added": outcome.added, "removed": outcome.removed,
            "changed": outcome.changed, "unchanged": outcome.unchanged,
        }  # fmt: skip
        details = {"server_id": str(server.id), "actor": DISCOVERY_ACTOR, **summary}
        _access.record(
            self.runtime, principal, "server.discover", f"server:{server.name}",
            decision=decision, details=details,
        )  # fmt: skip
        return DiscoveryResult(server_id=server.id, version=server.version, **summary)

    # ------------------------------------------------------------------ helpers

    async def _ensure_name_free(self, name: str) -> None:
        existing = (
            await self.session.execute(select(Server.status).where(Server.name == name))
        ).scalar_one_or_none()
        if existing is not None:
            hint = (
                " (decommissioned: reactivate it with status=active)"
                if existing != "active"
                else ""
            )
            raise ConflictError(f"a server named {name!r} already exists{hint}")

    async def _commit(self) -> None:
        await self.session.commit()
        await refresh_facts(self.runtime)


async def refresh_facts(runtime: Runtime) -> None:
    """Reload catalog facts after a committed change (the periodic check catches up on failure)."""
    try:
        await runtime.catalog.refresh()
    except DependencyUnavailableError as exc:
        log.warning("catalog facts not refreshed after a change: %s", exc.detail)


def proposed(server: Server) -> dict[str, Any]:
    """The policy-input shape of a server being registered (not in the catalog yet)."""
    return server_facts(server) | {"registered": False}


def _check_transport(
    transport: str, endpoint: str | None, command: str | None, args: Sequence[str]
) -> None:
    if transport == "stdio":
        if not command or endpoint:
            raise ValidationError("a stdio server has a command (and args), not an endpoint")
        return
    if not endpoint or command or args:
        raise ValidationError(f"an {transport} server has an endpoint URL, not a command")
    if not endpoint.startswith(("http://", "https://")):
        raise ValidationError("endpoint must be an http:// or https:// URL")
