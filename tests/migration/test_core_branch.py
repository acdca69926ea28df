"""The core branch on both backends: empty -> head -> base -> head, with the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support.app import migrate

from sark.api.db import migrations
from sark.core import Settings

pytestmark = pytest.mark.migration
SARK = str(Path(sys.executable).parent / "sark")


def _sark(settings_url: str, cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SARK_")}
    env["SARK_DATABASE_URL"] = settings_url
    result = subprocess.run(
        [SARK, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _tables(settings: Settings) -> set[str]:
    engine = create_async_engine(settings.database.url.reveal())
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: sa.inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def test_empty_to_head_to_base_to_head(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    assert await _tables(settings) == set()
    script_heads = set(migrations.script_directory(settings).get_heads())

    _sark(database_url, tmp_path, "db", "upgrade")
    assert await migrations.current_heads(settings) == script_heads
    head_tables = await _tables(settings)
    assert "sark_installation" in head_tables
    status = json.loads(_sark(database_url, tmp_path, "db", "current", "--json"))
    assert status["pending"] == []

    _sark(database_url, tmp_path, "db", "downgrade", "base")
    assert await migrations.current_heads(settings) == set()
    assert await _tables(settings) == set()

    _sark(database_url, tmp_path, "db", "upgrade")
    assert await _tables(settings) == head_tables


async def test_pending_revisions_are_reported_then_cleared(settings: Settings) -> None:
    every = {row[0] for row in migrations.history(settings)}
    assert (
        set(migrations.pending_revisions(settings, await migrations.current_heads(settings)))
        == every
    )
    await migrate(settings)
    assert migrations.pending_revisions(settings, await migrations.current_heads(settings)) == []


def test_every_revision_has_a_downgrade() -> None:
    root = Path(migrations.migrations_dir()) / "versions"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "def downgrade()" in text, path
        body = text.split("def downgrade()", 1)[1]
        assert "pass" not in body.split("\n", 3)[1], f"{path.name}: downgrade does nothing"
