"""``sark users create``."""

from __future__ import annotations

import json
from pathlib import Path

import anyio.to_thread
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate
from tests.support.identity import bearer

from sark.api import create_app
from sark.api.cli import main


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "SARK_HOME": str(tmp_path / ".sark"),
        "SARK_DATABASE_URL": database_url,
        "SARK_LOG_ACCESS": "false",
    }


async def test_create_user_then_log_in(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, {"SARK_DATABASE_URL": database_url})
    await migrate(settings)
    runner = CliRunner()
    # The command runs its own event loop: call it from a thread, as a shell would.
    result = await anyio.to_thread.run_sync(
        lambda: runner.invoke(
            main,
            [
                "users",
                "create",
                "ops",
                "--role",
                "team_lead",
                "--team",
                "payments",
                "--password-stdin",
                "--json",
            ],
            input="a-long-password\n",
            env=_env(tmp_path, database_url),
        )
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["role"] == "team_lead"
    assert payload["teams"] == ["payments"]
    again = await anyio.to_thread.run_sync(
        lambda: runner.invoke(
            main,
            ["users", "create", "ops", "--admin", "--password-stdin"],
            input="a-long-password\n",
            env=_env(tmp_path, database_url),
        )
    )
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
        headers = await bearer(client, "ops", "a-long-password")
        me = (await client.get("/api/v1/auth/me", headers=headers)).json()
        assert me["role"] == "team_lead"
        assert me["teams"] == ["payments"]


def test_short_password_and_conflicting_flags_fail(tmp_path: Path) -> None:
    env = {"SARK_HOME": str(tmp_path / ".sark")}
    runner = CliRunner()
    short = runner.invoke(
        main, ["users", "create", "x", "--password-stdin"], input="short\n", env=env
    )
    assert short.exit_code == 1
    assert "at least 8" in short.stderr
    both = runner.invoke(
        main,
        ["users", "create", "x", "--admin", "--role", "viewer", "--password-stdin"],
        input="long-password\n",
        env=env,
    )
    assert both.exit_code == 1
    assert "disagree" in both.stderr
    assert not (tmp_path / ".sark" / "sark.db").exists()
