"""``sark flags`` as an operator runs it: a real process on a real database (and Redis)."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from tests.support.app import make_settings, migrate

from sark.api import create_app
from sark.api.db.engine import create_engine
from sark.api.domain.audit.models import audit_events
from sark.api.runtime import Runtime
from sark.core.settings import Settings

SARK = str(Path(sys.executable).parent / "sark")
ACTOR = f"cli:{getpass.getuser()}"


def sark(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SARK_", "GATEWAY_", "A2A_"))}
    return subprocess.run(
        [SARK, "flags", *args],
        cwd=cwd,
        env={**keep, "SARK_LOG_LEVEL": "warning", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def audit_rows(settings: Settings, action: str) -> list[dict[str, Any]]:
    engine = create_engine(settings.database)
    try:
        async with engine.connect() as connection:
            query = select(audit_events).where(audit_events.c.action == action)
            return [dict(r) for r in (await connection.execute(query)).mappings()]
    finally:
        await engine.dispose()


async def test_list_set_rollback_on_the_database_with_audit(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await migrate(settings)
    env = {"SARK_DATABASE_URL": database_url, "SARK_HOME": str(tmp_path / ".sark")}
    listed = ok_json(sark(tmp_path, env, "list", "--json"))
    assert set(listed) == {"rust_opa", "rust_cache", "gateway", "a2a"}
    assert listed["rust_opa"]["source"] == "settings"
    assert listed["rust_opa"]["rollout_percentage"] == 0

    changed = ok_json(sark(tmp_path, env, "set", "rust_opa", "--percentage", "25", "--json"))
    assert changed["previous"]["rollout_percentage"] == 0
    assert (changed["new"]["rollout_percentage"], changed["new"]["enabled"]) == (25, True)

    human = sark(tmp_path, env, "list")
    assert human.returncode == 0
    line = next(x for x in human.stdout.splitlines() if x.startswith("rust_opa"))
    assert "25%" in line
    assert "runtime" in line
    assert ACTOR in line

    rolled = ok_json(sark(tmp_path, env, "rollback", "rust_opa", "--json"))
    assert rolled["new"]["rollout_percentage"] == 0
    listed = ok_json(sark(tmp_path, env, "list", "--json"))
    assert listed["rust_opa"]["version"] == 2
    assert listed["rust_opa"]["rollback_in_force"] is True
    assert listed["rust_opa"]["updated_by"] == ACTOR

    updates = await audit_rows(settings, "flag.update")
    rollbacks = await audit_rows(settings, "flag.rollback")
    assert [r["principal_id"] for r in updates + rollbacks] == [ACTOR, ACTOR]
    assert rollbacks[0]["details"]["source"] == "cli"


async def test_bad_input_is_one_clear_line_and_changes_nothing(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await migrate(settings)
    env = {"SARK_DATABASE_URL": database_url, "SARK_HOME": str(tmp_path / ".sark")}
    for args, message in [
        (("set", "rust_opa", "--percentage", "150"), "percentage must be an integer from 0 to 100"),
        (("set", "warp_drive", "--enabled"), "unknown feature 'warp_drive'"),
        (("rollback", "warp_drive"), "unknown feature 'warp_drive'"),
        (("set", "gateway", "--percentage", "5"), "gateway is an on/off feature"),
    ]:
        result = sark(tmp_path, env, *args)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            f"sark: error: {result.stderr.split(': ', 2)[2].strip()}"
        ]
        assert message in result.stderr
    listed = ok_json(sark(tmp_path, env, "list", "--json"))
    assert all(f["version"] == 0 for f in listed.values())


async def test_a_cli_change_reaches_a_running_server_through_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    env = {"SARK_DATABASE_URL": postgres_url, "SARK_REDIS_URL": redis_url}
    settings = make_settings(tmp_path, env)
    await migrate(settings)
    async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
        runtime: Runtime = client.app.state.runtime
        deadline = time.monotonic() + 10
        while not runtime.flags.follower.subscribed.is_set():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        result = await asyncio.to_thread(
            sark, tmp_path, {**env, "SARK_HOME": str(tmp_path / ".sark")},
            "set", "rust_cache", "--percentage", "40",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "rust_cache updated" in result.stdout
        finished = time.monotonic()
        while runtime.flags.current().rust_cache.rollout_percentage != 40:
            assert time.monotonic() - finished < 1.0, "the server did not apply the CLI change"
            await asyncio.sleep(0.005)
