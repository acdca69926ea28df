"""AuthZEN Authorization API 1.0 (COAZ-MCP defaults) and the OPA Data API, end to end."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from tests.support.identity import api_key_headers, create_user, login_headers

from .conftest import PG_SERVER, VAULT_SERVER, register

EVAL = "/access/v1/evaluation"
EVALS = "/access/v1/evaluations"


async def setup(gw: AsyncTestClient[Any]) -> tuple[dict[str, str], dict[str, Any]]:
    await register(gw, PG_SERVER, VAULT_SERVER)
    user = await create_user(gw, role="developer", teams=["search"], email="dev@example.com")
    pep = await api_key_headers(gw, scopes=["gateway"])
    return pep, user


def call(subject: str, tool: str, **resource_props: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"type": "tool", "id": tool}
    if resource_props:
        resource["properties"] = resource_props
    return {"subject": {"type": "identity", "id": subject}, "action": {"name": "tools/call"},
            "resource": resource, "context": {"agent": "https://agents.example/app"}}  # fmt: skip


async def test_metadata_document(gw: AsyncTestClient[Any]) -> None:
    body = (await gw.get("/.well-known/authzen-configuration")).json()
    assert body["access_evaluation_endpoint"].endswith("/access/v1/evaluation")
    assert (
        body["access_evaluations_endpoint"]
        == body["policy_decision_point"] + "/access/v1/evaluations"
    )


async def test_tools_call_resolves_subject_and_unique_tool(gw: AsyncTestClient[Any]) -> None:
    pep, user = await setup(gw)
    for subject in (user["username"], "dev@example.com", user["id"]):
        answer = (await gw.post(EVAL, json=call(subject, "run_query"), headers=pep)).json()
        assert answer["decision"] is True, answer
        assert answer["context"]["reason"] == "allowed_by_role"
    high = (await gw.post(EVAL, json=call("dev@example.com", "drop_table"), headers=pep)).json()
    reason = "insufficient_role_for_sensitivity"
    assert high == {"decision": False, "context": {"id": high["context"]["id"], "reason": reason}}


async def test_ambiguous_unknown_and_named_server(gw: AsyncTestClient[Any]) -> None:
    pep, user = await setup(gw)
    name = user["username"]
    ambiguous = (await gw.post(EVAL, json=call(name, "shared_tool"), headers=pep)).json()
    assert ambiguous["decision"] is False
    assert ambiguous["context"]["reason"].startswith("ambiguous_tool: 'shared_tool' is offered by")
    named = call(name, "shared_tool", server="pg")
    assert (await gw.post(EVAL, json=named, headers=pep)).json()["decision"] is True
    by_url = call(name, "shared_tool", server="http://127.0.0.1:9/mcp/")
    assert (await gw.post(EVAL, json=by_url, headers=pep)).json()["decision"] is True
    unknown = (await gw.post(EVAL, json=call(name, "nope"), headers=pep)).json()
    assert unknown["context"]["reason"].startswith("unknown_tool")
    who = (await gw.post(EVAL, json=call("ghost", "run_query"), headers=pep)).json()
    assert who["decision"] is False
    assert who["context"]["reason"].startswith("unknown_subject")


async def test_arguments_reach_policy_as_parameters(gw: AsyncTestClient[Any]) -> None:
    pep, _ = await setup(gw)
    owner = await create_user(gw, role="developer", teams=["payments"])
    body = call(owner["username"], "drop_table")
    body["context"]["arguments"] = {"sql": "x", "password": "p"}
    lead = await create_user(gw, role="team_lead", teams=["payments"])
    body["subject"]["id"] = lead["username"]
    answer = (await gw.post(EVAL, json=body, headers=pep)).json()
    if answer["context"]["reason"] != "outside_business_hours":
        assert answer["decision"] is True
        assert answer["context"]["filtered_parameters"] == {"sql": "x"}
        assert answer["context"]["obligations"][0]["paths"] == ["/password"]


async def test_trusted_pep_may_assert_subject_attributes(
    tmp_path: Any, database_url: str, gateway_env: dict[str, str]
) -> None:
    from tests.compatibility.gateway_support import app_client, gateway_settings

    settings = gateway_settings(tmp_path, database_url, gateway_env)
    async with app_client(settings) as client:
        await register(client, PG_SERVER)
        pep = await api_key_headers(client, scopes=["gateway"])
        key_id = pep["Authorization"].split()[1][5:21]
        asserted = call("ext-user", "run_query")
        asserted["subject"]["properties"] = {"role": "developer", "teams": []}
        untrusted = (await client.post(EVAL, json=asserted, headers=pep)).json()
        assert untrusted["context"]["reason"].startswith("unknown_subject")
    trusted_env = {**gateway_env, "GATEWAY_TRUSTED_PEP_KEYS": key_id}
    async with app_client(gateway_settings(tmp_path, database_url, trusted_env)) as client:
        trusted = (await client.post(EVAL, json=asserted, headers=pep)).json()
        assert trusted["decision"] is True, trusted


async def test_evaluations_semantics(gw: AsyncTestClient[Any]) -> None:
    pep, user = await setup(gw)
    base = {"subject": {"type": "identity", "id": user["username"]},
            "action": {"name": "tools/call"}}  # fmt: skip
    items = [{"resource": {"type": "tool", "id": t, "properties": {"server": "pg"}}}
             for t in ("run_query", "drop_table", "shared_tool")]  # fmt: skip
    all_ = (await gw.post(EVALS, json={**base, "evaluations": items}, headers=pep)).json()
    assert [e["decision"] for e in all_["evaluations"]] == [True, False, True]
    first_deny = {
        **base,
        "evaluations": items,
        "options": {"evaluations_semantic": "deny_on_first_deny"},
    }
    assert [
        e["decision"]
        for e in (await gw.post(EVALS, json=first_deny, headers=pep)).json()["evaluations"]
    ] == [True, False]
    first_permit = {
        **base,
        "evaluations": items,
        "options": {"evaluations_semantic": "permit_on_first_permit"},
    }
    assert [
        e["decision"]
        for e in (await gw.post(EVALS, json=first_permit, headers=pep)).json()["evaluations"]
    ] == [True]
    listing = {"action": {"name": "tools/list"}, "resource": {"type": "mcp_server", "id": "vault"}}
    override = {**base, "evaluations": [listing]}
    listed = (await gw.post(EVALS, json=override, headers=pep)).json()["evaluations"]
    assert listed[0]["context"]["reason"] == "insufficient_role_for_sensitivity"
    wrong = {**base, "evaluations": items, "options": {"evaluations_semantic": "x"}}
    bad = await gw.post(EVALS, json=wrong, headers=pep)
    assert bad.status_code == 400
    echoed = await gw.post(
        EVALS, json={**base, "evaluations": items}, headers={**pep, "X-Request-ID": "r-1"}
    )
    assert echoed.headers["x-request-id"] == "r-1"


async def test_only_enforcement_points_may_ask(gw: AsyncTestClient[Any]) -> None:
    _, user = await setup(gw)
    dev = await login_headers(gw, role="developer")
    assert (
        await gw.post(EVAL, json=call(user["username"], "run_query"), headers=dev)
    ).status_code == 403
    assert (await gw.post(EVAL, json=call(user["username"], "run_query"))).status_code == 401


async def test_opa_data_api(gw: AsyncTestClient[Any]) -> None:
    pep, user = await setup(gw)
    payload = {"input": {"subject": {"id": user["username"]}, "action": "gateway:tool:invoke",
                         "resource": {"server": "pg", "tool": {"name": "run_query"}},
                         "parameters": {"q": 1}}}  # fmt: skip
    decision = (await gw.post("/v1/data/mcp/gateway/decision", json=payload, headers=pep)).json()
    assert decision["result"] == {"allow": True, "reason": "allowed_by_role",
                                  "filtered_parameters": {"q": 1}, "obligations": []}  # fmt: skip
    assert len(decision["decision_id"]) == 32
    allow = (await gw.post("/v1/data/mcp/gateway/allow", json=payload, headers=pep)).json()
    assert allow["result"] is True
    whole = (await gw.post("/v1/data/mcp/gateway", json=payload, headers=pep)).json()
    assert whole["result"]["decision"]["allow"] is True
    authz = {"input": {**payload["input"], "action": "tool:invoke"}}
    assert (await gw.post("/v1/data/mcp/authz/allow", json=authz, headers=pep)).json()[
        "result"
    ] is True
    assert (
        await gw.post("/v1/data/mcp/secrets/decision", json=payload, headers=pep)
    ).status_code == 404
    assert (await gw.post("/v1/data/mcp/gateway/%2e%2e/authz/decision", json=payload,
                          headers=pep)).status_code in (400, 404)  # fmt: skip
    assert (
        await gw.post("/v1/data/mcp/Gateway/decision", json=payload, headers=pep)
    ).status_code == 400
    assert (await gw.post("/v1/data/mcp/gateway/decision", json={}, headers=pep)).status_code == 400
    wrong = {"input": {**payload["input"], "action": "tool:invoke"}}
    assert (
        await gw.post("/v1/data/mcp/gateway/decision", json=wrong, headers=pep)
    ).status_code == 400
