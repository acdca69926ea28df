"""Visible servers and tools (one batch of decisions) and gateway audit ingestion."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import create_async_engine
from tests.compatibility.gateway_support import GATEWAY_KEY
from tests.support.identity import admin_headers, api_key_headers, login_headers

from .conftest import PG_SERVER, VAULT_SERVER, register


async def test_servers_only_what_the_caller_may_see(gw: AsyncTestClient[Any]) -> None:
    await register(gw, PG_SERVER, VAULT_SERVER)
    viewer = await login_headers(gw, role="viewer", teams=["payments"])
    insider = await login_headers(gw, role="developer", teams=["security"])
    admin = await admin_headers(gw)
    names = lambda r: [s["name"] for s in r.json()["servers"]]  # noqa: E731
    assert names(await gw.get("/api/v1/gateway/servers", headers=viewer)) == ["pg"]
    assert names(await gw.get("/api/v1/gateway/servers", headers=insider)) == ["pg", "vault"]
    assert names(await gw.get("/api/v1/gateway/servers", headers=admin)) == ["pg", "vault"]
    body = (await gw.get("/api/v1/gateway/servers?include_tools=true", headers=viewer)).json()
    assert [t["name"] for t in body["servers"][0]["tools"]] == [
        "drop_table",
        "run_query",
        "shared_tool",
    ]
    assert body["servers"][0]["origin"] == "manual"


async def test_tools_filtered_by_discovery_policy(gw: AsyncTestClient[Any]) -> None:
    await register(gw, PG_SERVER, VAULT_SERVER)
    dev = await login_headers(gw, role="developer", teams=["search"])
    tools = (await gw.get("/api/v1/gateway/tools", headers=dev)).json()["tools"]
    # vault's shared_tool is low, but read_secret is critical: hidden outside the team.
    assert [(t["server_name"], t["name"]) for t in tools] == [
        ("pg", "drop_table"), ("pg", "run_query"), ("pg", "shared_tool"), ("vault", "shared_tool"),
    ]  # fmt: skip
    one = (await gw.get("/api/v1/gateway/tools?server_name=vault", headers=dev)).json()["tools"]
    assert [t["name"] for t in one] == ["shared_tool"]
    metrics = (await gw.get("/metrics")).text
    assert 'sark_gateway_authorization_duration_seconds_count{endpoint="tools"} 2.0' in metrics


async def _stored(gw: AsyncTestClient[Any]) -> list[Any]:
    engine = create_async_engine(gw.app.state.runtime.settings.database.url.reveal())
    try:
        async with engine.connect() as connection:
            query = sa.text("select event_type, reported_by, user_id, server_name, allow, details "
                            "from gateway_audit_events order by created_at")  # fmt: skip
            return list((await connection.execute(query)).all())
    finally:
        await engine.dispose()


EVENT = {
    "event_type": "tool_invocation",
    "server_name": "pg",
    "tool_name": "run_query",
    "user_id": "u-1",
    "authorization_decision": "allow",
    "timestamp": "2026-11-23T10:00:00Z",
    "metadata": {"duration_ms": 45},
}


async def test_gateway_key_writes_audit_events(gw: AsyncTestClient[Any]) -> None:
    url = "/api/v1/gateway/audit"
    response = await gw.post(url, json=EVENT, headers={"X-API-Key": GATEWAY_KEY})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "logged"
    bearer = await gw.post(url, json={**EVENT, "event_type": "error"},
                           headers={"Authorization": f"Bearer {GATEWAY_KEY}"})  # fmt: skip
    assert bearer.status_code == 201
    wrong = await gw.post(url, json=EVENT, headers={"X-API-Key": GATEWAY_KEY + "x"})
    assert wrong.status_code == 401
    scoped = await api_key_headers(gw, scopes=["gateway"])
    assert (await gw.post(url, json=EVENT, headers=scoped)).status_code == 201
    dev = await login_headers(gw, role="developer")
    denied = await gw.post(url, json=EVENT, headers=dev)
    assert denied.status_code == 403
    assert "action_not_permitted" in denied.json()["detail"]
    invalid = await gw.post(url, json={**EVENT, "authorization_decision": "maybe"},
                            headers={"X-API-Key": GATEWAY_KEY})  # fmt: skip
    assert invalid.status_code == 400
    rows = await _stored(gw)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows][:2] == [
        ("tool_invocation", "gateway", "u-1", "pg", True), ("error", "gateway", "u-1", "pg", True),
    ]  # fmt: skip
    assert len(rows) == 3
    details = rows[0][5]
    assert (json.loads(details) if isinstance(details, str) else details) == {"duration_ms": 45}
