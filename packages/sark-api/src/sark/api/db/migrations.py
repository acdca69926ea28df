"""Drive alembic from SARK: upgrade, downgrade, current, history and pending checks."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import anyio.to_thread
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from sark.api.db.engine import create_engine
from sark.api.resources import migrations_dir
from sark.core.errors import DependencyUnavailableError, SchemaOutOfDateError
from sark.core.settings import Settings

BRANCHES = ("core", "gateway")


def alembic_config(settings: Settings) -> Config:
    """An alembic configuration bound to ``settings`` (no alembic.ini needed)."""
    root = migrations_dir()
    config = Config()
    config.set_main_option("script_location", str(root))
    locations = [root / "versions" / branch for branch in BRANCHES]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", ":".join(str(p) for p in locations if p.is_dir()))
    config.attributes["sark_settings"] = settings
    return config


def script_directory(settings: Settings) -> ScriptDirectory:
    """The revisions shipped with this release."""
    return ScriptDirectory.from_config(alembic_config(settings))


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """Report an unreachable database as one clear error instead of a driver traceback."""
    try:
        yield
    except (OSError, OperationalError, InterfaceError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        msg = f"cannot reach the {settings.database.backend} database: {reason}"
        raise DependencyUnavailableError(msg) from None


def upgrade(settings: Settings, target: str = "heads") -> None:
    """Apply revisions up to ``target`` (blocking; run it in a thread from async code)."""
    with database_errors(settings):
        command.upgrade(alembic_config(settings), target)


def downgrade(settings: Settings, target: str) -> None:
    """Revert revisions down to ``target`` (blocking)."""
    with database_errors(settings):
        command.downgrade(alembic_config(settings), target)


def history(settings: Settings) -> list[tuple[str, str | None, str]]:
    """Every revision as (revision, down revision(s), message), newest first."""
    rows = []
    for script in script_directory(settings).walk_revisions():
        down = script.down_revision
        shown = ", ".join(down) if isinstance(down, tuple | list) else down
        rows.append((script.revision, shown, script.doc or ""))
    return rows


async def current_heads(settings: Settings) -> set[str]:
    """Revisions the database is at (empty for a fresh database)."""

    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    engine = create_engine(settings.database)
    try:
        with database_errors(settings):
            async with engine.connect() as connection:
                return await connection.run_sync(read)
    finally:
        await engine.dispose()


def pending_revisions(settings: Settings, current: set[str]) -> list[str]:
    """Revisions of this release not yet applied to a database at ``current``."""
    script = script_directory(settings)
    applied: set[str] = set()
    for head in current:
        applied.update(rev.revision for rev in _lineage(script, head))
    pending = [
        rev.revision
        for head in script.get_heads()
        for rev in _lineage(script, head)
        if rev.revision not in applied
    ]
    return sorted(set(pending))


def _lineage(script: ScriptDirectory, head: str) -> Iterator[Script]:
    for revision in script.iterate_revisions(head, "base"):
        if isinstance(revision, Script):
            yield revision


async def ensure_schema(settings: Settings) -> None:
    """Migrate the embedded database; refuse to run a server database that is behind."""
    if settings.database.embedded:
        await anyio.to_thread.run_sync(_quiet_upgrade, settings)
        return
    required = required_branches()
    pending = [
        revision
        for revision in pending_revisions(settings, await current_heads(settings))
        if _branch_of(settings, revision) in required
    ]
    if pending:
        msg = (
            f"the database schema is behind this release ({len(pending)} pending "
            f"migration(s): {', '.join(pending)}); run `sark db upgrade` first"
        )
        raise SchemaOutOfDateError(msg)


def required_branches() -> set[str]:
    """Branches this installation needs: ``core``, plus those of installed plugins.

    A database whose ``gateway`` branch was downgraded still serves a SARK without the
    gateway plugin (the 1.0 code path), so that branch is only required when installed.
    """
    from importlib.metadata import entry_points

    from sark.api.plugins import GROUP

    return {"core"} | {entry.name for entry in entry_points(group=GROUP)} & set(BRANCHES)


def _branch_of(settings: Settings, revision: str) -> str:
    script = script_directory(settings).get_revision(revision)
    return Path(script.path).parent.name if script is not None else "core"


def _quiet_upgrade(settings: Settings) -> None:
    with redirect_stdout(io.StringIO()):
        upgrade(settings)
