"""Password login, refresh rotation with reuse detection, logout, sessions, me."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support.app import TEST_ADMIN_PASSWORD
from tests.support.identity import USER_PASSWORD, admin_headers, create_user

from sark.api.domain.identity.models import AuthSession


async def _login(client: Any, username: str, password: str) -> Any:
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )


async def _session_count(client: Any) -> int:
    settings = client.app.state.runtime.settings
    engine = create_async_engine(settings.database.url.reveal())
    try:
        async with engine.connect() as connection:
            return int(
                (
                    await connection.execute(select(func.count()).select_from(AuthSession))
                ).scalar_one()
            )
    finally:
        await engine.dispose()


async def test_login_returns_tokens_and_me_describes_the_user(client: Any) -> None:
    await create_user(client, username="alice", role="developer", teams=["payments"])
    response = await _login(client, "alice", USER_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"]
    assert body["access_token"].count(".") == 2
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["name"] == "alice"
    assert me.json()["role"] == "developer"
    assert me.json()["teams"] == ["payments"]
    assert me.json()["user"]["last_login_at"] is not None


async def test_wrong_password_is_401_and_opens_no_session(client: Any) -> None:
    await admin_headers(client)
    before = await _session_count(client)
    response = await _login(client, "admin", "not-the-password")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "invalid username or password"
    unknown = await _login(client, "nobody", "whatever-password")
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "invalid username or password"
    assert await _session_count(client) == before


async def test_deactivated_user_cannot_log_in_and_loses_sessions(client: Any) -> None:
    admin = await admin_headers(client)
    user = await create_user(client, username="carol", role="viewer")
    tokens = (await _login(client, "carol", USER_PASSWORD)).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    patched = await client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=admin
    )
    assert patched.status_code == 200
    assert patched.json()["is_active"] is False
    refused = await _login(client, "carol", USER_PASSWORD)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "this account is deactivated"
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(client: Any) -> None:
    first = (await _login(client, "admin", TEST_ADMIN_PASSWORD)).json()
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    new_headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=new_headers)).status_code == 200

    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    assert "already used" in reused.json()["detail"]
    # The whole family is gone: the newest refresh token and its access token too.
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert after.status_code == 401
    assert "ended" in after.json()["detail"]
    me = await client.get("/api/v1/auth/me", headers=new_headers)
    assert me.status_code == 401
    assert me.json()["detail"] == "the session of this token was logged out"


async def test_invalid_refresh_token_is_401(client: Any) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-token"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the refresh token is invalid"


async def test_logout_ends_only_the_current_session(client: Any) -> None:
    one = (await _login(client, "admin", TEST_ADMIN_PASSWORD)).json()
    two = (await _login(client, "admin", TEST_ADMIN_PASSWORD)).json()
    h1 = {"Authorization": f"Bearer {one['access_token']}"}
    h2 = {"Authorization": f"Bearer {two['access_token']}"}
    sessions = (await client.get("/api/v1/auth/sessions", headers=h1)).json()
    assert len(sessions) == 2
    assert sum(s["current"] for s in sessions) == 1
    assert (await client.post("/api/v1/auth/logout", headers=h1)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=h1)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=h2)).status_code == 200
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": one["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert len((await client.get("/api/v1/auth/sessions", headers=h2)).json()) == 1


async def test_logout_all_and_revoking_a_session(client: Any) -> None:
    one = (await _login(client, "admin", TEST_ADMIN_PASSWORD)).json()
    two = (await _login(client, "admin", TEST_ADMIN_PASSWORD)).json()
    h1 = {"Authorization": f"Bearer {one['access_token']}"}
    h2 = {"Authorization": f"Bearer {two['access_token']}"}
    sessions = (await client.get("/api/v1/auth/sessions", headers=h1)).json()
    other = next(s for s in sessions if not s["current"])
    revoked = await client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=h1)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=h2)).status_code == 401
    three = (await _login(client, "admin", TEST_ADMIN_PASSWORD)).json()
    h3 = {"Authorization": f"Bearer {three['access_token']}"}
    assert (await client.post("/api/v1/auth/logout-all", headers=h1)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=h1)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=h3)).status_code == 401


async def test_a_session_of_another_user_is_not_found(client: Any) -> None:
    admin = await admin_headers(client)
    await create_user(client, username="dave", role="developer")
    dave = (await _login(client, "dave", USER_PASSWORD)).json()
    dave_headers = {"Authorization": f"Bearer {dave['access_token']}"}
    admin_sessions = (await client.get("/api/v1/auth/sessions", headers=admin)).json()
    response = await client.delete(
        f"/api/v1/auth/sessions/{admin_sessions[0]['id']}", headers=dave_headers
    )
    assert response.status_code == 404
    assert (await client.get("/api/v1/auth/me", headers=admin)).status_code == 200


async def test_missing_or_malformed_credentials_get_a_bearer_challenge(client: Any) -> None:
    missing = await client.get("/api/v1/auth/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="sark"'
    basic = await client.get("/api/v1/auth/me", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert basic.status_code == 401
    assert "invalid_token" in basic.headers["www-authenticate"]
    assert basic.json()["detail"] == "the Authorization header must be `Bearer <token>`"


async def test_public_paths_need_no_credentials(client: Any) -> None:
    for path in (
        "/health",
        "/health/live",
        "/api/v1/version",
        "/version",
        "/.well-known/jwks.json",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
    assert (await client.get("/schema/openapi.json")).status_code == 200
    assert (await client.get("/.well-known/jwks.json")).json() == {"keys": []}
