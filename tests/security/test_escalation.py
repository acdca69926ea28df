"""Targeted bypass attempts: cross-team access, IDOR, privilege escalation, scope widening.

Each test tries the attack through the public API, asserts the refusal, and then checks
that nothing changed (the target still exists, works, or has its old value).
"""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from tests.security.world import server_body
from tests.support.identity import (
    USER_PASSWORD,
    admin_headers,
    api_key_headers,
    bearer,
    create_user,
    login_headers,
)

Client = AsyncTestClient[Any]
Headers = dict[str, str]


async def _lead(client: Client, team: str) -> tuple[Headers, dict[str, Any]]:
    """A team_lead user flagged lead of ``team``, logged in."""
    admin = await admin_headers(client)
    user = await create_user(client, role="team_lead", teams=[team])
    teams = (await client.get("/api/v1/teams", headers=admin)).json()["items"]
    team_id = next(t["id"] for t in teams if t["name"] == team)
    response = await client.put(
        f"/api/v1/teams/{team_id}/members", headers=admin,
        json={"username": user["username"], "is_lead": True},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return await bearer(client, user["username"], USER_PASSWORD), {**user, "team_id": team_id}


async def _key(client: Client, headers: Headers, scopes: list[str]) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/api-keys", headers=headers, json={"name": "k", "scopes": scopes}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------ cross-team


async def test_a_team_lead_cannot_manage_another_teams_servers(full: Client) -> None:
    admin = await admin_headers(full)
    lead_a, _ = await _lead(full, "team-a")
    await _lead(full, "team-b")
    assert (await full.post("/api/v1/servers", json=server_body("b-srv", "high", "team-b"),
                            headers=admin)).status_code == 201  # fmt: skip
    tool = (await full.get("/api/v1/servers/b-srv", headers=admin)).json()["tools"][0]
    attempts = [
        await full.patch("/api/v1/servers/b-srv", json={"team": "team-a"}, headers=lead_a),
        await full.patch("/api/v1/servers/b-srv", json={"owner": "me"}, headers=lead_a),
        await full.delete("/api/v1/servers/b-srv", headers=lead_a),
        await full.post("/api/v1/servers/b-srv/discover", headers=lead_a),
        await full.patch(f"/api/v1/tools/{tool['id']}/sensitivity", headers=lead_a,
                         json={"sensitivity_level": "low", "reason": "mine now"}),
        # registering into another team above the role's own ceiling
        await full.post("/api/v1/servers", json=server_body("sneaky", "high", "team-b"),
                        headers=lead_a),
    ]  # fmt: skip
    assert [r.status_code for r in attempts] == [403] * len(attempts), [r.text for r in attempts]
    after = (await full.get("/api/v1/servers/b-srv", headers=admin)).json()
    assert (after["team"], after["status"]) == ("team-b", "active")
    assert after["tools"][0]["sensitivity_level"] == "high"
    assert (await full.get("/api/v1/servers/sneaky", headers=admin)).status_code == 404
    # and the gateway refuses team A's lead a high tool of team B's server
    decision = await full.post(
        "/api/v1/gateway/authorize", headers=lead_a,
        json={"action": "gateway:tool:invoke", "server_name": "b-srv", "tool_name": "read_rows"},
    )  # fmt: skip
    assert decision.status_code == 200
    assert decision.json()["allow"] is False


async def test_a_team_lead_cannot_touch_another_team_its_members_or_keys(full: Client) -> None:
    admin = await admin_headers(full)
    lead_a, _ = await _lead(full, "team-a")
    lead_b_headers, lead_b = await _lead(full, "team-b")
    member_b = await create_user(full, role="developer", teams=["team-b"])
    key_b = await _key(full, lead_b_headers, ["server:read"])
    team_b = lead_b["team_id"]
    attempts = {
        "read team": await full.get(f"/api/v1/teams/{team_b}", headers=lead_a),
        "change team": await full.patch(f"/api/v1/teams/{team_b}", json={"description": "x"},
                                        headers=lead_a),
        "add member": await full.put(f"/api/v1/teams/{team_b}/members", headers=lead_a,
                                     json={"username": "admin", "is_lead": False}),
        "remove member": await full.delete(f"/api/v1/teams/{team_b}/members/{member_b['id']}",
                                           headers=lead_a),
        "read key": await full.get(f"/api/v1/api-keys/{key_b['id']}", headers=lead_a),
        "revoke key": await full.post(f"/api/v1/api-keys/{key_b['id']}/revoke", headers=lead_a),
    }  # fmt: skip
    assert {k: r.status_code for k, r in attempts.items()} == dict.fromkeys(attempts, 404)
    for verb in ("get", "patch"):
        kwargs = {"json": {"role": "viewer"}} if verb == "patch" else {}
        response = await getattr(full, verb)(
            f"/api/v1/users/{member_b['id']}", headers=lead_a, **kwargs
        )
        assert response.status_code == 403
    team = (await full.get(f"/api/v1/teams/{team_b}", headers=admin)).json()
    assert sorted(m["username"] for m in team["members"]) == sorted(
        [lead_b["username"], member_b["username"]]
    )
    listed = (await full.get("/api/v1/teams", headers=lead_a)).json()["items"]
    assert [t["name"] for t in listed] == ["team-a"]
    assert (
        await full.get("/api/v1/auth/me", headers={"X-API-Key": key_b["key"]})
    ).status_code == 200


# ------------------------------------------------------------------ IDOR


async def test_another_users_keys_are_invisible_and_untouchable(full: Client) -> None:
    alice = await login_headers(full, role="developer")
    bob = await login_headers(full, role="developer")
    key = await _key(full, bob, ["server:read"])
    for method, suffix in (("GET", ""), ("POST", "/rotate"), ("POST", "/revoke"),
                           ("DELETE", "")):  # fmt: skip
        response = await full.request(method, f"/api/v1/api-keys/{key['id']}{suffix}",
                                      headers=alice)  # fmt: skip
        assert response.status_code == 404, (method, suffix, response.text)
    assert (await full.get("/api/v1/api-keys", headers=alice)).json()["items"] == []
    bob_key = {"Authorization": f"Bearer {key['key']}"}
    assert (await full.get("/api/v1/servers", headers=bob_key)).status_code == 200


async def test_another_users_sessions_cannot_be_ended(full: Client) -> None:
    alice = await login_headers(full, role="developer")
    bob_user = await create_user(full, role="developer")
    login = await full.post(
        "/api/v1/auth/login",
        json={"username": bob_user["username"], "password": USER_PASSWORD},
    )
    bob = {"Authorization": f"Bearer {login.json()['access_token']}"}
    session = (await full.get("/api/v1/auth/sessions", headers=bob)).json()[0]["id"]
    assert (await full.delete(f"/api/v1/auth/sessions/{session}", headers=alice)).status_code == 404
    response = await full.post(
        "/api/v1/auth/logout", headers=alice, json={"refresh_token": login.json()["refresh_token"]}
    )
    assert response.status_code == 404
    assert (await full.get("/api/v1/auth/me", headers=bob)).status_code == 200
    refreshed = await full.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200


async def test_non_admins_read_neither_other_users_nor_the_audit_trail(full: Client) -> None:
    me = await create_user(full, role="developer")
    other = await create_user(full, role="developer")
    headers = await bearer(full, me["username"], USER_PASSWORD)
    assert (await full.get(f"/api/v1/users/{me['id']}", headers=headers)).status_code == 200
    assert (await full.get(f"/api/v1/users/{other['id']}", headers=headers)).status_code == 403
    assert (await full.get("/api/v1/users", headers=headers)).status_code == 403
    own = await full.get("/api/v1/audit", params={"principal": me["id"]}, headers=headers)
    assert own.status_code == 403
    export = await full.get("/api/v1/audit/export", params={"principal": other["id"]},
                            headers=headers)  # fmt: skip
    assert export.status_code == 403


# ------------------------------------------------------------------ escalation via user update


async def test_a_developer_cannot_raise_their_own_role_teams_or_activity(full: Client) -> None:
    admin = await admin_headers(full)
    me = await create_user(full, role="developer", teams=["alpha"])
    await create_user(full, role="viewer", teams=["beta"])
    headers = await bearer(full, me["username"], USER_PASSWORD)
    for change in ({"role": "admin"}, {"teams": ["alpha", "beta"]}, {"is_active": False},
                   {"role": "admin", "email": "me@example.com"}):  # fmt: skip
        response = await full.patch(f"/api/v1/users/{me['id']}", json=change, headers=headers)
        assert response.status_code == 403, (change, response.text)
    after = (await full.get(f"/api/v1/users/{me['id']}", headers=admin)).json()
    assert (after["role"], after["teams"], after["is_active"], after["email"]) == (
        "developer",
        ["alpha"],
        True,
        None,
    )
    # what a user may change of themselves still works
    ok = await full.patch(f"/api/v1/users/{me['id']}", json={"display_name": "Me"}, headers=headers)
    assert ok.status_code == 200


async def test_a_team_lead_cannot_grant_admin_or_make_leads(full: Client) -> None:
    admin = await admin_headers(full)
    lead, info = await _lead(full, "team-a")
    dev = await create_user(full, role="developer", teams=["team-a"])
    for target in (dev["id"], info["id"]):
        response = await full.patch(f"/api/v1/users/{target}", json={"role": "admin"},
                                    headers=lead)  # fmt: skip
        assert response.status_code == 403
    promote = await full.put(f"/api/v1/teams/{info['team_id']}/members", headers=lead,
                             json={"username": dev["username"], "is_lead": True})  # fmt: skip
    assert promote.status_code == 403
    create = await full.post("/api/v1/users", headers=lead, json={
        "username": "evil-admin", "password": "evil-password-1", "role": "admin"})  # fmt: skip
    assert create.status_code == 403
    users = {
        u["username"]: u for u in (await full.get("/api/v1/users", headers=admin)).json()["items"]
    }
    assert users[dev["username"]]["role"] == "developer"
    assert users[info["username"]]["role"] == "team_lead"
    assert "evil-admin" not in users
    team = (await full.get(f"/api/v1/teams/{info['team_id']}", headers=admin)).json()
    assert {m["username"]: m["is_lead"] for m in team["members"]}[dev["username"]] is False


async def test_a_security_admin_cannot_take_over_an_admin_key_by_rotating_it(full: Client) -> None:
    # Regression (issue 9): rotation returns the new secret, and security_admin could see
    # (and so rotate) every key: rotating the admin's key handed over its admin scope.
    admin = await admin_headers(full)
    auditor = await login_headers(full, role="security_admin")
    key = await _key(full, admin, ["admin"])
    assert (await full.get(f"/api/v1/api-keys/{key['id']}", headers=auditor)).status_code == 200
    rotate = await full.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=auditor)
    assert rotate.status_code == 403
    assert "key" not in rotate.json()
    assert (await full.get("/admin/features", headers={"X-API-Key": key["key"]})).status_code == 200
    # the owner still rotates it
    assert (
        await full.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=admin)
    ).status_code == 200


