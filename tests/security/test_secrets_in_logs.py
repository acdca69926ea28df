"""Secrets stay out of logs: the app at DEBUG, fed credentials every way, and the scanner."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.compatibility.gateway_support import ENABLED, GATEWAY_KEY, app_client, gateway_settings
from tests.support import secrets_scan
from tests.support.app import TEST_ADMIN_PASSWORD
from tests.support.identity import USER_PASSWORD, create_user

from sark.api.observability.logging import JsonFormatter

Client = AsyncTestClient[Any]


@pytest.fixture(name="debug_log")
def fixture_debug_log() -> Iterator[io.StringIO]:
    """Every record of every logger at DEBUG, as SARK's JSON lines, in a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(name="chatty")
async def fixture_chatty(tmp_path: Path, database_url: str) -> AsyncIterator[Client]:
    """An app with access logs on and the gateway enabled."""
    env = {**ENABLED, "SARK_LOG_ACCESS": "true", "SARK_LOG_LEVEL": "debug"}
    async with app_client(gateway_settings(tmp_path, database_url, env)) as client:
        yield client


async def test_credentials_sent_every_way_never_reach_the_logs(
    chatty: Client, debug_log: io.StringIO
) -> None:
    user = await create_user(chatty, role="developer", password="a-user-password-4567")
    bad_login = {"username": user["username"], "password": "a-wrong-password-9876"}
    assert (await chatty.post("/api/v1/auth/login", json=bad_login)).status_code == 401
    login = await chatty.post(
        "/api/v1/auth/login",
        json={"username": user["username"], "password": "a-user-password-4567"},
    )
    tokens = login.json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = (
        await chatty.post(
            "/api/v1/api-keys", headers=access, json={"name": "k", "scopes": ["gateway"]}
        )
    ).json()["key"]
    refreshed = await chatty.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    await chatty.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    # the wrong credential in the wrong place, on every kind of route
    for headers in (
        access,
        {"Authorization": f"Bearer {key}"},
        {"X-API-Key": key},
        {"X-API-Key": GATEWAY_KEY},
        {"Authorization": f"Bearer {key[:-3]}xyz"},
        {"Authorization": f"Token {tokens['access_token']}"},
    ):
        for path in ("/api/v1/auth/me", "/admin/features", "/api/v1/gateway/servers"):
            await chatty.get(path, headers=headers, params={"probe": "1"})
    await chatty.post("/api/v1/gateway/audit", headers={"X-API-Key": GATEWAY_KEY},
                      json={"event_type": "x", "message": "gateway event"})  # fmt: skip
    # a server error path and a validation error path with a password in the body
    await chatty.post("/api/v1/auth/login", json={"username": "x", "password": "", "p": "z"})
    bad_user = {"username": "v", "password": "another-password-111", "role": "x"}
    await chatty.post("/api/v1/users", headers=access, json=bad_user)
    text = debug_log.getvalue()
    assert "/api/v1/auth/login" in text  # the access log was captured: the check is real
    assert "Bearer" not in text
    secrets = {
        "user password": "a-user-password-4567",
        "wrong password": "a-wrong-password-9876",
        "other password": "another-password-111",
        "admin password": TEST_ADMIN_PASSWORD,
        "user-test-password": USER_PASSWORD,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "rotated refresh token": refreshed.json()["refresh_token"],
        "api key": key,
        "gateway key": GATEWAY_KEY,
    }
    leaks = list(secrets_scan.scan_text(text, {v: k for k, v in secrets.items()}, Path("log")))
    assert [leak.what for leak in leaks] == []


def test_the_scanner_finds_secrets_anywhere_and_ignores_short_strings() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLW9uZQ"
    other = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIyIn0.c2lnbmF0dXJlLXR3bw"
    text = f'line one\n{{"authorization": "Bearer {token}"}}\nshort: hunter2\n'
    leaks = list(
        secrets_scan.scan_text(
            text, {token: "jwt", other: "other jwt", "hunter2": "short"}, Path("f.log")
        )
    )
    assert [(leak.what, leak.line) for leak in leaks] == [("jwt", 2)]
    assert str(leaks[0]) == "jwt in f.log:2"
    assert token not in str(leaks[0])
    assert secrets_scan.mask(token) == f"eyJh…({len(token)} chars)"


def test_helpers_record_what_the_api_hands_out() -> None:
    body = {"items": [{"key": "sark_abcdef_0123456789abcdef", "name": "k"}],
            "access_token": "x" * 40, "short": {"token": "tiny"}}  # fmt: skip
    secrets_scan.record_response(body, "unit")
    recorded = secrets_scan.recorded()
    assert recorded["sark_abcdef_0123456789abcdef"] == "unit.key"
    assert recorded["x" * 40] == "unit.access_token"
    assert "tiny" not in recorded
    secrets_scan.record_settings_env({"SARK_JWT_SECRET": "j" * 40, "SARK_DATABASE_URL": "u" * 40})
    recorded = secrets_scan.recorded()
    assert recorded["j" * 40] == "SARK_JWT_SECRET"
    assert "u" * 40 not in recorded
