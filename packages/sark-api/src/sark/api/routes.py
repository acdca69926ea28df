"""Every route handler of the 1.0 service, by domain (plugins add their own)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from sark.api.domain.admin.controllers import AdminController
from sark.api.domain.audit.controllers import AuditController
from sark.api.domain.catalog.controllers import ServerController, ToolController
from sark.api.domain.health.controllers import HealthController
from sark.api.domain.identity.apikey_controllers import ApiKeyController
from sark.api.domain.identity.controllers import AuthController, JwksController
from sark.api.domain.identity.team_controllers import TeamController
from sark.api.domain.identity.user_controllers import UserController
from sark.api.domain.policy.controllers import PolicyController


def route_handlers() -> list[ControllerRouterHandler]:
    """The controllers of every domain of sark.api."""
    return [
        HealthController,
        AuthController,
        JwksController,
        UserController,
        TeamController,
        ApiKeyController,
        PolicyController,
        ServerController,
        ToolController,
        AuditController,
        AdminController,
    ]
