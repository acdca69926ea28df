"""The authentication middleware: on by default, public paths, plugin opt-out, guards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import get
from litestar.config.app import AppConfig
from litestar.di import NamedDependency
from litestar.plugins import InitPlugin
from litestar.testing import AsyncTestClient
from tests.support.app import migrate
from tests.support.identity import admin_headers, api_key_headers, login_headers

from sark.api import create_app
from sark.api.domain.identity.guards import require_roles, require_scope
from sark.core.models import Principal, Role
from sark.core.settings import Settings


@get("/plugin/public", opt={"exclude_from_auth": True}, operation_id="pluginPublic")
async def plugin_public() -> dict[str, str]:
    return {"ok": "public"}


@get(
    "/plugin/leads",
    guards=[require_roles(Role.ADMIN, Role.TEAM_LEAD), require_scope("server:write")],
    operation_id="pluginLeads",
)
async def plugin_leads(principal: NamedDependency[Principal]) -> dict[str, str]:
    return {"id": principal.id, "role": str(principal.role)}


class _Plugin(InitPlugin):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([plugin_public, plugin_leads])
        return app_config


async def test_plugin_routes_are_authenticated_unless_they_opt_out(settings: Settings) -> None:
    await migrate(settings)
    app = create_app(settings, plugins={"test": lambda _: _Plugin()})
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/plugin/public")).json() == {"ok": "public"}
        assert (await client.get("/plugin/leads")).status_code == 401
        admin = await admin_headers(client)
        allowed = await client.get("/plugin/leads", headers=admin)
        assert allowed.status_code == 200
        assert allowed.json()["role"] == "admin"
        developer = await login_headers(client, role="developer")
        denied = await client.get("/plugin/leads", headers=developer)
        assert denied.status_code == 403
        assert "team_lead" in denied.json()["detail"]
        no_scope = await api_key_headers(client, scopes=["server:read"], role="team_lead")
        refused = await client.get("/plugin/leads", headers=no_scope)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "this API key lacks the 'server:write' scope"
        scoped = await api_key_headers(client, scopes=["server:write"], role="team_lead")
        assert (await client.get("/plugin/leads", headers=scoped)).status_code == 200


def test_unknown_scope_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        require_scope("servers:read")


async def test_principal_dependency_outside_authentication_is_401(client: Any) -> None:
    # /api/v1/auth/me needs the principal; without credentials the middleware answers first.
    response = await client.get("/api/v1/auth/me", headers={"X-API-Key": ""})
    assert response.status_code == 401
