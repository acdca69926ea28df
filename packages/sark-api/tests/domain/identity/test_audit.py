"""Identity events reach the audit trail, without any secret in them."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.app import TEST_ADMIN_PASSWORD
from tests.support.identity import USER_PASSWORD, admin_headers, create_user


async def _identity_events(client: Any, headers: dict[str, str], last: str) -> list[dict[str, Any]]:
    """Identity events, oldest first, once ``last`` has been written (bounded wait)."""
    items: list[dict[str, Any]] = []
    for _ in range(100):  # the audit writer flushes on its own schedule
        response = await client.get(
            "/api/v1/audit", params={"kind": "identity", "limit": "500"}, headers=headers
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if any(e["action"] == last for e in items):
            break
        await asyncio.sleep(0.1)
    return list(reversed(items))


async def test_identity_changes_and_auth_events_are_audited(client: Any) -> None:
    admin = await admin_headers(client)
    user = await create_user(client, username="audited", role="viewer")
    bad = await client.post(
        "/api/v1/auth/login", json={"username": "audited", "password": "wrong-password"}
    )
    assert bad.status_code == 401
    tokens = (
        await client.post(
            "/api/v1/auth/login", json={"username": "audited", "password": USER_PASSWORD}
        )
    ).json()
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert reused.status_code == 401
    changed = await client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "developer"}, headers=admin
    )
    assert changed.status_code == 200
    key = (
        await client.post(
            "/api/v1/api-keys", json={"name": "k", "scopes": ["audit:read"]}, headers=admin
        )
    ).json()
    await client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=admin)
    await client.post(f"/api/v1/api-keys/{key['id']}/revoke", headers=admin)

    events = await _identity_events(client, admin, "api_key.revoke")
    actions = [e["action"] for e in events]
    for expected in ("user.create", "auth.login", "auth.refresh", "auth.refresh_reuse",
                     "user.role_change", "user.update", "api_key.create", "api_key.rotate",
                     "api_key.revoke"):  # fmt: skip
        assert expected in actions, expected
    failures = [e for e in events if e["action"] == "auth.login" and e["allow"] is False]
    assert failures[0]["reason"] == "bad_credentials"
    assert failures[0]["details"] == {"username": "audited"}
    reuse = next(e for e in events if e["action"] == "auth.refresh_reuse")
    assert reuse["allow"] is False
    role = next(e for e in events if e["action"] == "user.role_change")
    assert role["details"] == {"from": "viewer", "to": "developer"}
    assert role["principal_role"] == "admin"
    everything = str(events)
    for secret in (USER_PASSWORD, TEST_ADMIN_PASSWORD, "wrong-password", tokens["refresh_token"],
                   tokens["access_token"], key["key"]):  # fmt: skip
        assert secret not in everything
