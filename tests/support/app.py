"""Fixtures that build SARK settings and applications on both database backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import anyio.to_thread
import pytest
from litestar.testing import AsyncTestClient

from sark.api import create_app
from sark.api.db import migrations
from sark.core.settings import Settings
from tests.support import secrets_scan

BACKENDS = ("sqlite", "postgresql")
TEST_ADMIN_PASSWORD = "admin-test-password"
"""Password of the ``admin`` user every test app bootstraps (tests.support.identity logs in)."""


def settings_env(home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a test process in ``home``: test secrets, then ``env``."""
    environ = {
        "SARK_HOME": str(home / ".sark"),
        "SARK_LOG_ACCESS": "false",
        "SARK_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        "SARK_JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
        "SARK_API_KEY_PEPPER": "test-api-key-pepper-0123456789",
        # A loaded CI machine can keep the test OPA server from answering within the 250 ms
        # default (a fail-closed deny the test did not ask for); tests of the limit set theirs.
        "SARK_POLICY_TIMEOUT_MS": "5000",
        **(env or {}),
    }
    secrets_scan.record_settings_env(environ)
    return environ


def make_settings(home: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Settings as a process started in ``home`` with ``env`` would load them."""
    return Settings.from_env(settings_env(home, env), cwd=home)


@pytest.fixture(name="database_url", params=BACKENDS)
def fixture_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database: SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(name="settings")
def fixture_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings on the parametrised backend, nothing else configured."""
    return make_settings(tmp_path, {"SARK_DATABASE_URL": database_url})


async def migrate(settings: Settings) -> None:
    """Bring the database of ``settings`` to the head of every branch."""
    await anyio.to_thread.run_sync(migrations.upgrade, settings)


@pytest.fixture(name="client")
async def fixture_client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """An HTTP client of a migrated SARK app (lifespan run, no plugins)."""
    await migrate(settings)
    async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
        yield client
