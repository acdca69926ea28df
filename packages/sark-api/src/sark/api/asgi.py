"""ASGI entry point for servers started by ``sark serve`` (a factory: called once per worker)."""

from __future__ import annotations

import os

from litestar import Litestar

from sark.api.app import create_app
from sark.api.observability.logging import configure_logging
from sark.core.settings import Settings


def app() -> Litestar:
    """Build the application from this process's environment."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log)
    return create_app(settings)
