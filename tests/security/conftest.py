"""Fixtures of the security suites: an app with every plugin on, and its callers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.compatibility.gateway_support import ENABLED, app_client, gateway_settings

# Enough for the whole matrix from one user in one minute; limits have their own tests.
UNLIMITED = {"SARK_RATE_LIMIT_USER_PER_MINUTE": "0", "SARK_RATE_LIMIT_API_KEY_PER_MINUTE": "0"}


@pytest.fixture(name="full")
async def fixture_full(tmp_path: Path, database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of an app with the gateway and A2A on, on SQLite and PostgreSQL."""
    settings = gateway_settings(tmp_path, database_url, {**ENABLED, **UNLIMITED})
    async with app_client(settings) as client:
        yield client
