from __future__ import annotations

import uuid

import pytest

from sark.api.domain.catalog.schemas import ServerUpdate
from sark.api.domain.catalog.services import ServerFilters
from sark.api.domain.catalog.tool_services import ToolFilters
from sark.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from sark.core.models import Principal, PrincipalType, Role, Sensitivity

from .conftest import (
    ADMIN,
    DEV,
    LEAD,
    OTHER_DEV,
    VIEWER,
    Catalog,
    catalog_audit,
    server_create,
    tool,
)


async def test_register_with_tools_of_each_sensitivity(catalog: Catalog) -> None:
    body = server_create(
        "payments-db",
        "high",
        tags=["db", "pci", "db"],
        description="Payments database",
        tools=[
            tool("list_tables"),
            tool("update_row", input_schema={"properties": {"table": {}, "values": {}}}),
            tool("drop_table"),
            tool("frobnicate", sensitivity_level=Sensitivity.CRITICAL, requires_approval=True),
            tool("peek", annotations={"readOnlyHint": True, "title": "Peek"}),
        ],
    )
    server = await catalog.servers.register(ADMIN, body)
    assert server.owner == ADMIN.id
    assert server.tags == ["db", "pci"]
    assert server.version == 1
    tools = {t.name: t for t in (await catalog.servers.tools_of([server.id]))[server.id]}
    assert {n: (t.derived_sensitivity, t.derivation_rule) for n, t in tools.items()} == {
        "list_tables": ("low", "read-only:list@name"),
        "update_row": ("medium", "mutation:update@name"),
        "drop_table": ("high", "destructive:drop@name"),
        "frobnicate": ("medium", "default"),
        "peek": ("low", "annotation:readOnlyHint"),
    }
    assert tools["frobnicate"].sensitivity_level == "critical"
    assert len(tools["peek"].definition_hash) == 64

    facts = await catalog.runtime.catalog.resolve("payments-db", "frobnicate")
    assert facts.server == {
        "id": str(server.id),
        "name": "payments-db",
        "registered": True,
        "sensitivity_level": "high",
        "owner": "u-admin",
        "team": "payments",
        "tags": ["db", "pci"],
        "status": "active",
    }
    assert facts.tool == {
        "name": "frobnicate",
        "registered": True,
        "sensitivity_level": "critical",
        "requires_approval": True,
        "annotations": {},
    }
    events = await catalog_audit(catalog.runtime, "server.register")
    assert len(events) == 1
    assert events[0]["resource"] == "server:payments-db"
    assert events[0]["decision_id"]
    assert events[0]["details"]["tools"] == [  # type: ignore[index]
        "list_tables", "update_row", "drop_table", "frobnicate", "peek",
    ]  # fmt: skip


async def test_registration_is_a_policy_decision(catalog: Catalog) -> None:
    # Developers may register only low/medium servers (docs/policies.md).
    with pytest.raises(PermissionDeniedError, match="server:register: insufficient_role"):
        await catalog.servers.register(DEV, server_create("too-hot", "high"))
    facts = await catalog.runtime.catalog.resolve("too-hot")
    assert facts.server == {"name": "too-hot", "registered": False}

    server = await catalog.servers.register(DEV, server_create("fine", "medium"))
    assert server.owner == DEV.id
    with pytest.raises(PermissionDeniedError, match="action_not_permitted"):
        await catalog.servers.register(VIEWER, server_create("viewer-s", "low"))


async def test_bad_registrations_change_nothing(catalog: Catalog) -> None:
    await catalog.servers.register(ADMIN, server_create("taken"))
    with pytest.raises(ConflictError, match="already exists"):
        await catalog.servers.register(ADMIN, server_create("taken"))
    with pytest.raises(ValidationError, match="endpoint URL"):
        await catalog.servers.register(ADMIN, server_create("x1", endpoint=None))
    with pytest.raises(ValidationError, match="http:// or https://"):
        await catalog.servers.register(ADMIN, server_create("x2", endpoint="file:///etc"))
    with pytest.raises(ValidationError, match="stdio server has a command"):
        await catalog.servers.register(ADMIN, server_create("x3", transport="stdio"))
    with pytest.raises(ValidationError, match="unique"):
        await catalog.servers.register(ADMIN, server_create("x4", tools=[tool("a"), tool("a")]))
    page, _ = await catalog.servers.list_visible(ADMIN, ServerFilters(), cursor=None, limit=50)
    assert [s.name for s in page] == ["taken"]


