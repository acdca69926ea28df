"""Catalog facts for the decision path, served from an in-memory snapshot.

``CatalogFacts.resolve`` answers from a snapshot of every server and active tool, held as
dictionaries by server name and id, so a decision costs no database round trip. The
snapshot is reloaded

- at once after a write through this process (the catalog services call :meth:`refresh`
  after committing), and
- for writes made by other replicas, when a cheap change check (``count(*)`` and
  ``sum(version)`` over ``servers``: every catalog change increments one server's
  ``version``) finds the catalog changed. The check runs at most once per
  ``refresh_interval`` (2 s by default), triggered by a ``resolve`` call.

Staleness bound: a change made through another replica is seen here at most
``refresh_interval`` plus one check-and-load after it was committed, as long as this
replica keeps resolving. If the database cannot be reached the last snapshot keeps serving
(decisions continue) and the check is retried after the next interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.catalog.models import Server, Tool
from sark.core.errors import DependencyUnavailableError

log = logging.getLogger("sark.catalog.facts")

DEFAULT_REFRESH_INTERVAL: Final = 2.0


class ResourceFacts(msgspec.Struct, frozen=True):
    """What the catalog knows of a server (and a tool), in the policy-input shape.

    Treat ``server`` and ``tool`` as read-only: they are shared between decisions.
    """

    server: dict[str, Any]
    tool: dict[str, Any] | None
    version: str
    """Changes whenever the server or any of its tools changes (decision cache key)."""


@dataclass(frozen=True, slots=True)
class _ServerEntry:
    facts: dict[str, Any]
    version: str
    tools: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    generation: tuple[int, int]
    by_name: dict[str, _ServerEntry] = field(default_factory=dict)
    by_id: dict[str, _ServerEntry] = field(default_factory=dict)


def server_facts(server: Any) -> dict[str, Any]:
    """The policy-input shape of a registered server (an ORM object or a row)."""
    return {
        "id": str(server.id),
        "name": server.name,
        "registered": True,
        "sensitivity_level": server.sensitivity_level,
        "owner": server.owner,
        "team": server.team,
        "tags": list(server.tags or ()),
        "status": server.status,
    }


def tool_facts(tool: Any) -> dict[str, Any]:
    """The policy-input shape of a registered tool (an ORM object or a row)."""
    return {
        "name": tool.name,
        "registered": True,
        "sensitivity_level": effective_level(tool),
        "requires_approval": bool(tool.requires_approval),
        "annotations": dict(tool.annotations or {}),
    }


def effective_level(tool: Any) -> str:
    """A tool's effective sensitivity: the override, else the declared, else the derived."""
    level: str = tool.sensitivity_override or tool.sensitivity_level or tool.derived_sensitivity
    return level


