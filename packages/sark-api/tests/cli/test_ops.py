"""``sark health-check`` and ``sark diagnostics`` against real services."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.app import migrate
from tests.support.services import free_port, wait_for

from sark.core.settings import Settings
from sark.core.version import VERSION

SARK = str(Path(sys.executable).parent / "sark")


def native_available() -> bool:
    try:
        from sark import native  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    return bool(native.RUST_AVAILABLE)


def environ(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SARK_", "GATEWAY_", "A2A_"))}
    return {**keep, "SARK_LOG_LEVEL": "warning", **extra}


def sark(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SARK, *args], cwd=cwd, env=environ(**env), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


async def test_health_check_prints_the_guide_checklist(
    settings: Settings, database_url: str, tmp_path: Path, opa_url: str
) -> None:
    await migrate(settings)
    env = {"SARK_DATABASE_URL": database_url, "SARK_HOME": str(tmp_path / ".sark")}
    result = sark(tmp_path, env, "health-check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"✅ SARK v{VERSION.version} Health Check"
    assert "✅ Database: Connected" in lines
    assert "\N{HEAVY MINUS SIGN} OPA (HTTP): not configured" in lines
    assert any(line.startswith("✅ Feature Flags: Configured") for line in lines)

    with_opa = sark(tmp_path, {**env, "SARK_OPA_URL": opa_url}, "health-check")
    assert with_opa.returncode == 0, with_opa.stdout
    assert "✅ OPA (HTTP): Available" in with_opa.stdout.splitlines()


async def test_something_configured_and_down_fails_the_check(
    tmp_path: Path, database_url: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    # the database was never migrated, OPA points at a closed port
    env = {
        "SARK_DATABASE_URL": database_url,
        "SARK_OPA_URL": dead,
        "SARK_HOME": str(tmp_path / "h"),
    }
    result = sark(tmp_path, env, "health-check", "--json")
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["healthy"] is False
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["OPA (HTTP)"]["status"] == "failed"
    assert dead in checks["OPA (HTTP)"]["detail"]
    assert checks["Database"]["status"] == "failed"
    assert "pending" in checks["Database"]["detail"] or "cannot" in checks["Database"]["detail"]
    human = sark(tmp_path, env, "health-check")
    assert human.returncode == 1
    assert human.stdout.splitlines()[0].startswith("❌ SARK v")
    assert any(line.startswith("❌ OPA (HTTP): unreachable") for line in human.stdout.splitlines())


async def test_rust_checks_measure_or_fail_clearly(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await migrate(settings)
    env = {"SARK_DATABASE_URL": database_url, "SARK_HOME": str(tmp_path / ".sark")}
    result = sark(tmp_path, env, "health-check", "--rust")
    lines = result.stdout.splitlines()
    if native_available():
        assert result.returncode == 0, result.stdout
        for name in ("Rust OPA", "Rust Cache"):
            line = next(x for x in lines if name + ":" in x)
            assert re.fullmatch(rf"✅ {name}: Available \(\d+\.\d+ms avg latency\)", line), line
    else:
        assert result.returncode == 1
        assert "❌ Rust OPA: not installed (pip install sark-native)" in lines
        assert "❌ Rust Cache: not installed (pip install sark-native)" in lines


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:
        status: int = response.status
        return status


def test_diagnostics_reports_versions_flags_and_a_live_metrics_snapshot(tmp_path: Path) -> None:
    port = free_port()
    env = {"SARK_PORT": str(port), "SARK_RUST_OPA_ROLLOUT_PCT": "5"}
    server = subprocess.Popen(
        [SARK, "serve", "--port", str(port)], cwd=tmp_path, env=environ(**env),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/health/live") == 200, "sark serve", 30)
        result = sark(tmp_path, env, "diagnostics", "--json")
        assert result.returncode == 0, result.stderr
        body: dict[str, Any] = json.loads(result.stdout)
        assert body["version"] == VERSION.version
        assert body["python"] == sys.version.split()[0]
        assert body["rust"]["available"] is native_available()
        assert body["checks"]["Database"]["status"] == "ok"
        opa_pct = body["flags"]["rust_opa"]["rollout_percentage"]
        assert opa_pct == {"value": 5, "source": "env SARK_RUST_OPA_ROLLOUT_PCT"}
        assert body["flags"]["rust_cache"]["max_size"] == {"value": 10000, "source": "default"}
        metrics = body["metrics"]
        assert metrics["reachable"] is True
        assert "rust_cache_size_entries" in metrics["samples"]
        assert any(k.startswith("sark_http_requests_total") for k in metrics["samples"])

        human = sark(tmp_path, env, "diagnostics", "--rust")
        assert f"SARK {VERSION.version} on Python" in human.stdout
        assert "rollout_percentage=5 <- env SARK_RUST_OPA_ROLLOUT_PCT" in human.stdout
    finally:
        server.terminate()
        server.wait(timeout=15)

    unreachable = sark(tmp_path, env, "diagnostics", "--json")
    assert json.loads(unreachable.stdout)["metrics"]["reachable"] is False