async def test_api_key_scopes_are_enforced(catalog: Catalog) -> None:
    reader = Principal(
        id="k-1", type=PrincipalType.SERVICE, role=Role.ADMIN,
        scopes=frozenset({"server:read"}), auth_method="api_key",
    )  # fmt: skip
    with pytest.raises(PermissionDeniedError, match="server:write"):
        await catalog.servers.register(reader, server_create("scoped"))
    await catalog.servers.register(ADMIN, server_create("scoped"))
    assert (await catalog.servers.get_visible(reader, "scoped")).name == "scoped"
    no_scope = Principal(
        id="k-2", type=PrincipalType.SERVICE, role=Role.ADMIN, scopes=frozenset(),
        auth_method="api_key",
    )  # fmt: skip
    with pytest.raises(PermissionDeniedError, match="server:read"):
        await catalog.servers.get_visible(no_scope, "scoped")


async def test_list_paginates_with_a_stable_cursor_and_filters(catalog: Catalog) -> None:
    specs = [
        ("alpha", "low", "payments", ["db"], "Alpha ledger"),
        ("bravo", "medium", "search", ["web"], "Bravo search"),
        ("charlie", "high", "payments", ["db", "web"], "Charlie 100% pure"),
        ("delta", "critical", "search", [], "Delta"),
        ("echo", "medium", "payments", ["cache"], "Echo_under"),
    ]
    for name, level, team, tags, description in specs:
        await catalog.servers.register(
            ADMIN, server_create(name, level, team=team, tags=tags, description=description)
        )
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page, cursor = await catalog.servers.list_visible(
            ADMIN, ServerFilters(), cursor=cursor, limit=2
        )
        seen += [s.name for s in page]
        if cursor is None:
            break
    assert seen == ["alpha", "bravo", "charlie", "delta", "echo"]

    async def names(**filters: str) -> list[str]:
        page, _ = await catalog.servers.list_visible(
            ADMIN, ServerFilters(**filters), cursor=None, limit=50
        )
        return [s.name for s in page]

    assert await names(sensitivity="medium") == ["bravo", "echo"]
    assert await names(team="search") == ["bravo", "delta"]
    assert await names(tag="db") == ["alpha", "charlie"]
    assert await names(tag="we") == []  # whole tags only
    assert await names(q="LEDGER") == ["alpha"]
    assert await names(q="100%") == ["charlie"]  # LIKE wildcards are literal
    assert await names(q="c_o") == []  # "_" is not a wildcard ("Echo" would match)
    assert await names(q="o_u") == ["echo"]
    assert await names(owner="u-admin") == seen
    assert await names(owner="nobody") == []
    with pytest.raises(ValidationError, match="cursor"):
        await catalog.servers.list_visible(ADMIN, ServerFilters(), cursor="garbage!", limit=2)


async def test_update_bumps_the_version_and_the_facts(catalog: Catalog) -> None:
    server = await catalog.servers.register(ADMIN, server_create("upd", "medium"))
    before = await catalog.runtime.catalog.resolve("upd")
    updated = await catalog.servers.edit(
        LEAD, "upd", ServerUpdate(description="new", tags=["x"], sensitivity_level=Sensitivity.HIGH)
    )
    assert updated.version == 2
    after = await catalog.runtime.catalog.resolve(str(server.id))
    assert after.version != before.version
    assert after.server["sensitivity_level"] == "high"
    assert after.server["tags"] == ["x"]
    # Nothing changed: no new version.
    same = await catalog.servers.edit(LEAD, "upd", ServerUpdate(description="new"))
    assert same.version == 2


async def test_update_is_a_policy_decision(catalog: Catalog) -> None:
    await catalog.servers.register(DEV, server_create("mine", "medium", team="payments"))
    with pytest.raises(PermissionDeniedError, match="server:update: action_not_permitted"):
        await catalog.servers.edit(OTHER_DEV, "mine", ServerUpdate(description="hijack"))
    # The owner may edit, but not into a shape they could not register.
    await catalog.servers.edit(DEV, "mine", ServerUpdate(description="ok"))
    with pytest.raises(PermissionDeniedError, match="server:register"):
        await catalog.servers.edit(DEV, "mine", ServerUpdate(sensitivity_level=Sensitivity.HIGH))
    facts = await catalog.runtime.catalog.resolve("mine")
    assert facts.server["sensitivity_level"] == "medium"
    with pytest.raises(NotFoundError):
        await catalog.servers.edit(ADMIN, str(uuid.uuid4()), ServerUpdate(description="x"))


