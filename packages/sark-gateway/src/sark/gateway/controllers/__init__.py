"""HTTP endpoints of the gateway plugin, grouped by feature flag."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from sark.gateway.controllers.a2a import A2AController
from sark.gateway.controllers.authzen import AuthZenController, AuthZenMetadataController
from sark.gateway.controllers.gateway import GatewayController
from sark.gateway.controllers.opa import OpaDataController

__all__ = ["a2a_handlers", "gateway_handlers"]


def gateway_handlers() -> list[ControllerRouterHandler]:
    """Routes active when ``GATEWAY_ENABLED``."""
    return [GatewayController, AuthZenMetadataController, AuthZenController, OpaDataController]


def a2a_handlers() -> list[ControllerRouterHandler]:
    """Routes active when ``A2A_ENABLED`` (and the gateway)."""
    return [A2AController]