async def test_a_demoted_user_loses_their_old_rights_at_once(full: Client) -> None:
    admin = await admin_headers(full)
    user = await create_user(full, role="admin")
    token = await bearer(full, user["username"], USER_PASSWORD)
    key = await _key(full, token, ["admin"])
    demote = await full.patch(f"/api/v1/users/{user['id']}", json={"role": "viewer"}, headers=admin)
    assert demote.status_code == 200
    assert (await full.get("/api/v1/auth/me", headers=token)).status_code == 401
    as_key = {"X-API-Key": key["key"]}
    assert (await full.get("/admin/features", headers=as_key)).status_code == 403
    assert (await full.get("/api/v1/auth/me", headers=as_key)).json()["role"] == "viewer"


# ------------------------------------------------------------------ API key scope widening


async def test_keys_cannot_carry_more_than_their_owner(full: Client) -> None:
    viewer = await login_headers(full, role="viewer")
    developer = await login_headers(full, role="developer")
    for headers in (viewer, developer):
        for scopes in (["admin"], ["audit:read"], ["server:read", "audit:read"]):
            response = await full.post("/api/v1/api-keys", headers=headers,
                                       json={"name": "wide", "scopes": scopes})  # fmt: skip
            assert response.status_code == 403, (scopes, response.text)
        for scopes in ([], ["root"], ["server:read", "*"]):
            response = await full.post("/api/v1/api-keys", headers=headers,
                                       json={"name": "bad", "scopes": scopes})  # fmt: skip
            assert response.status_code in {400, 422}, (scopes, response.text)
        bad_team = await full.post(
            "/api/v1/api-keys",
            headers=headers,
            json={"name": "t", "scopes": ["server:read"], "team": "alpha"},
        )
        assert bad_team.status_code == 403
        assert (await full.get("/api/v1/api-keys", headers=headers)).json()["items"] == []
    # a scope never lifts the owner's role: a viewer's write key is still a viewer
    write = await _key(full, viewer, ["server:write"])
    register = await full.post("/api/v1/servers", json=server_body("viewer-srv"),
                               headers={"X-API-Key": write["key"]})  # fmt: skip
    assert register.status_code == 403
    # and a key cannot mint a wider key, nor change its own scopes
    read = await _key(full, developer, ["server:read"])
    as_key = {"X-API-Key": read["key"]}
    minted = await full.post("/api/v1/api-keys", headers=as_key,
                             json={"name": "x", "scopes": ["server:write"]})  # fmt: skip
    assert minted.status_code == 403
    widened = await full.patch(f"/api/v1/api-keys/{read['id']}", headers=developer,
                               json={"scopes": ["server:write"]})  # fmt: skip
    assert widened.status_code == 405
    rotated = await full.post(f"/api/v1/api-keys/{read['id']}/rotate", headers=developer)
    assert rotated.json()["scopes"] == ["server:read"]


