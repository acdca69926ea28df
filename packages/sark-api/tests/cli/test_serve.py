"""``sark serve`` as a user runs it: a real process, a real port, real configuration errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.support.services import free_port, wait_for

SARK = str(Path(sys.executable).parent / "sark")


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SARK_", "GATEWAY_", "A2A_"))}
    return {**keep, **extra}


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, json.loads(response.read())


def test_serve_on_the_embedded_default_answers_health(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [SARK, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(SARK_LOG_LEVEL="warning"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/health/live")[0] == 200, "sark serve", 10)
        assert time.monotonic() - started < 10
        status, body = _get(f"http://127.0.0.1:{port}/health")
        assert status == 200
        assert body["gateway_enabled"] is False
        _, version = _get(f"http://127.0.0.1:{port}/api/v1/version")
        assert set(version) == {"version", "major", "minor", "patch", "features", "compatibility"}
        # the embedded default created and migrated its SQLite database under ./.sark
        assert (tmp_path / ".sark" / "sark.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize(
    ("env", "config", "message"),
    [
        (
            {"SARK_DATABASE_URL": "mysql://root@db/sark"},
            None,
            "SARK_DATABASE_URL: unsupported database URL (mysql)",
        ),
        ({"SARK_PORT": "eighty"}, None, "SARK_PORT: expected an integer (got 'eighty')"),
        ({}, "server:\n  port: [8000\n", "config.yaml: invalid YAML at line"),
        ({"A2A_ENABLED": "true"}, None, "A2A_ENABLED=true requires GATEWAY_ENABLED=true"),
    ],
    ids=["database-scheme", "port", "yaml", "a2a-without-gateway"],
)
def test_bad_configuration_stops_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], config: str | None, message: str
) -> None:
    if config is not None:
        (tmp_path / "config.yaml").write_text(config)
    result = subprocess.run(
        [SARK, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sark: error: ")
    assert message in lines[0]


def test_serve_refuses_a_postgres_database_with_pending_migrations(
    tmp_path: Path, postgres_url: str
) -> None:
    result = subprocess.run(
        [SARK, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=_env(SARK_DATABASE_URL=postgres_url),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "run `sark db upgrade` first" in result.stderr


def test_help_is_useful_on_every_command() -> None:
    for command in (
        ["--help"],
        ["serve", "--help"],
        ["db", "--help"],
        ["db", "upgrade", "--help"],
        ["version", "--help"],
    ):
        result = subprocess.run([SARK, *command], capture_output=True, text=True, check=True)
        assert "Usage: sark" in result.stdout
        assert len(result.stdout.splitlines()) > 3


def test_version_command(tmp_path: Path) -> None:
    from sark.core import VERSION

    result = subprocess.run(
        [SARK, "version", "--json"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout)["version"] == VERSION.version


def test_reload_watches_code_not_the_data_directory(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SARK, "serve", "--port", str(port), "--reload"],
            cwd=tmp_path,
            env=_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: _get(f"http://127.0.0.1:{port}/health/live")[0] == 200, "serve", 30)
            for _ in range(3):  # requests write to ./.sark (audit, SQLite WAL)
                assert _get(f"http://127.0.0.1:{port}/health")[0] == 200
                time.sleep(1)
        finally:
            process.terminate()
            process.wait(timeout=15)
    assert "reloading" not in log.read_text().lower()
