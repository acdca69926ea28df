"""ASGI entry point for servers started by ``sark serve`` (a factory: called once per worker)."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

from litestar import Litestar

from sark.api.app import create_app
from sark.api.observability.logging import configure_logging
from sark.api.plugins import PluginFactory
from sark.core.settings import Settings


def app() -> Litestar:
    """Build the application from this process's environment."""
    return build()


def build(plugins: Mapping[str, PluginFactory] | None = None) -> Litestar:
    """The application as a server worker runs it; ``plugins`` as in ``create_app``."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log)
    application = create_app(settings, plugins=plugins)
    application.on_startup.append(freeze_startup_heap)
    return application


def freeze_startup_heap(_: Litestar) -> None:
    """Keep what start-up built (modules, routes, catalog snapshot) out of every collection.

    Runs once the runtime has started (on_startup hooks follow the lifespan managers). The
    cyclic collector otherwise rescans those long-lived objects at every full collection,
    which under load is a pause on the request path; ``gc.freeze`` moves them to the
    permanent generation (CPython's documented use for long-running servers).
    """
    gc.collect()
    gc.freeze()
