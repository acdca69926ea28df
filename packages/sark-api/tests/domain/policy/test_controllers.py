"""End to end over HTTP: catalog, identity, decisions on a real OPA, audit trail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate
from tests.support.identity import admin_headers, api_key_headers, login_headers

from sark.api import create_app

from .test_services import always_open

pytestmark = pytest.mark.opa
TOOLS = {"lookup": "low", "query": "medium", "admin_sql": "high", "wipe": "critical"}


@pytest.fixture(name="opa_client")
async def fixture_opa_client(
    tmp_path: Path, database_url: str, opa_url: str, bundle_dir: Path
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    always_open(bundle_dir)  # outcomes must not depend on the hour the suite runs
    settings = make_settings(tmp_path, {"SARK_DATABASE_URL": database_url,
                                        "SARK_OPA_URL": opa_url,
                                        "SARK_POLICY_PATH": str(bundle_dir)})  # fmt: skip
    await migrate(settings)
    async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
        yield client


async def register(client: AsyncTestClient, admin: dict[str, str]) -> None:  # type: ignore[type-arg]
    body = {
        "name": "payments-db", "transport": "http", "endpoint": "http://127.0.0.1:9/mcp",
        "sensitivity_level": "medium", "team": "payments",
        "tools": [{"name": name, "description": f"{name} tool", "input_schema": {},
                   "sensitivity_level": level} for name, level in TOOLS.items()],
    }  # fmt: skip
    response = await client.post("/api/v1/servers", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def evaluate(
    client: AsyncTestClient,
    headers: dict[str, str],
    tool: str,
    **extra: Any,  # type: ignore[type-arg]
) -> dict[str, Any]:
    body = {"action": "tool:invoke", "server": "payments-db", "tool": tool, **extra}
    response = await client.post("/api/v1/policy/evaluate", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


EXPECTED = {
    # expected (allow, reason) per role and tool
    "viewer": dict.fromkeys(TOOLS, (False, "action_not_permitted")),
    "developer": {"lookup": (True, "allowed_by_role"), "query": (True, "allowed_by_role"),
                  "admin_sql": (False, "insufficient_role_for_sensitivity"),
                  "wipe": (False, "insufficient_role_for_sensitivity")},
    "team_lead": {"lookup": (True, "allowed_by_role"), "query": (True, "allowed_by_role"),
                  "admin_sql": (True, "allowed_for_own_team"),
                  "wipe": (False, "approval_required")},
    "admin": {"lookup": (True, "allowed_by_role"), "query": (True, "allowed_by_role"),
              "admin_sql": (True, "allowed_by_role"), "wipe": (False, "approval_required")},
}  # fmt: skip


async def test_outcomes_per_role_filtering_and_audit(opa_client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    admin = await admin_headers(opa_client)
    await register(opa_client, admin)
    decision_ids: list[str] = []
    for role, expected in EXPECTED.items():
        teams = ["payments"] if role == "team_lead" else []
        headers = admin if role == "admin" else await login_headers(opa_client, role=role,
                                                                    teams=teams)  # fmt: skip
        for tool, outcome in expected.items():
            body = await evaluate(opa_client, headers, tool)
            assert (body["allow"], body["reason"]) == outcome, (role, tool)
            assert body["engine"] == "opa"
            assert body["policy_revision"]
            decision_ids.append(body["decision_id"])
    # critical with an approval reference
    approved = await evaluate(opa_client, admin, "wipe", context={"approval_id": "CHG-1"})
    assert (approved["allow"], approved["cache_ttl"]) == (True, 0)
    decision_ids.append(approved["decision_id"])
    # nested sensitive parameters are removed for non-admins on high tools
    lead = await login_headers(opa_client, role="team_lead", teams=["payments"])
    params = {"sql": "x", "conn": {"Password": "p", "opts": [{"api_key": "k", "n": 1}]}}
    filtered = await evaluate(opa_client, lead, "admin_sql", parameters=params)
    assert filtered["filtered_parameters"] == {"sql": "x", "conn": {"opts": [{"n": 1}]}}
    assert filtered["obligations"][0]["paths"] == ["/conn/Password", "/conn/opts/0/api_key"]
    decision_ids.append(filtered["decision_id"])
    # every decision is in the audit trail under the same decision id
    found = await wait_for_audit(opa_client, admin, decision_ids)
    assert found == set(decision_ids)


async def wait_for_audit(
    client: AsyncTestClient,
    admin: dict[str, str],
    ids: list[str],  # type: ignore[type-arg]
) -> set[str]:
    found: set[str] = set()
    for _ in range(100):  # the writer flushes in batches; poll until it has
        response = await client.get(
            "/api/v1/audit", params={"kind": "decision", "limit": "500"}, headers=admin
        )
        assert response.status_code == 200, response.text
        found = {e["decision_id"] for e in response.json()["items"]} & set(ids)
        if found == set(ids):
            break
        await asyncio.sleep(0.05)
    return found


async def test_subject_override_is_for_admins_only(opa_client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    admin = await admin_headers(opa_client)
    await register(opa_client, admin)
    subject = {"id": "someone", "role": "viewer", "teams": []}
    as_admin = await evaluate(opa_client, admin, "lookup", subject=subject)
    assert (as_admin["allow"], as_admin["reason"]) == (False, "action_not_permitted")
    dev = await login_headers(opa_client, role="developer")
    response = await opa_client.post(
        "/api/v1/policy/evaluate",
        json={"action": "tool:invoke", "server": "payments-db", "tool": "lookup",
              "subject": subject},
        headers=dev,
    )  # fmt: skip
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"action": "invoke"},
        {"action": "Tool:Invoke"},
        {"action": "tool:invoke", "parameters": [1, 2]},
        {"action": "tool:invoke", "context": "x"},
        {"action": "tool:invoke", "subject": {"id": "x", "role": "emperor"}},
        {"action": "tool:invoke", "unexpected": 1},
        {},
    ],
)
async def test_malformed_bodies_are_422(opa_client: AsyncTestClient, body: dict[str, Any]) -> None:  # type: ignore[type-arg]
    admin = await admin_headers(opa_client)
    response = await opa_client.post("/api/v1/policy/evaluate", json=body, headers=admin)
    assert response.status_code in (400, 422), response.text


async def test_api_keys_need_the_evaluate_scope(opa_client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = {"action": "tool:invoke", "server": "payments-db", "tool": "lookup"}
    without = await api_key_headers(opa_client, scopes=["server:read"])
    response = await opa_client.post("/api/v1/policy/evaluate", json=body, headers=without)
    assert response.status_code == 403
    with_scope = await api_key_headers(opa_client, scopes=["policy:evaluate"])
    response = await opa_client.post("/api/v1/policy/evaluate", json=body, headers=with_scope)
    assert response.status_code == 200
    assert response.json()["reason"] == "unknown_server"
    anonymous = await opa_client.post("/api/v1/policy/evaluate", json=body)
    assert anonymous.status_code == 401


async def test_bundle_and_reload(opa_client: AsyncTestClient, bundle_dir: Path) -> None:  # type: ignore[type-arg]
    admin = await admin_headers(opa_client)
    info = (await opa_client.get("/api/v1/policy/bundle", headers=admin)).json()
    assert info["revision"]
    assert "mcp.authz" in info["packages"]
    assert info["loaded_at"]
    opa = next(e for e in info["engines"] if e["name"] == "opa")
    assert opa["healthy"] is True
    assert opa["revision"] == info["revision"]
    dev = await login_headers(opa_client, role="developer")
    assert (await opa_client.post("/api/v1/policy/reload", headers=dev)).status_code == 403
    data = bundle_dir / "data" / "mcp" / "authz" / "data.json"
    document = json.loads(data.read_text())
    document["allow_unregistered"] = True
    data.write_text(json.dumps(document))
    reloaded = await opa_client.post("/api/v1/policy/reload", headers=admin)
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["revision"] != info["revision"]
    policy = bundle_dir / "policies" / "authz" / "authz.rego"
    policy.write_text(policy.read_text() + "\nbroken := {\n")
    rejected = await opa_client.post("/api/v1/policy/reload", headers=admin)
    assert rejected.status_code == 422
    # whichever engine compiles first names the error and where it is
    detail = rejected.json()["detail"]
    assert "authz.rego" in detail
    assert "does not compile" in detail or "rejected" in detail
    after = (await opa_client.get("/api/v1/policy/bundle", headers=admin)).json()
    assert after["revision"] == reloaded.json()["revision"]
    events = await opa_client.get("/api/v1/audit", params={"action": "policy.reload"},
                                  headers=admin)  # fmt: skip
    for _ in range(100):
        if len(events.json()["items"]) >= 2:
            break
        await asyncio.sleep(0.05)
        events = await opa_client.get("/api/v1/audit", params={"action": "policy.reload"},
                                      headers=admin)  # fmt: skip
    assert sorted(e["allow"] for e in events.json()["items"]) == [False, True]
