"""Apps with the gateway plugin for tests (enabled, disabled, absent)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate

from sark.api import create_app
from sark.api.plugins import PluginFactory
from sark.core.settings import Settings
from sark.gateway import plugin_factory

GATEWAY_KEY = "gateway-shared-key-0123456789abcdef"
INSTALLED: dict[str, PluginFactory] = {"gateway": plugin_factory}
ENABLED = {"GATEWAY_ENABLED": "true", "A2A_ENABLED": "true", "GATEWAY_API_KEY": GATEWAY_KEY}


def gateway_settings(
    home: Path, database_url: str, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings on ``database_url`` with ``env`` (no gateway flags unless given)."""
    return make_settings(home, {"SARK_DATABASE_URL": database_url, **(env or {})})


@asynccontextmanager
async def app_client(
    settings: Settings, plugins: Mapping[str, PluginFactory] | None = None
) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of a migrated app with ``plugins`` (default: the gateway installed)."""
    await migrate(settings)
    app = create_app(settings, plugins=INSTALLED if plugins is None else plugins)
    async with AsyncTestClient(app=app) as client:
        yield client
