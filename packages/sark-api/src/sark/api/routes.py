"""Every route handler of the 1.0 service, by domain (plugins add their own)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from sark.api.domain.health.controllers import HealthController


def route_handlers() -> list[ControllerRouterHandler]:
    """The controllers of every domain of sark.api."""
    return [HealthController]
