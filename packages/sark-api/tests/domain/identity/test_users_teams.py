"""Administration of users and teams over HTTP."""

from __future__ import annotations

from typing import Any

from tests.support.identity import USER_PASSWORD, admin_headers, bearer, create_user, login_headers


async def test_admin_creates_lists_and_pages_users(client: Any) -> None:
    admin = await admin_headers(client)
    for n in range(3):
        await create_user(client, username=f"user{n}", role="viewer", email=f"u{n}@example.org")
    first = await client.get("/api/v1/users", params={"limit": 2}, headers=admin)
    assert first.status_code == 200
    page = first.json()
    assert [u["username"] for u in page["items"]] == ["admin", "user0"]
    assert page["next_cursor"]
    rest = (
        await client.get(
            "/api/v1/users", params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin
        )
    ).json()
    assert [u["username"] for u in rest["items"]] == ["user1", "user2"]
    assert rest["next_cursor"] is None
    assert "password_hash" not in str(rest)
    bad = await client.get("/api/v1/users", params={"cursor": "!!"}, headers=admin)
    assert bad.status_code == 422


async def test_user_creation_validates_and_conflicts(client: Any) -> None:
    admin = await admin_headers(client)
    dup = await client.post(
        "/api/v1/users", json={"username": "admin", "password": "long-enough-1"}, headers=admin
    )
    assert dup.status_code == 409
    no_team = await client.post(
        "/api/v1/users",
        json={"username": "eve", "password": "long-enough-1", "teams": ["ghosts"]},
        headers=admin,
    )
    assert no_team.status_code == 422
    assert "ghosts" in no_team.json()["detail"]
    short = await client.post(
        "/api/v1/users", json={"username": "eve", "password": "short"}, headers=admin
    )
    assert short.status_code in (400, 422)
    listed = (await client.get("/api/v1/users", headers=admin)).json()["items"]
    assert [u["username"] for u in listed] == ["admin"]


async def test_non_admin_can_never_raise_privileges(client: Any) -> None:
    user = await create_user(client, username="mallory", role="developer")
    mallory = await bearer(client, "mallory", USER_PASSWORD)
    for change in ({"role": "admin"}, {"is_active": True}, {"teams": ["x"]}):
        response = await client.patch(f"/api/v1/users/{user['id']}", json=change, headers=mallory)
        assert response.status_code == 403, change
    assert (
        await client.post(
            "/api/v1/users",
            json={"username": "m2", "password": "long-enough-1", "role": "admin"},
            headers=mallory,
        )
    ).status_code == 403
    admin = await admin_headers(client)
    stored = (await client.get(f"/api/v1/users/{user['id']}", headers=admin)).json()
    assert stored["role"] == "developer"
    # Their own profile they may change.
    own = await client.patch(
        f"/api/v1/users/{user['id']}", json={"display_name": "M"}, headers=mallory
    )
    assert own.status_code == 200
    assert own.json()["display_name"] == "M"
    other = await client.get(f"/api/v1/users/{(await create_user(client))['id']}", headers=mallory)
    assert other.status_code == 403


async def test_role_change_ends_sessions(client: Any) -> None:
    admin = await admin_headers(client)
    user = await create_user(client, username="rita", role="viewer")
    rita = await bearer(client, "rita", USER_PASSWORD)
    changed = await client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "team_lead"}, headers=admin
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "team_lead"
    assert (await client.get("/api/v1/auth/me", headers=rita)).status_code == 401
    relogged = await bearer(client, "rita", USER_PASSWORD)
    assert (await client.get("/api/v1/auth/me", headers=relogged)).json()["role"] == "team_lead"


async def test_last_admin_cannot_be_demoted_or_deleted(client: Any) -> None:
    admin = await admin_headers(client)
    me = (await client.get("/api/v1/auth/me", headers=admin)).json()
    demote = await client.patch(f"/api/v1/users/{me['id']}", json={"role": "viewer"}, headers=admin)
    assert demote.status_code == 409
    delete = await client.delete(f"/api/v1/users/{me['id']}", headers=admin)
    assert delete.status_code == 409
    assert (await client.get("/api/v1/auth/me", headers=admin)).json()["role"] == "admin"


async def test_delete_user_removes_keys_and_sessions(client: Any) -> None:
    admin = await admin_headers(client)
    user = await create_user(client, username="gone", role="developer")
    headers = await bearer(client, "gone", USER_PASSWORD)
    key = (
        await client.post(
            "/api/v1/api-keys", json={"name": "k", "scopes": ["server:read"]}, headers=headers
        )
    ).json()["key"]
    assert (await client.delete(f"/api/v1/users/{user['id']}", headers=admin)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401
    assert (await client.get(f"/api/v1/users/{user['id']}", headers=admin)).status_code == 404


async def test_teams_members_and_leads(client: Any) -> None:
    admin = await admin_headers(client)
    team = (await client.post("/api/v1/teams", json={"name": "payments"}, headers=admin)).json()
    assert (
        await client.post("/api/v1/teams", json={"name": "payments"}, headers=admin)
    ).status_code == 409
    await create_user(client, username="lead", role="team_lead")
    await create_user(client, username="dev", role="developer")
    await create_user(client, username="outsider", role="developer")
    made = await client.put(
        f"/api/v1/teams/{team['id']}/members",
        json={"username": "lead", "is_lead": True},
        headers=admin,
    )
    assert made.status_code == 200
    lead = await bearer(client, "lead", USER_PASSWORD)
    added = await client.put(
        f"/api/v1/teams/{team['id']}/members", json={"username": "dev"}, headers=lead
    )
    assert added.status_code == 200
    assert {(m["username"], m["is_lead"]) for m in added.json()["members"]} == {
        ("lead", True),
        ("dev", False),
    }
    promote = await client.put(
        f"/api/v1/teams/{team['id']}/members",
        json={"username": "dev", "is_lead": True},
        headers=lead,
    )
    assert promote.status_code == 403
    dev = await bearer(client, "dev", USER_PASSWORD)
    assert (
        await client.put(
            f"/api/v1/teams/{team['id']}/members", json={"username": "outsider"}, headers=dev
        )
    ).status_code == 403
    outsider = await bearer(client, "outsider", USER_PASSWORD)
    assert (await client.get(f"/api/v1/teams/{team['id']}", headers=outsider)).status_code == 404
    assert (await client.get("/api/v1/teams", headers=outsider)).json()["items"] == []
    assert [
        t["name"] for t in (await client.get("/api/v1/teams", headers=dev)).json()["items"]
    ] == ["payments"]
    dev_id = next(m["user_id"] for m in added.json()["members"] if m["username"] == "dev")
    assert (
        await client.delete(f"/api/v1/teams/{team['id']}/members/{dev_id}", headers=lead)
    ).status_code == 204
    shown = (await client.get(f"/api/v1/teams/{team['id']}", headers=admin)).json()
    assert [m["username"] for m in shown["members"]] == ["lead"]
    viewer = await login_headers(client, role="viewer")
    assert (
        await client.post("/api/v1/teams", json={"name": "x"}, headers=viewer)
    ).status_code == 403
    assert (await client.delete(f"/api/v1/teams/{team['id']}", headers=admin)).status_code == 204
