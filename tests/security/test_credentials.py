"""Credentials that must not work: revoked, rotated, logged out, forged or foreign tokens.

Forged tokens are built with PyJWT from the app's own issuer, audience and key id (read
from the running app), changing one thing at a time; a control token built the same way
with nothing changed is accepted, so each refusal is due to the one change.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar.testing import AsyncTestClient
from tests.support.identity import USER_PASSWORD, admin_headers, bearer, create_user

Client = AsyncTestClient[Any]
ME = "/api/v1/auth/me"


async def _login(client: Client, username: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": USER_PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _status(client: Client, headers: dict[str, str], path: str = ME) -> int:
    return (await client.get(path, headers=headers)).status_code


async def _new_key(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/api-keys", headers=headers, json={"name": "k", "scopes": ["server:read"]}
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------ revoked and rotated


async def test_revoked_and_deleted_keys_are_refused_both_ways(full: Client) -> None:
    owner = await bearer(full, (await create_user(full))["username"], USER_PASSWORD)
    revoked, deleted = await _new_key(full, owner), await _new_key(full, owner)
    for key in (revoked, deleted):
        assert await _status(full, {"X-API-Key": key["key"]}) == 200  # cached as valid first
    assert (await full.post(f"/api/v1/api-keys/{revoked['id']}/revoke", headers=owner)).is_success
    assert (await full.delete(f"/api/v1/api-keys/{deleted['id']}", headers=owner)).is_success
    for key in (revoked, deleted):
        for headers in ({"X-API-Key": key["key"]}, _bearer(key["key"])):
            response = await full.get(ME, headers=headers)
            assert response.status_code == 401
            assert response.json()["detail"] == "the API key has been revoked"
    rotate = await full.post(f"/api/v1/api-keys/{revoked['id']}/rotate", headers=owner)
    assert rotate.status_code == 422  # a revoked key cannot be brought back by rotation


async def test_a_rotated_keys_old_secret_is_refused(full: Client) -> None:
    owner = await bearer(full, (await create_user(full))["username"], USER_PASSWORD)
    key = await _new_key(full, owner)
    assert await _status(full, {"X-API-Key": key["key"]}) == 200
    rotated = (await full.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=owner)).json()
    assert rotated["key"] != key["key"]
    assert await _status(full, {"X-API-Key": key["key"]}) == 401
    assert await _status(full, {"X-API-Key": rotated["key"]}) == 200
    # the old secret with the new id (or the reverse) is no key at all
    old_secret = key["key"].rsplit("_", 1)[1]
    mixed = f"{rotated['key'].rsplit('_', 1)[0]}_{old_secret}"
    assert await _status(full, {"X-API-Key": mixed}) == 401


async def test_logged_out_and_refresh_rotated_tokens_are_refused(full: Client) -> None:
    user = await create_user(full)
    first = await _login(full, user["username"])
    assert await _status(full, _bearer(first["access_token"])) == 200
    logout = await full.post("/api/v1/auth/logout", headers=_bearer(first["access_token"]))
    assert logout.status_code == 204
    assert await _status(full, _bearer(first["access_token"])) == 401
    again = await full.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401

    second = await _login(full, user["username"])
    newer = await full.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert newer.status_code == 200
    reused = await full.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert reused.status_code == 401
    # reuse of a spent refresh token ends the whole session, the newest tokens included
    assert await _status(full, _bearer(newer.json()["access_token"])) == 401
    spent = await full.post(
        "/api/v1/auth/refresh", json={"refresh_token": newer.json()["refresh_token"]}
    )
    assert spent.status_code == 401


async def test_logout_all_and_deactivation_end_every_credential(full: Client) -> None:
    admin = await admin_headers(full)
    user = await create_user(full)
    one, two = await _login(full, user["username"]), await _login(full, user["username"])
    assert (await full.post("/api/v1/auth/logout-all",
                            headers=_bearer(one["access_token"]))).status_code == 204  # fmt: skip
    for pair in (one, two):
        assert await _status(full, _bearer(pair["access_token"])) == 401
    three = await _login(full, user["username"])
    key = await _new_key(full, _bearer(three["access_token"]))
    off = await full.patch(f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=admin)
    assert off.status_code == 200
    assert await _status(full, _bearer(three["access_token"])) == 401
    assert await _status(full, {"X-API-Key": key["key"]}) == 401
    login = await full.post(
        "/api/v1/auth/login", json={"username": user["username"], "password": USER_PASSWORD}
    )
    assert login.status_code == 401


async def test_a_deleted_users_key_is_refused(full: Client) -> None:
    admin = await admin_headers(full)
    user = await create_user(full)
    key = await _new_key(full, await bearer(full, user["username"], USER_PASSWORD))
    assert await _status(full, {"X-API-Key": key["key"]}) == 200
    assert (await full.delete(f"/api/v1/users/{user['id']}", headers=admin)).status_code == 204
    assert await _status(full, {"X-API-Key": key["key"]}) == 401


# ------------------------------------------------------------------ forged and foreign JWTs


def _claims(codec: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "00000000-0000-7000-8000-000000000001", "role": "admin", "teams": [],
              "name": "forged", "iat": now, "exp": now + 300, "jti": "j" * 32,
              "iss": codec.issuer, "aud": codec.audience}  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(codec: Any, claims: dict[str, Any], key: Any = None, alg: str = "HS256",
          kid: str | None = None) -> str:  # fmt: skip
    return jwt.encode(claims, key if key is not None else codec.key.signing, algorithm=alg,
                      headers={"kid": kid or codec.key.kid})  # fmt: skip


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


FORGERIES = {
    "another issuer": lambda c: _sign(c, _claims(c, iss="https://evil.example")),
    "another audience": lambda c: _sign(c, _claims(c, aud="someone-else")),
    "the agent audience": lambda c: _sign(c, _claims(c, aud=f"{c.audience}:agent")),
    "expired": lambda c: _sign(
        c, _claims(c, iat=int(time.time()) - 900, exp=int(time.time()) - 60)
    ),
    "not yet valid": lambda c: _sign(c, _claims(c, iat=int(time.time()) + 3600)),
    "no jti": lambda c: _sign(c, _claims(c, jti=None)),
    "no expiry": lambda c: _sign(c, _claims(c, exp=None)),
    "wrong key, same kid": lambda c: _sign(c, _claims(c), key=b"x" * 48),
    "unknown kid": lambda c: _sign(c, _claims(c), kid="hs-0000000000000000"),
    "alg none": lambda c: f"{_b64({'alg': 'none', 'kid': c.key.kid})}.{_b64(_claims(c))}.",
    "RS256 with an attacker's key": lambda c: _sign(
        c,
        _claims(c),
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        alg="RS256",
    ),
    "invalid role": lambda c: _sign(c, _claims(c, role="root")),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_and_foreign_tokens_are_refused(full: Client, forgery: str) -> None:
    codec = full.app.state.identity.codec
    control = _sign(codec, _claims(codec))
    assert await _status(full, _bearer(control), "/api/v1/policy/bundle") == 200
    token = FORGERIES[forgery](codec)
    for path in (ME, "/admin/features", "/api/v1/gateway/servers"):
        response = await full.get(path, headers=_bearer(token))
        assert response.status_code == 401, (forgery, path, response.text)
        assert "invalid_token" in response.headers["www-authenticate"]


async def test_a_tampered_token_is_refused(full: Client) -> None:
    user = await create_user(full, role="viewer")
    token = (await _login(full, user["username"]))["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["role"] == "viewer"
    claims["role"] = "admin"
    forged = f"{header}.{_b64(claims)}.{signature}"
    assert await _status(full, _bearer(forged), "/admin/features") == 401
    assert await _status(full, _bearer(token), "/admin/features") == 403


async def test_agent_tokens_only_work_where_agents_are_accepted(full: Client) -> None:
    admin = await admin_headers(full)
    issued = await full.post("/api/v1/gateway/agents/token", headers=admin,
                             json={"agent_id": "a-1", "role": "admin"})  # fmt: skip
    token = _bearer(issued.json()["token"])
    # an agent token (even one judged as role admin) is never a user token
    for path in (ME, "/admin/features", "/api/v1/audit"):
        assert await _status(full, token, path) == 401, path
    assert await _status(full, token, "/api/v1/gateway/servers") == 200
    # and it does not carry the admin scope on the gateway's admin routes
    mint = await full.post("/api/v1/gateway/agents/token", headers=token, json={"agent_id": "a-2"})
    assert mint.status_code == 403
    forged = issued.json()["token"][:-4] + "AAAA"
    assert await _status(full, _bearer(forged), "/api/v1/gateway/servers") == 401
