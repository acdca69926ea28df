"""Agent tokens and ``POST /api/v1/gateway/authorize-a2a`` (policy ``mcp.gateway.a2a``)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from tests.support.identity import admin_headers, api_key_headers, login_headers

from .conftest import PG_SERVER, register

URL = "/api/v1/gateway/authorize-a2a"


async def agent_token(client: AsyncTestClient[Any], **claims: Any) -> str:
    admin = await admin_headers(client)
    body = {"agent_id": "research", "trust_level": "trusted", "environment": "staging",
            "capabilities": ["execute", "query", "delegate"], "acting_for": "u-1",
            **claims}  # fmt: skip
    response = await client.post("/api/v1/gateway/agents/token", json=body, headers=admin)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TARGET = {"id": "db-agent", "trust_level": "verified", "environment": "staging"}


async def test_trusted_agent_calls_in_its_environment(gw: AsyncTestClient[Any]) -> None:
    token = await agent_token(gw, delegation_chain=["planner"])
    body = {"action": "a2a:query", "target_agent": TARGET, "parameters": {"q": 1}}
    answer = (await gw.post(URL, json=body, headers=bearer(token))).json()
    assert answer["allow"] is True, answer
    assert answer["reason"] == "allowed_by_trust_level"
    assert answer["source_agent"] == "research"
    assert answer["acting_for"] == "u-1"  # the originating user travels with the call
    assert answer["delegation_depth"] == 1
    assert len(answer["audit_id"]) == 32


async def test_isolation_production_and_depth(gw: AsyncTestClient[Any]) -> None:
    untrusted = await agent_token(gw, agent_id="scraper", trust_level="untrusted",
                                  capabilities=["query"])  # fmt: skip
    cross = {"action": "a2a:query", "target_agent": {**TARGET, "environment": "development"}}
    assert (await gw.post(URL, json=cross, headers=bearer(untrusted))).json()["reason"] == (
        "cross_environment_untrusted"
    )
    verified = await agent_token(gw, agent_id="helper", trust_level="verified")
    prod = {"action": "a2a:query", "target_agent": {**TARGET, "environment": "production"}}
    assert (await gw.post(URL, json=prod, headers=bearer(verified))).json()["reason"] == (
        "production_protected"
    )
    deep = await agent_token(gw, agent_id="deep", delegation_chain=["a", "b", "c"])
    delegate = {"action": "a2a:delegate", "target_agent": TARGET}
    assert (await gw.post(URL, json=delegate, headers=bearer(deep))).json()["reason"] == (
        "delegation_too_deep"
    )
    query_only = await agent_token(gw, agent_id="q", capabilities=["query"])
    execute = {"action": "a2a:execute", "target_agent": TARGET}
    assert (await gw.post(URL, json=execute, headers=bearer(query_only))).json()["reason"] == (
        "capability_not_granted"
    )


async def test_production_target_verified_by_its_token(gw: AsyncTestClient[Any]) -> None:
    source = await agent_token(gw, environment="production")
    target = await agent_token(gw, agent_id="prod-db", environment="production")
    unproven = {"action": "a2a:query", "target_agent": {**TARGET, "environment": "production"}}
    assert (await gw.post(URL, json=unproven, headers=bearer(source))).json()["reason"] == (
        "production_protected"
    )
    proven = {"action": "a2a:query", "target_agent": {"token": target}}
    assert (await gw.post(URL, json=proven, headers=bearer(source))).json()["allow"] is True
    forged = {"action": "a2a:query", "target_agent": {"token": target[:-2] + "xx"}}
    assert (await gw.post(URL, json=forged, headers=bearer(source))).status_code == 401


async def test_gateway_asks_for_an_agent(gw: AsyncTestClient[Any]) -> None:
    token = await agent_token(gw)
    pep = await api_key_headers(gw, scopes=["gateway"])
    body = {"action": "a2a:query", "target_agent": TARGET, "agent_token": token}
    assert (await gw.post(URL, json=body, headers=pep)).json()["allow"] is True
    no_agent = {"action": "a2a:query", "target_agent": TARGET}
    assert (await gw.post(URL, json=no_agent, headers=pep)).status_code == 422


async def test_agent_tokens_are_not_user_tokens(gw: AsyncTestClient[Any]) -> None:
    token = await agent_token(gw)
    assert (await gw.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    assert (await gw.get("/api/v1/servers", headers=bearer(token))).status_code == 401
    dev = await login_headers(gw, role="developer")
    issued = await gw.post("/api/v1/gateway/agents/token", json={"agent_id": "x"}, headers=dev)
    assert issued.status_code == 403


async def test_agents_on_the_gateway_are_bounded_by_trust(gw: AsyncTestClient[Any]) -> None:
    await register(gw, PG_SERVER)
    untrusted = await agent_token(gw, agent_id="u", trust_level="untrusted", role="admin")
    body = {"action": "gateway:tool:invoke", "server_name": "pg", "tool_name": "run_query"}
    low = (await gw.post("/api/v1/gateway/authorize", json=body, headers=bearer(untrusted))).json()
    assert low["allow"] is True
    medium = {**body, "tool_name": "drop_table"}
    answer = (
        await gw.post("/api/v1/gateway/authorize", json=medium, headers=bearer(untrusted))
    ).json()
    assert answer["reason"] == "agent_trust_insufficient"
