"""Fixtures of the identity tests: apps with chosen identity settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate

from sark.api import create_app

AppFactory = Callable[..., AbstractAsyncContextManager[Any]]


@pytest.fixture(name="make_client")
def fixture_make_client(tmp_path: Path, database_url: str) -> AppFactory:
    """Open a client of an app on the parametrised database with extra environment."""

    @asynccontextmanager
    async def open_client(
        env: dict[str, str] | None = None, home: Path | None = None
    ) -> AsyncIterator[Any]:
        settings = make_settings(
            home or tmp_path, {"SARK_DATABASE_URL": database_url, **(env or {})}
        )
        await migrate(settings)
        async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
            yield client

    return open_client
