"""``sark db``: schema migrations (alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import click

from sark.api.cli._common import clean_errors, emit, json_option, load_settings
from sark.api.db import migrations


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command()
@click.argument("target", default="heads")
@clean_errors
def upgrade(target: str) -> None:
    """Apply migrations up to TARGET (default: every branch's head)."""
    settings = load_settings()
    before = asyncio.run(migrations.current_heads(settings))
    pending = migrations.pending_revisions(settings, before)
    migrations.upgrade(settings, target)
    after = asyncio.run(migrations.current_heads(settings))
    click.echo(
        f"applied {len(pending) if target == 'heads' else 'up to ' + target}; "
        f"now at {', '.join(sorted(after)) or 'base'}"
    )


@db.command()
@click.argument("target")
@clean_errors
def downgrade(target: str) -> None:
    """Revert migrations down to TARGET (a revision, `-1`, `core@base`, `base`)."""
    settings = load_settings()
    migrations.downgrade(settings, target)
    after = asyncio.run(migrations.current_heads(settings))
    click.echo(f"now at {', '.join(sorted(after)) or 'base'}")


@db.command()
@json_option
@clean_errors
def current(as_json: bool) -> None:
    """Show the revisions the database is at and what is pending."""
    settings = load_settings()
    heads = sorted(asyncio.run(migrations.current_heads(settings)))
    pending = migrations.pending_revisions(settings, set(heads))
    payload = {"current": heads, "pending": pending, "backend": settings.database.backend}

    def human() -> None:
        click.echo(f"database ({settings.database.backend}): {', '.join(heads) or 'empty'}")
        click.echo(f"pending: {', '.join(pending) or 'none'}")

    emit(payload, as_json, human)


@db.command()
@json_option
@clean_errors
def history(as_json: bool) -> None:
    """List every revision shipped with this release, newest first."""
    rows = migrations.history(load_settings())
    payload = [{"revision": r, "down_revision": d, "message": m} for r, d, m in rows]

    def human() -> None:
        for revision, down, message in rows:
            click.echo(f"{down or '<base>'} -> {revision}  {message.splitlines()[0]}")

    emit(payload, as_json, human)