async def test_decommission_hides_the_server_and_keeps_history(catalog: Catalog) -> None:
    server = await catalog.servers.register(ADMIN, server_create("old", tools=[tool("get_x")]))
    with pytest.raises(PermissionDeniedError, match="server:delete"):
        await catalog.servers.decommission(OTHER_DEV, "old")
    gone = await catalog.servers.decommission(LEAD, "old")
    assert gone.status == "decommissioned"
    assert gone.version == 2
    page, _ = await catalog.servers.list_visible(ADMIN, ServerFilters(), cursor=None, limit=50)
    assert page == []
    page, _ = await catalog.servers.list_visible(
        ADMIN, ServerFilters(status="decommissioned"), cursor=None, limit=50
    )
    assert [s.name for s in page] == ["old"]
    assert [t.name for t in (await catalog.servers.tools_of([server.id]))[server.id]] == ["get_x"]
    facts = await catalog.runtime.catalog.resolve("old", "get_x")
    assert facts.server["status"] == "decommissioned"
    with pytest.raises(ConflictError, match="decommissioned"):
        await catalog.servers.register(ADMIN, server_create("old"))
    back = await catalog.servers.edit(ADMIN, "old", ServerUpdate(status="active"))
    assert back.status == "active"
    assert len(await catalog_audit(catalog.runtime, "server.decommission")) == 1


async def test_sensitivity_override_has_history_and_reaches_the_facts(catalog: Catalog) -> None:
    server = await catalog.servers.register(ADMIN, server_create("ovr", tools=[tool("get_x")]))
    (get_x,) = (await catalog.servers.tools_of([server.id]))[server.id]
    version = (await catalog.runtime.catalog.resolve("ovr", "get_x")).version

    with pytest.raises(PermissionDeniedError, match="tool:update"):
        await catalog.tools.override(OTHER_DEV, get_x.id, Sensitivity.LOW, "nope")
    tool_row, _ = await catalog.tools.override(LEAD, get_x.id, Sensitivity.CRITICAL, "holds PII")
    assert tool_row.sensitivity_override == "critical"
    facts = await catalog.runtime.catalog.resolve("ovr", "get_x")
    assert facts.tool is not None
    assert facts.tool["sensitivity_level"] == "critical"
    assert facts.version != version

    await catalog.tools.override(ADMIN, get_x.id, None, "reviewed, back to derived")
    facts = await catalog.runtime.catalog.resolve("ovr", "get_x")
    assert facts.tool is not None
    assert facts.tool["sensitivity_level"] == "low"
    history = await catalog.tools.history(ADMIN, get_x.id)
    assert [(h.old_level, h.new_level, h.changed_by, h.reason) for h in history] == [
        ("low", "critical", "u-lead", "holds PII"),
        ("critical", "low", "u-admin", "reviewed, back to derived"),
    ]
    events = await catalog_audit(catalog.runtime, "tool.sensitivity_override")
    assert [e["principal_id"] for e in events] == ["u-lead", "u-admin"]
    assert events[0]["details"]["new_level"] == "critical"


async def test_tool_listing_filters_by_effective_sensitivity(catalog: Catalog) -> None:
    server = await catalog.servers.register(
        ADMIN,
        server_create(
            "tl",
            tools=[tool("get_a"), tool("drop_b"), tool("c", sensitivity_level=Sensitivity.LOW)],
        ),
    )
    other = await catalog.servers.register(
        ADMIN, server_create("tl2", team="search", tools=[tool("get_z")])
    )

    async def names(**filters: object) -> list[str]:
        page, _ = await catalog.tools.list_visible(
            ADMIN,
            ToolFilters(**filters),
            cursor=None,
            limit=50,  # type: ignore[arg-type]
        )
        return [t.name for t, _ in page]

    assert await names() == ["c", "drop_b", "get_a", "get_z"]
    assert await names(sensitivity="low") == ["c", "get_a", "get_z"]
    assert await names(sensitivity="high") == ["drop_b"]
    assert await names(server=other.id) == ["get_z"]
    assert await names(team="payments", q="get") == ["get_a"]
    assert await names(drifted=True) == []
    page, cursor = await catalog.tools.list_visible(ADMIN, ToolFilters(), cursor=None, limit=3)
    rest, end = await catalog.tools.list_visible(ADMIN, ToolFilters(), cursor=cursor, limit=3)
    assert [t.name for t, _ in page + rest] == ["c", "drop_b", "get_a", "get_z"]
    assert end is None
    assert server.id != other.id