async def test_an_audit_key_whose_owner_is_demoted_stops_reading(full: Client) -> None:
    # Regression (issue 9): the audit guard checked only the key's scope, so any owner's
    # key with audit:read read the whole trail. The owner's role now counts too.
    admin = await admin_headers(full)
    service = await create_user(full, role="service")
    headers = await bearer(full, service["username"], USER_PASSWORD)
    key = {"X-API-Key": (await _key(full, headers, ["audit:read"]))["key"]}
    assert (await full.get("/api/v1/audit", headers=key)).status_code == 200
    demote = await full.patch(f"/api/v1/users/{service['id']}", json={"role": "developer"},
                              headers=admin)  # fmt: skip
    assert demote.status_code == 200
    assert (await full.get("/api/v1/audit", headers=key)).status_code == 403
    assert (await full.get("/api/v1/audit/export", headers=key)).status_code == 403


async def test_a_users_gateway_key_is_not_a_policy_enforcement_point(full: Client) -> None:
    # Regression (issue 9): any user could mint a 'gateway' key and ask the decision APIs
    # about any subject (and fill the audit trail with decisions in their name).
    developer = await login_headers(full, role="developer")
    key = {"X-API-Key": (await _key(full, developer, ["gateway"]))["key"]}
    question = {"subject": {"type": "user", "id": "admin"}, "action": {"name": "tools/call"},
                "resource": {"type": "tool", "id": "anything"}}  # fmt: skip
    assert (await full.post("/access/v1/evaluation", json=question, headers=key)).status_code == 403
    data = {"input": {"action": "gateway:tool:invoke", "subject": {"id": "admin"}}}
    assert (await full.post("/v1/data/mcp/gateway/decision", json=data,
                            headers=key)).status_code == 403  # fmt: skip
    # the key still does what its owner may: ask for itself
    own = await full.post("/api/v1/gateway/authorize", headers=key,
                          json={"action": "gateway:tool:invoke", "server_name": "none",
                                "tool_name": "none"})  # fmt: skip
    assert own.status_code == 200
    # a service account's gateway key is a PEP
    pep = await api_key_headers(full, scopes=["gateway"])
    assert (await full.post("/access/v1/evaluation", json=question, headers=pep)).status_code == 200
