"""The system under load: private PostgreSQL and Redis, and ``sark serve --workers 2``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import SARK, answers, group_pids, process_group
from tests.support.services import fresh_database, private_postgres, redis_server, wait_for

ADMIN_PASSWORD = "load-admin-password"
JWT_SECRET = "load-jwt-secret-0123456789abcdef0123456789"
API_KEY_PEPPER = "load-api-key-pepper-0123456789"


@dataclass
class Backend:
    """Where SARK keeps its state for one run."""

    name: str
    database_url: str | None = None
    redis_url: str | None = None


def _as_asyncpg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@contextlib.contextmanager
def _postgres() -> Iterator[str]:
    """A fresh database in ``SARK_TEST_DATABASE_URL``'s server, else a private durable server."""
    url = os.environ.get("SARK_TEST_DATABASE_URL")
    if url is None:
        with private_postgres() as server:
            yield server.url
        return
    with fresh_database(url, "sark_load") as database:
        yield database


@contextlib.contextmanager
def backend(name: str) -> Iterator[Backend]:
    """The services of backend ``name`` (``sqlite`` or ``postgres``), stopped afterwards."""
    if name == "sqlite":
        yield Backend("sqlite")
        return
    with _postgres() as database, redis_server() as redis:
        yield Backend("postgres", _as_asyncpg(database), redis)


def environment(home: Path, port: int, store: Backend) -> dict[str, str]:
    """The environment ``sark serve`` and the seeding run with."""
    env = {
        **os.environ,
        "SARK_HOME": str(home),
        "SARK_PORT": str(port),
        "SARK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SARK_JWT_SECRET": JWT_SECRET,
        "SARK_JWT_ACCESS_TTL_SECONDS": "14400",
        "SARK_API_KEY_PEPPER": API_KEY_PEPPER,
        "SARK_LOG_LEVEL": "warning",
        "SARK_LOG_ACCESS": "false",
        "GATEWAY_ENABLED": "true",
        "GATEWAY_SYNC_INTERVAL_SECONDS": "0",
    }
    for variable in ("SARK_DATABASE_URL", "SARK_REDIS_URL", "SARK_OPA_URL", "SARK_CONFIG"):
        env.pop(variable, None)
    if store.database_url:
        env["SARK_DATABASE_URL"] = store.database_url
    if store.redis_url:
        env["SARK_REDIS_URL"] = store.redis_url
    return env


def migrate(env: dict[str, str]) -> None:
    """``sark db upgrade`` (PostgreSQL refuses to serve without it)."""
    Path(env["SARK_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([SARK, "db", "upgrade"], env=env, check=True, capture_output=True)


@dataclass
class RssSampler:
    """Samples the resident memory of the server's worker processes every few seconds."""

    pgid: int
    interval: float = 5.0
    samples: list[tuple[float, int]] = field(default_factory=list)
    """(monotonic time, total RSS of the workers in KiB)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Sample in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.rss_kib()))
            self._stop.wait(self.interval)

    def rss_kib(self) -> int:
        """RSS of every process of the server's group but the supervisor (the workers)."""
        total = 0
        for pid in group_pids(self.pgid):
            if pid == self.pgid:
                continue
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total

    def at(self, moment: float) -> int:
        """The last sample taken at or before ``moment`` (the first one if none)."""
        before = [kib for when, kib in self.samples if when <= moment]
        return before[-1] if before else self.samples[0][1]


@contextlib.contextmanager
def serve(env: dict[str, str], workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """Run ``sark serve --workers N``; yields its base URL and process group id."""
    base = f"http://127.0.0.1:{env['SARK_PORT']}"
    with process_group([SARK, "serve", "--workers", str(workers)], env=env, log=log) as process:
        wait_for(lambda: answers(f"{base}/health/ready"), "sark serve", timeout=120)
        # Every worker must be up before load starts: wait until all of them are listed.
        wait_for(lambda: len(group_pids(process.pid)) > workers, "sark workers", timeout=60)
        time.sleep(3)
        yield base, process.pid


def audit_backlog(base: str) -> float | None:
    """Audit events queued in the workers, not yet written (``sark_audit_queue_depth``)."""
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
            text = response.read().decode()
    except OSError:
        return None
    depth = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line.startswith("sark_audit_queue_depth")]  # fmt: skip
    return sum(depth) if depth else None


def log_problems(log: Path) -> dict[str, int]:
    """Warning and error lines the server logged, by level and message (first 120 chars)."""
    import json as _json

    found: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = _json.loads(line)
        except ValueError:
            continue
        level = str(record.get("level", "")).lower()
        if level in {"warning", "error", "critical"}:
            key = f"{level}: {str(record.get('message', ''))[:120]}"
            found[key] = found.get(key, 0) + 1
    return found