class CatalogFacts:
    """Resolves servers and tools for the decision path from an in-memory snapshot."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        clock: Any = time.monotonic,
    ) -> None:
        self._engine = engine
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._snapshot: _Snapshot | None = None
        self._checked_at = float("-inf")
        self._checking = False
        self._lock = asyncio.Lock()
        self._cache: dict[tuple[str, str | None], ResourceFacts] = {}

    @property
    def generation(self) -> tuple[int, int] | None:
        """(server count, sum of server versions) of the snapshot in use, if loaded."""
        return None if self._snapshot is None else self._snapshot.generation

    async def start(self) -> None:
        """Load the first snapshot; a failure is logged and retried on first use."""
        try:
            await self.refresh()
        except DependencyUnavailableError as exc:
            log.warning("catalog snapshot not loaded at start: %s", exc.detail)

    async def resolve(self, server: str, tool: str | None = None) -> ResourceFacts:
        """Facts about ``server`` (an id or a name) and optionally one of its tools."""
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = await self._load_first()
        elif self._clock() - self._checked_at >= self.refresh_interval and not self._checking:
            snapshot = await self._check(snapshot)
        key = (server, tool)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        entry = snapshot.by_name.get(server) or snapshot.by_id.get(server)
        if entry is None:
            absent = f"absent:{snapshot.generation[0]}:{snapshot.generation[1]}"
            unknown_tool = None if tool is None else {"name": tool, "registered": False}
            return ResourceFacts({"name": server, "registered": False}, unknown_tool, absent)
        found = None if tool is None else entry.tools.get(tool)
        if tool is not None and found is None:
            unknown = {"name": tool, "registered": False}
            return ResourceFacts(entry.facts, unknown, entry.version)
        facts = ResourceFacts(entry.facts, found, entry.version)
        # Only known resources are cached: names a caller makes up must not grow memory.
        self._cache[key] = facts
        return facts

    async def refresh(self) -> None:
        """Reload the snapshot now (after a local write, or to force it)."""
        async with self._lock:
            self._install(await self._load())

    async def _load_first(self) -> _Snapshot:
        async with self._lock:
            if self._snapshot is None:
                self._install(await self._load())
            assert self._snapshot is not None
            return self._snapshot

    async def _check(self, snapshot: _Snapshot) -> _Snapshot:
        # One coroutine checks; the others keep serving the current snapshot meanwhile.
        self._checking = True
        try:
            generation = await self._generation()
            if generation != snapshot.generation:
                async with self._lock:
                    self._install(await self._load())
            else:
                self._checked_at = self._clock()
        except DependencyUnavailableError as exc:
            self._checked_at = self._clock()
            log.warning("catalog change check failed, serving the last snapshot: %s", exc.detail)
        finally:
            self._checking = False
        return self._snapshot or snapshot

    def _install(self, snapshot: _Snapshot) -> None:
        self._snapshot = snapshot
        self._cache = {}
        self._checked_at = self._clock()

    async def _generation(self) -> tuple[int, int]:
        query = select(func.count(Server.id), func.coalesce(func.sum(Server.version), 0))
        try:
            async with self._engine.connect() as connection:
                row = (await connection.execute(query)).one()
        except Exception as exc:
            raise DependencyUnavailableError(f"catalog database: {exc}") from exc
        return int(row[0]), int(row[1])

    async def _load(self) -> _Snapshot:
        servers_q = select(*(Server.__table__.c[name] for name in _SERVER_FIELDS))
        tools_q = select(*(Tool.__table__.c[name] for name in _TOOL_FIELDS)).where(
            Tool.status == "active"
        )
        generation_q = select(func.count(Server.id), func.coalesce(func.sum(Server.version), 0))
        try:
            # One read transaction: the generation matches the rows loaded with it.
            async with self._engine.connect() as connection, connection.begin():
                generation = (await connection.execute(generation_q)).one()
                server_rows = (await connection.execute(servers_q)).all()
                tool_rows = (await connection.execute(tools_q)).all()
        except Exception as exc:
            raise DependencyUnavailableError(f"catalog database: {exc}") from exc
        tools_by_server: dict[Any, dict[str, dict[str, Any]]] = {}
        for row in tool_rows:
            tools_by_server.setdefault(row.server_id, {})[row.name] = tool_facts(row)
        snapshot = _Snapshot(generation=(int(generation[0]), int(generation[1])))
        for row in server_rows:
            entry = _ServerEntry(
                facts=server_facts(row),
                version=f"{row.id}:{row.version}",
                tools=tools_by_server.get(row.id, {}),
            )
            snapshot.by_name[row.name] = entry
            snapshot.by_id[str(row.id)] = entry
        return snapshot


_SERVER_FIELDS: Final = (
    "id", "name", "sensitivity_level", "owner", "team", "tags", "status", "version",
)  # fmt: skip
_TOOL_FIELDS: Final = (
    "server_id", "name", "sensitivity_level", "derived_sensitivity", "sensitivity_override",
    "requires_approval", "annotations",
)  # fmt: skip

__all__ = [
    "DEFAULT_REFRESH_INTERVAL",
    "CatalogFacts",
    "ResourceFacts",
    "effective_level",
    "server_facts",
    "tool_facts",
]
