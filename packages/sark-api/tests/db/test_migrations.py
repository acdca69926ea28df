from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.app import make_settings, migrate

from sark.api.db import migrations
from sark.core import SchemaOutOfDateError


async def test_embedded_database_is_migrated_on_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.database.embedded
    (tmp_path / ".sark").mkdir()
    await migrations.ensure_schema(settings)
    assert migrations.pending_revisions(settings, await migrations.current_heads(settings)) == []


async def test_server_database_with_pending_migrations_is_refused(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = make_settings(tmp_path, {"SARK_DATABASE_URL": postgres_url})
    with pytest.raises(SchemaOutOfDateError, match=r"run `sark db upgrade` first"):
        await migrations.ensure_schema(settings)
    await migrate(settings)
    await migrations.ensure_schema(settings)  # now current: no error


async def test_explicit_sqlite_url_is_not_auto_migrated(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, {"SARK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    with pytest.raises(SchemaOutOfDateError):
        await migrations.ensure_schema(settings)
