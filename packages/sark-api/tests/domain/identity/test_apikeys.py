"""API keys: shown once, accepted two ways, scopes, revocation, rotation, expiry, last use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support.identity import admin_headers, api_key_headers, login_headers

from sark.api.domain.identity.models import ApiKey
from sark.api.security.apikeys import (
    KEY_ID_ALPHABET,
    KEY_ID_LENGTH,
    ApiKeyHasher,
    format_api_key,
    generate_api_key,
    parse_api_key,
)


@given(
    key_id=st.text(alphabet=KEY_ID_ALPHABET, min_size=KEY_ID_LENGTH, max_size=KEY_ID_LENGTH),
    secret=st.text(min_size=1, max_size=200),
)
def test_any_key_id_and_secret_round_trip(key_id: str, secret: str) -> None:
    assert parse_api_key(format_api_key(key_id, secret)) == (key_id, secret)


@given(st.text(max_size=80))
def test_parse_never_accepts_what_format_cannot_produce(value: str) -> None:
    parsed = parse_api_key(value)
    if parsed is not None:
        assert format_api_key(*parsed) == value


def test_generated_keys_parse_and_hash_compare() -> None:
    key_id, secret, presented = generate_api_key()
    assert presented.startswith("sark_")
    assert parse_api_key(presented) == (key_id, secret)
    hasher = ApiKeyHasher("pepper-pepper-pepper")
    stored = hasher.digest(secret)
    assert hasher.matches(secret, stored)
    assert not hasher.matches(secret + "x", stored)
    assert not ApiKeyHasher("another-pepper-value").matches(secret, stored)


async def _create(client: Any, headers: dict[str, str], **body: Any) -> Any:
    payload = {"name": "ci", "scopes": ["server:read"], **body}
    return await client.post("/api/v1/api-keys", json=payload, headers=headers)


async def test_key_is_shown_once_and_accepted_both_ways(client: Any) -> None:
    owner = await login_headers(client, role="developer", teams=["payments"])
    created = await _create(
        client, owner, scopes=["server:read", "policy:evaluate"], expires_in_days=30
    )
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith(f"sark_{body['key_id']}_")
    listed = (await client.get("/api/v1/api-keys", headers=owner)).json()["items"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert key not in str(listed)
    assert "secret_hash" not in listed[0]
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        me = await client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["type"] == "service"
        assert me.json()["role"] == "developer"  # the owner's role
        assert me.json()["teams"] == ["payments"]
        assert me.json()["scopes"] == ["policy:evaluate", "server:read"]


async def test_wrong_key_secret_and_malformed_keys_are_401(client: Any) -> None:
    headers = await api_key_headers(client, scopes=["server:read"])
    key = headers["Authorization"].removeprefix("Bearer ")
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    response = await client.get("/api/v1/auth/me", headers={"X-API-Key": wrong})
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid API key"
    malformed = await client.get("/api/v1/auth/me", headers={"X-API-Key": "sark_short"})
    assert malformed.json()["detail"].startswith("the API key is malformed")


async def test_wrong_scope_is_403(client: Any) -> None:
    headers = await api_key_headers(client, scopes=["server:read"], role="admin")
    response = await client.get("/api/v1/users", headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"] == "this API key lacks the 'admin' scope"
    granted = await api_key_headers(client, scopes=["admin"], role="admin")
    assert (await client.get("/api/v1/users", headers=granted)).status_code == 200


async def test_only_admins_grant_admin_scope_and_scopes_are_checked(client: Any) -> None:
    developer = await login_headers(client, role="developer")
    response = await _create(client, developer, scopes=["admin"])
    assert response.status_code == 403
    unknown = await _create(client, developer, scopes=["root"])
    assert unknown.status_code == 422
    assert "unknown scope" in unknown.json()["detail"]
    foreign_team = await _create(client, developer, team="payments")
    assert foreign_team.status_code == 403
    assert (await client.get("/api/v1/api-keys", headers=developer)).json()["items"] == []


async def test_revoked_key_is_401_and_record_kept(client: Any) -> None:
    owner = await login_headers(client, role="service")
    body = (await _create(client, owner)).json()
    key_headers = {"X-API-Key": body["key"]}
    assert (await client.get("/api/v1/auth/me", headers=key_headers)).status_code == 200
    revoked = await client.post(f"/api/v1/api-keys/{body['id']}/revoke", headers=owner)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    response = await client.get("/api/v1/auth/me", headers=key_headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "the API key has been revoked"
    record = await client.get(f"/api/v1/api-keys/{body['id']}", headers=owner)
    assert record.status_code == 200
    rotate = await client.post(f"/api/v1/api-keys/{body['id']}/rotate", headers=owner)
    assert rotate.status_code == 422


async def test_rotation_replaces_the_key(client: Any) -> None:
    owner = await login_headers(client, role="service")
    body = (await _create(client, owner)).json()
    rotated = await client.post(f"/api/v1/api-keys/{body['id']}/rotate", headers=owner)
    assert rotated.status_code == 200
    new_key = rotated.json()["key"]
    assert new_key != body["key"]
    assert rotated.json()["id"] == body["id"]
    assert (
        await client.get("/api/v1/auth/me", headers={"X-API-Key": body["key"]})
    ).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": new_key})).status_code == 200


async def test_another_users_key_is_not_found(client: Any) -> None:
    alice = await login_headers(client, role="developer")
    bob = await login_headers(client, role="developer")
    body = (await _create(client, alice)).json()
    assert (await client.get(f"/api/v1/api-keys/{body['id']}", headers=bob)).status_code == 404
    assert (
        await client.post(f"/api/v1/api-keys/{body['id']}/revoke", headers=bob)
    ).status_code == 404
    assert (
        await client.get("/api/v1/auth/me", headers={"X-API-Key": body["key"]})
    ).status_code == 200
    admin = await admin_headers(client)
    assert (await client.get(f"/api/v1/api-keys/{body['id']}", headers=admin)).status_code == 200


async def test_expired_key_is_401(client: Any) -> None:
    owner = await login_headers(client, role="service")
    body = (await _create(client, owner, expires_in_days=1)).json()
    settings = client.app.state.runtime.settings
    engine = create_async_engine(settings.database.url.reveal())
    async with engine.begin() as connection:
        await connection.execute(
            update(ApiKey)
            .where(ApiKey.key_id == body["key_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    await engine.dispose()
    response = await client.get("/api/v1/auth/me", headers={"X-API-Key": body["key"]})
    assert response.status_code == 401
    assert response.json()["detail"] == "the API key has expired"


async def test_last_use_is_recorded_without_a_write_per_request(make_client: Any) -> None:
    # A long sync interval: nothing is written until the app shuts down (which flushes).
    async with make_client({"SARK_AUTH_REVOCATION_SYNC_SECONDS": "60"}) as client:
        owner = await login_headers(client, role="service")
        body = (await _create(client, owner)).json()
        for _ in range(3):
            me = await client.get("/api/v1/auth/me", headers={"X-API-Key": body["key"]})
            assert me.status_code == 200
        identity = client.app.state.identity
        assert list(identity.authenticator.touches) == [body["key_id"]]  # one write, not three
        settings = client.app.state.runtime.settings
    engine = create_async_engine(settings.database.url.reveal())
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(ApiKey.last_used_at, ApiKey.last_used_ip).where(
                    ApiKey.key_id == body["key_id"]
                )
            )
        ).one()
    await engine.dispose()
    assert row[0] is not None
    assert row[1]
