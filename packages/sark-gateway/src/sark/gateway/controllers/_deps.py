"""Dependency providers shared by the plugin's controllers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from sark.gateway.state import GatewayState


def provide_gateway(state: State) -> GatewayState:
    """The plugin state (``gateway: NamedDependency[GatewayState]``)."""
    gateway: GatewayState = state.gateway
    return gateway


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    """The peer address of ``request``."""
    return request.client.host if request.client else None
