"""``create_app``: the single composition root of the SARK service."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins import PluginProtocol

from sark.api import plugins as plugin_registry
from sark.api.db.engine import sqlalchemy_config
from sark.api.db.migrations import ensure_schema
from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.deps import provide_auth_info, provide_identity, provide_principal
from sark.api.domain.identity.middleware import (
    EXCLUDE_OPT_KEY,
    AuthenticationMiddleware,
    public_path_patterns,
)
from sark.api.errors import exception_handlers
from sark.api.limits import RejectNulMiddleware, limited_request_class
from sark.api.observability.middleware import ObservabilityMiddleware
from sark.api.openapi import declare_problem_responses
from sark.api.plugins import PluginFactory
from sark.api.routes import route_handlers
from sark.api.runtime import Runtime, provide_runtime
from sark.core.settings import Settings
from sark.core.version import VERSION

MAX_REQUEST_BODY_BYTES = 1_048_576
"""Default of ``SARK_MAX_BODY_BYTES`` (kept for importers; the setting is what applies)."""


def create_app(
    settings: Settings,
    *,
    plugins: Mapping[str, PluginFactory] | None = None,
    runtime: Runtime | None = None,
) -> Litestar:
    """Build the SARK application for ``settings``.

    Args:
        settings: Validated settings (``Settings.from_env``).
        plugins: Plugin factories to load; None discovers installed ones (``sark.plugins``).
        runtime: Pre-built runtime (tests); None builds one from ``settings``.
    """
    factories = plugin_registry.discover() if plugins is None else dict(plugins)
    runtime = runtime or Runtime.build(settings)
    runtime.plugins = tuple(sorted(factories))
    identity = Identity(runtime)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncGenerator[None, None]:
        await ensure_schema(settings)
        await runtime.start()
        await identity.start()
        try:
            yield
        finally:
            await identity.close()
            await runtime.close()

    extensions: list[PluginProtocol] = [
        SQLAlchemyPlugin(config=sqlalchemy_config(settings.database, runtime.engine)),
    ]
    extensions.extend(factory(settings) for factory in factories.values())
    app = Litestar(
        route_handlers=route_handlers(),
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False),
            "identity": Provide(provide_identity, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
            "auth_info": Provide(provide_auth_info, sync_to_thread=False),
        },
        state=State({"runtime": runtime, "identity": identity}),
        lifespan=[lifespan],
        middleware=[
            DefineMiddleware(
                ObservabilityMiddleware,
                telemetry=runtime.telemetry,
                log_access=settings.log.access,
            ),
            RejectNulMiddleware,
            DefineMiddleware(
                AuthenticationMiddleware,
                exclude=public_path_patterns(),
                exclude_from_auth_key=EXCLUDE_OPT_KEY,
            ),
        ],
        exception_handlers=exception_handlers(),
        plugins=extensions,
        openapi_config=OpenAPIConfig(
            title="SARK",
            version=VERSION.version,
            description="Governance and authorization for MCP servers and tools.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
        request_max_body_size=settings.limits.max_body_bytes,
        request_class=limited_request_class(settings.limits),
        debug=False,
        logging_config=None,  # logging is configured once by the process (CLI or ASGI factory)
    )
    declare_problem_responses(app)
    return app
