"""The catalog over HTTP: authentication, policy decisions, problem details, discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.support.app import migrate
from tests.support.identity import admin_headers, api_key_headers, login_headers
from tests.support.services import free_port

from sark.api import create_app
from sark.core.settings import Settings

from .test_discovery import HttpMcp

Client = AsyncTestClient  # type: ignore[type-arg]


@pytest.fixture(name="api")
async def fixture_api(catalog_settings: Settings) -> AsyncIterator[Any]:
    await migrate(catalog_settings)
    async with AsyncTestClient(app=create_app(catalog_settings, plugins={})) as client:
        yield client


def _server(name: str, level: str = "medium", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "transport": "http",
        "endpoint": f"http://127.0.0.1:1/{name}",
        "sensitivity_level": level,
        "team": "payments",
        "tags": ["db"],
        **extra,
    }


TOOLS = [
    {"name": "list_rows", "description": "List rows", "input_schema": {"type": "object"}},
    {"name": "update_row", "input_schema": {"properties": {"id": {}, "values": {}}}},
    {"name": "drop_table", "annotations": {"destructiveHint": True}},
    {"name": "charge_card", "sensitivity_level": "critical", "requires_approval": True},
]


async def test_register_get_list_over_http(api: Any) -> None:
    lead = await login_headers(api, role="team_lead", teams=["payments"])
    response = await api.post(
        "/api/v1/servers", json=_server("pg", "high", tools=TOOLS), headers=lead
    )
    assert response.status_code == 201, response.text
    body = response.json()
    tools = {t["name"]: t for t in body["tools"]}
    assert {n: (t["sensitivity_level"], t["sensitivity_source"]) for n, t in tools.items()} == {
        "list_rows": ("low", "derived"),
        "update_row": ("medium", "derived"),
        "drop_table": ("high", "derived"),
        "charge_card": ("critical", "declared"),
    }
    assert tools["drop_table"]["derivation_rule"] == "destructive:drop@name"
    assert tools["charge_card"]["derivation_rule"] == "money-movement:charge@name"

    by_id = await api.get(f"/api/v1/servers/{body['id']}", headers=lead)
    by_name = await api.get("/api/v1/servers/pg", headers=lead)
    assert by_id.json() == by_name.json()
    assert by_id.json()["version"] == 1

    viewer = await login_headers(api, role="viewer", teams=["ops"])
    listed = await api.get(
        "/api/v1/servers", params={"tag": "db", "sensitivity": "high"}, headers=viewer
    )
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()["items"]] == ["pg"]
    assert listed.json()["next_cursor"] is None


async def test_registration_denied_by_policy_is_a_403_problem(api: Any) -> None:
    dev = await login_headers(api, role="developer", teams=["payments"])
    response = await api.post("/api/v1/servers", json=_server("hot", "critical"), headers=dev)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "urn:sark:problem:forbidden"
    assert "server:register" in problem["detail"]
    assert "insufficient_role_for_sensitivity" in problem["detail"]
    admin = await admin_headers(api)
    assert (await api.get("/api/v1/servers/hot", headers=admin)).status_code == 404


async def test_authentication_scopes_and_validation(api: Any) -> None:
    assert (await api.get("/api/v1/servers")).status_code == 401
    reader = await api_key_headers(api, scopes=["server:read"], role="admin")
    denied = await api.post("/api/v1/servers", json=_server("k"), headers=reader)
    assert denied.status_code == 403
    assert "server:write" in denied.json()["detail"]
    assert (await api.get("/api/v1/servers", headers=reader)).status_code == 200
    admin = await admin_headers(api)
    bad = await api.post(
        "/api/v1/servers", json=_server("k", transport="carrier-pigeon"), headers=admin
    )
    assert bad.status_code == 400
    stdio_with_url = await api.post(
        "/api/v1/servers", json=_server("k", transport="stdio"), headers=admin
    )
    assert stdio_with_url.status_code == 422
    bad_cursor = await api.get("/api/v1/servers", params={"cursor": "%%%"}, headers=admin)
    assert bad_cursor.status_code == 422


async def test_pagination_update_and_decommission(api: Any) -> None:
    admin = await admin_headers(api)
    for name in ("a1", "a2", "a3"):
        assert (
            await api.post("/api/v1/servers", json=_server(name), headers=admin)
        ).status_code == 201
    first = (await api.get("/api/v1/servers", params={"limit": 2}, headers=admin)).json()
    second = (
        await api.get(
            "/api/v1/servers", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin
        )
    ).json()
    assert [s["name"] for s in first["items"] + second["items"]] == ["a1", "a2", "a3"]

    patched = await api.patch("/api/v1/servers/a2", json={"description": "changed"}, headers=admin)
    assert patched.status_code == 200
    assert patched.json()["version"] == 2
    other = await login_headers(api, role="developer", teams=["search"])
    forbidden = await api.patch("/api/v1/servers/a2", json={"description": "x"}, headers=other)
    assert forbidden.status_code == 403
    assert "action_not_permitted" in forbidden.json()["detail"]

    gone = await api.delete("/api/v1/servers/a3", headers=admin)
    assert gone.status_code == 200
    assert gone.json()["status"] == "decommissioned"
    names = [s["name"] for s in (await api.get("/api/v1/servers", headers=admin)).json()["items"]]
    assert names == ["a1", "a2"]
    retired = await api.get("/api/v1/servers", params={"status": "decommissioned"}, headers=admin)
    assert [s["name"] for s in retired.json()["items"]] == ["a3"]


async def test_tools_and_sensitivity_override_over_http(api: Any) -> None:
    lead = await login_headers(api, role="team_lead", teams=["payments"])
    await api.post("/api/v1/servers", json=_server("t", tools=TOOLS), headers=lead)
    listed = await api.get("/api/v1/tools", params={"sensitivity": "high"}, headers=lead)
    assert [t["name"] for t in listed.json()["items"]] == ["drop_table"]
    tool_id = listed.json()["items"][0]["id"]
    assert (await api.get(f"/api/v1/tools/{tool_id}", headers=lead)).json()["server_name"] == "t"

    changed = await api.patch(
        f"/api/v1/tools/{tool_id}/sensitivity",
        json={"sensitivity_level": "critical", "reason": "prod"},
        headers=lead,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["sensitivity_source"] == "override"
    assert changed.json()["sensitivity_level"] == "critical"
    history = (await api.get(f"/api/v1/tools/{tool_id}/sensitivity-history", headers=lead)).json()
    assert [(h["old_level"], h["new_level"], h["reason"]) for h in history] == [
        ("high", "critical", "prod")
    ]
    no_reason = await api.patch(
        f"/api/v1/tools/{tool_id}/sensitivity", json={"sensitivity_level": "low"}, headers=lead
    )
    assert no_reason.status_code == 400


@pytest.fixture(name="http_server")
def fixture_http_server(tmp_path: Path) -> Iterator[HttpMcp]:
    variant = tmp_path / "variant.txt"
    variant.write_text("v1")
    server = HttpMcp("http", variant)
    server.start()
    yield server
    server.stop()


async def test_discover_over_http(api: Any, http_server: HttpMcp) -> None:
    admin = await admin_headers(api)
    await api.post("/api/v1/servers", json=_server("live", endpoint=http_server.url), headers=admin)
    response = await api.post("/api/v1/servers/live/discover", headers=admin)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["added"]) == ["delete_record", "lookup_user", "send_message"]
    tools = (await api.get("/api/v1/servers/live", headers=admin)).json()["tools"]
    assert [t["name"] for t in tools] == ["delete_record", "lookup_user", "send_message"]


async def test_discovery_failure_is_a_502_problem(api: Any) -> None:
    admin = await admin_headers(api)
    endpoint = f"http://127.0.0.1:{free_port()}/mcp"
    await api.post("/api/v1/servers", json=_server("down", endpoint=endpoint), headers=admin)
    response = await api.post("/api/v1/servers/down/discover", headers=admin)
    assert response.status_code == 502
    assert response.json()["type"] == "urn:sark:problem:discovery-failed"
    assert "cannot list the tools of MCP server 'down'" in response.json()["detail"]
    server = (await api.get("/api/v1/servers/down", headers=admin)).json()
    assert (server["version"], server["tools"]) == (1, [])
