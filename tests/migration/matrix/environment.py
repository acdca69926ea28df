"""A virtual environment holding one set of SARK wheels, driven like an operator would.

``SarkEnvironment`` creates a fresh venv, installs wheels with third-party versions pinned
by the release's own lock (constraints), runs the installed ``sark`` command and starts
``sark serve`` as a real process on a loopback port.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.migration.matrix.releases import Build
from tests.support.processes import answers, process_group
from tests.support.services import free_port, wait_for

ADMIN_PASSWORD = "matrix-admin-password"
"""Password of the ``admin`` user every SARK of the matrix bootstraps."""

_BASE_ENV = {
    "SARK_ADMIN_PASSWORD": ADMIN_PASSWORD,
    # the same signing secret and pepper across versions: old tokens and keys stay valid
    "SARK_JWT_SECRET": "matrix-jwt-secret-0123456789abcdef0123456789",
    "SARK_API_KEY_PEPPER": "matrix-api-key-pepper-0123456789",
    "SARK_LOG_LEVEL": "warning",
    "SARK_LOG_ACCESS": "false",
}


def _clean_environ() -> dict[str, str]:
    prefixes = ("SARK_", "GATEWAY_", "A2A_", "VIRTUAL_ENV", "PYTHONPATH", "UV_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


class SarkEnvironment:
    """One venv with SARK installed from wheels, bound to one database and data directory."""

    def __init__(self, path: Path, home: Path, config: Mapping[str, str]) -> None:
        self.path = path
        self.home = home
        self.config = {**_BASE_ENV, "SARK_HOME": str(home / ".sark"), **config}

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.path / "bin" / "python"

    def create(self) -> SarkEnvironment:
        """Make the empty venv (same interpreter version as the test run)."""
        self.home.mkdir(parents=True, exist_ok=True)
        _uv("venv", "--quiet", "--python", sys.executable, str(self.path))
        return self

    def install(self, build: Build, remove: Sequence[str] = ()) -> None:
        """Install ``build`` (upgrading or downgrading in place), uninstalling ``remove``."""
        present = [name for name in remove if name in self.installed()]
        if present:
            _uv("pip", "uninstall", "--python", str(self.python), *present)
        _uv("pip", "install", "--quiet", "--python", str(self.python),
            "--constraints", str(build.constraints), *map(str, build.wheels))  # fmt: skip

    def installed(self) -> dict[str, str]:
        """Installed SARK distributions and their versions."""
        out = _uv("pip", "list", "--python", str(self.python), "--format", "json")
        return {p["name"]: p["version"] for p in json.loads(out) if p["name"].startswith("sark")}

    def sark(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run the installed ``sark`` command; its stdout (fails the test on a non-zero exit)."""
        self.home.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(self.path / "bin" / "sark"), *args],
            cwd=self.home,
            env={**_clean_environ(), **self.config, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            msg = f"sark {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            raise AssertionError(msg)
        return result.stdout

    def heads(self) -> set[str]:
        """The alembic revisions the database is at, as this environment's ``sark`` says."""
        status = json.loads(self.sark("db", "current", "--json"))
        assert status["pending"] == [], f"pending revisions: {status['pending']}"
        return set(status["current"])

    def version(self) -> str:
        """``sark version`` of this environment."""
        return str(json.loads(self.sark("version", "--json"))["version"])

    @contextlib.contextmanager
    def serve(self, env: Mapping[str, str] | None = None) -> Iterator[str]:
        """Run ``sark serve`` on a free loopback port; yields its base URL."""
        port = free_port()
        log = self.home / f"serve-{port}.log"
        command = [str(self.path / "bin" / "sark"), "serve", "--host", "127.0.0.1",
                   "--port", str(port)]  # fmt: skip
        environment = {**_clean_environ(), **self.config, **(env or {})}
        base = f"http://127.0.0.1:{port}"
        with process_group(command, env=environment, cwd=self.home, log=log) as process:
            ready = f"{base}/health/ready"
            with contextlib.suppress(TimeoutError):
                wait_for(lambda: process.poll() is not None or answers(ready), "sark serve", 60)
            if process.poll() is not None or not answers(ready):
                msg = f"sark serve did not start: {log.read_text()[-3000:]}"
                raise AssertionError(msg)
            yield base


def _uv(*args: str) -> str:
    result = subprocess.run(["uv", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        msg = f"uv {' '.join(args)} failed:\n{result.stderr[-3000:]}"
        raise RuntimeError(msg)
    return result.stdout
