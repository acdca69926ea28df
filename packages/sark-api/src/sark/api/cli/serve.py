"""``sark serve``: run the service with a production ASGI server (granian)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import click

from sark.api.cli._common import clean_errors, load_settings
from sark.api.db.migrations import ensure_schema
from sark.api.observability.logging import configure_logging, logging_dictconfig
from sark.api.observability.metrics import MULTIPROC_ENV


@click.command()
@click.option("--host", help="Address to bind (default SARK_HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default SARK_PORT or 8000).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default 1).")
@click.option("--reload", is_flag=True, help="Restart on code changes (development only).")
@clean_errors
def serve(host: str | None, port: int | None, workers: int | None, reload: bool) -> None:
    """Run the SARK service.

    With no configuration it stores everything under ./.sark (SQLite), applies pending
    migrations and evaluates policies in process. With SARK_DATABASE_URL pointing at
    PostgreSQL it refuses to start until `sark db upgrade` has been run.
    """
    settings = load_settings()
    configure_logging(settings.log)
    Path(settings.home).mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_schema(settings))
    workers = workers or settings.server.workers
    if workers > 1:
        _prepare_multiprocess_metrics(Path(settings.home))
    from granian import Granian
    from granian.constants import Interfaces

    address = host or settings.server.host
    bound_port = port or settings.server.port
    click.echo(f"sark: serving on http://{address}:{bound_port} ({workers} worker(s))", err=True)
    Granian(
        target="sark.api.asgi:app",
        factory=True,
        interface=Interfaces.ASGI,
        address=address,
        port=bound_port,
        workers=workers,
        reload=reload,
        # watch SARK's code only: the data directory (SQLite, spool) changes all the time
        reload_paths=_source_dirs() if reload else None,
        log_enabled=True,
        log_dictconfig=logging_dictconfig(settings.log),
        respawn_failed_workers=True,
        # granian waits forever for a worker that got SIGTERM while still starting up (it
        # then finishes starting and keeps serving); bound the wait, then kill it.
        workers_kill_timeout=settings.server.shutdown_timeout_seconds,
    ).serve()


def _source_dirs() -> list[Path]:
    """Directories of the installed ``sark.*`` packages (what ``--reload`` watches)."""
    import importlib.util

    found = []
    for name in ("sark.core", "sark.api", "sark.gateway", "sark.native"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            found.append(Path(spec.origin).parent)
    return found


def _prepare_multiprocess_metrics(home: Path) -> None:
    directory = home / "run" / "metrics"
    shutil.rmtree(directory, ignore_errors=True)  # samples of a previous run are stale
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)
