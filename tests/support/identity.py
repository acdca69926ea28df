"""Log in to a test app: headers for the bootstrapped admin, any role, or an API key.

Interface (stable; other test modules import it)::

    from tests.support.identity import admin_headers, login_headers, api_key_headers

    headers = await admin_headers(client)                       # the bootstrapped `admin`
    headers = await login_headers(client, role="developer", teams=["payments"])
    headers = await api_key_headers(client, scopes=["server:read"], role="service")
    user = await create_user(client, username="bob", role="viewer", teams=["ops"])

The ``*_headers`` helpers return ``{"Authorization": "Bearer ..."}`` for ``client`` (the fixture, an
``AsyncTestClient`` of an app built with ``make_settings``, whose ``admin`` password is
``tests.support.app.TEST_ADMIN_PASSWORD``). Missing teams and users are created through the
admin API (password ``USER_PASSWORD``); ``username`` defaults to a fresh unique name, and an
existing ``username`` is simply logged in (its role and teams are left as they are).
``api_key_headers`` creates a user with ``role`` (``service`` by default) and ``teams``, then
a key with ``scopes`` owned by it: the key's principal has type ``service``, that role and
those teams.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from tests.support import secrets_scan
from tests.support.app import TEST_ADMIN_PASSWORD

USER_PASSWORD = "user-test-password"
_counter = itertools.count(1)


def _check(response: Any, *expected: int) -> Any:
    if response.status_code not in expected:
        request = f"{response.request.method} {response.request.url}"
        msg = f"{request} -> {response.status_code}: {response.text}"
        raise AssertionError(msg)
    body = response.json() if response.content else None
    secrets_scan.record_response(body, "api")  # tokens and keys the API hands out
    return body


async def bearer(client: Any, username: str, password: str) -> dict[str, str]:
    """Headers for ``username`` logged in with ``password``."""
    body = _check(
        await client.post("/api/v1/auth/login", json={"username": username, "password": password}),
        200,
    )
    return {"Authorization": f"Bearer {body['access_token']}"}


async def admin_headers(client: Any) -> dict[str, str]:
    """Headers of the bootstrapped ``admin`` user."""
    return await bearer(client, "admin", TEST_ADMIN_PASSWORD)


async def ensure_teams(client: Any, teams: Sequence[str], admin: dict[str, str]) -> None:
    """Create the teams of ``teams`` that do not exist yet."""
    for name in teams:
        _check(await client.post("/api/v1/teams", json={"name": name}, headers=admin), 201, 409)


async def create_user(
    client: Any,
    *,
    role: str = "developer",
    teams: Sequence[str] = (),
    username: str | None = None,
    password: str = USER_PASSWORD,
    email: str | None = None,
) -> dict[str, Any]:
    """Create a user (and missing teams) through the admin API; the user's JSON."""
    admin = await admin_headers(client)
    await ensure_teams(client, teams, admin)
    name = username or f"{role.replace('_', '-')}-{next(_counter)}"
    payload: dict[str, Any] = {
        "username": name,
        "password": password,
        "role": role,
        "teams": list(teams),
    }
    if email is not None:
        payload["email"] = email
    secrets_scan.record(password, "user password")
    user: dict[str, Any] = _check(
        await client.post("/api/v1/users", json=payload, headers=admin), 201
    )
    return user


async def login_headers(
    client: Any, *, role: str, teams: Sequence[str] = (), username: str | None = None
) -> dict[str, str]:
    """Headers of a user with ``role`` and ``teams`` (created if missing)."""
    if role == "admin" and username in (None, "admin") and not teams:
        return await admin_headers(client)
    if username is not None and await _exists(client, username):
        return await bearer(client, username, USER_PASSWORD)
    user = await create_user(client, role=role, teams=teams, username=username)
    return await bearer(client, user["username"], USER_PASSWORD)


async def _exists(client: Any, username: str) -> bool:
    admin = await admin_headers(client)
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = _check(await client.get("/api/v1/users", params=params, headers=admin), 200)
        if any(u["username"] == username for u in page["items"]):
            return True
        cursor = page["next_cursor"]
        if cursor is None:
            return False


async def api_key_headers(
    client: Any, *, scopes: Sequence[str], role: str = "service", teams: Sequence[str] = ()
) -> dict[str, str]:
    """Headers carrying a new API key with ``scopes``, owned by a new user with ``role``."""
    owner = await login_headers(client, role=role, teams=teams)
    body = _check(
        await client.post(
            "/api/v1/api-keys",
            json={"name": f"test-key-{next(_counter)}", "scopes": list(scopes)},
            headers=owner,
        ),
        201,
    )
    return {"Authorization": f"Bearer {body['key']}"}
