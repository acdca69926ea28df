"""CatalogFacts: the decision path's view of the catalog, its freshness and its cost."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from sark.api.db.engine import create_engine
from sark.api.domain.catalog.facts import CatalogFacts
from sark.api.domain.catalog.schemas import ServerUpdate
from sark.api.domain.catalog.services import ServerService
from sark.core.models import Sensitivity
from sark.core.settings import Settings

from .conftest import ADMIN, Catalog, server_create, tool


class Clock:
    """A clock the test moves by hand (the refresh interval is time-based)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_resolve_by_id_or_name_and_unknowns(catalog: Catalog) -> None:
    server = await catalog.servers.register(
        ADMIN, server_create("srv", tools=[tool("get_a", annotations={"readOnlyHint": True})])
    )
    facts = catalog.runtime.catalog
    by_name = await facts.resolve("srv", "get_a")
    by_id = await facts.resolve(str(server.id), "get_a")
    assert by_name == by_id
    assert by_name.version == f"{server.id}:1"
    assert by_name.tool == {
        "name": "get_a",
        "registered": True,
        "sensitivity_level": "low",
        "requires_approval": False,
        "annotations": {"readOnlyHint": True},
    }
    assert (await facts.resolve("srv")).tool is None
    unknown_tool = await facts.resolve("srv", "nope")
    assert unknown_tool.tool == {"name": "nope", "registered": False}
    assert unknown_tool.server == by_name.server
    missing = await facts.resolve("ghost", "t")
    assert missing.server == {"name": "ghost", "registered": False}
    assert missing.tool == {"name": "t", "registered": False}
    assert (await facts.resolve("ghost")).tool is None


async def test_unknown_version_changes_when_the_catalog_does(catalog: Catalog) -> None:
    before = (await catalog.runtime.catalog.resolve("later")).version
    await catalog.servers.register(ADMIN, server_create("other"))
    assert (await catalog.runtime.catalog.resolve("later")).version != before


async def test_steady_state_resolves_without_touching_the_database(catalog: Catalog) -> None:
    await catalog.servers.register(ADMIN, server_create("hot", tools=[tool("get_a")]))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    facts = catalog.runtime.catalog
    await facts.resolve("hot", "get_a")
    event.listen(catalog.runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        for _ in range(500):
            await facts.resolve("hot", "get_a")
            await facts.resolve("hot")
            await facts.resolve("unknown-server", "x")
    finally:
        event.remove(catalog.runtime.engine.sync_engine, "before_cursor_execute", count)
    # At most the periodic change check may have run (if 2 s passed); never a per-call query.
    assert len(statements) <= 2


async def test_another_replica_sees_changes_after_the_refresh_interval(
    catalog: Catalog, catalog_settings: Settings
) -> None:
    await catalog.servers.register(ADMIN, server_create("shared", "low"))
    clock = Clock()
    engine = create_engine(catalog_settings.database)  # the other replica's own pool
    replica = CatalogFacts(engine, refresh_interval=2.0, clock=clock)
    try:
        assert (await replica.resolve("shared")).server["sensitivity_level"] == "low"
        await catalog.servers.edit(
            ADMIN, "shared", ServerUpdate(sensitivity_level=Sensitivity.HIGH)
        )
        # Within the interval the replica serves its snapshot (bounded staleness) ...
        clock.now += 1.9
        assert (await replica.resolve("shared")).server["sensitivity_level"] == "low"
        # ... and after it, the change check notices and reloads.
        clock.now += 0.2
        refreshed = await replica.resolve("shared")
        assert refreshed.server["sensitivity_level"] == "high"
        assert refreshed.version.endswith(":2")
        # A new server registered elsewhere appears too.
        await catalog.servers.register(ADMIN, server_create("fresh"))
        clock.now += 2.1
        assert (await replica.resolve("fresh")).server["registered"] is True
    finally:
        await engine.dispose()


async def test_a_failing_database_keeps_the_last_snapshot(
    catalog: Catalog, catalog_settings: Settings
) -> None:
    await catalog.servers.register(ADMIN, server_create("kept"))
    clock = Clock()
    engine = create_engine(catalog_settings.database)
    replica = CatalogFacts(engine, refresh_interval=2.0, clock=clock)
    await replica.resolve("kept")
    await engine.dispose()
    # The replica's database goes away: a PostgreSQL port nobody listens on.
    nowhere = create_async_engine("postgresql+asyncpg://x:y@127.0.0.1:1/none")
    replica._engine = nowhere
    try:
        clock.now += 5
        facts = await replica.resolve("kept")
        assert facts.server["registered"] is True  # decisions go on with the last snapshot
        assert (await replica.resolve("never-seen")).server["registered"] is False
    finally:
        await nowhere.dispose()


async def test_writes_through_the_service_refresh_at_once(catalog: Catalog) -> None:
    async with AsyncSession(catalog.runtime.engine, expire_on_commit=False) as session:
        other = ServerService(session=session, runtime=catalog.runtime)
        await other.register(ADMIN, server_create("instant"))
    # No interval to wait for: the local write reloaded the snapshot.
    assert (await catalog.runtime.catalog.resolve("instant")).server["registered"] is True
