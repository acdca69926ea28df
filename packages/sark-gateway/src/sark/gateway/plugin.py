"""``GatewayPlugin``: adds the gateway, A2A and PDP-standard routes to a SARK application."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from sark.api.domain.identity.middleware import EXCLUDE_OPT_KEY
from sark.core.settings import Settings
from sark.gateway.config import GatewayConfig
from sark.gateway.state import GatewayState

STATE_KEY = "gateway"


class GatewayPlugin(InitPlugin):
    """The sark-gateway plugin; changes the app only in :meth:`on_app_init`.

    Routes are always added, so a disabled feature answers 503 with the guide's message
    instead of 404. They are public for the authentication middleware (their admission
    hooks check the feature first, then authenticate), and they are left out of the OpenAPI
    document while the gateway is disabled: the document is then exactly the 1.0 one.
    """

    __slots__ = ("config",)

    def __init__(self, config: GatewayConfig | None = None) -> None:
        """Configure the plugin (defaults: everything off)."""
        self.config = config or GatewayConfig()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register state, routes and the start/stop hook."""
        from sark.gateway.controllers import a2a_handlers, gateway_handlers

        state = GatewayState(self.config)
        app_config.state[STATE_KEY] = state
        opt = {EXCLUDE_OPT_KEY: True}
        app_config.route_handlers.append(
            Router(
                path="/",
                route_handlers=gateway_handlers(),
                include_in_schema=self.config.enabled,
                opt=opt,
            )
        )
        app_config.route_handlers.append(
            Router(
                path="/",
                route_handlers=a2a_handlers(),
                include_in_schema=self.config.enabled and self.config.a2a_enabled,
                opt=opt,
            )
        )

        @asynccontextmanager
        async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
            await state.bind(app)
            try:
                yield
            finally:
                await state.close()

        app_config.lifespan.append(lifespan)
        return app_config


def plugin_factory(settings: Settings) -> GatewayPlugin:
    """Entry point ``sark.plugins: gateway``: the plugin configured from ``settings``."""
    return GatewayPlugin(GatewayConfig.from_settings(settings))
