"""``sark flags``: list, set and roll back runtime feature flags, straight on the database.

The same :class:`~sark.api.domain.admin.store.FlagStore` rules as the admin API apply;
changes are broadcast over Redis when configured (else replicas poll the table) and
audited with the actor ``cli:<os user>``. Run it with the server's configuration (the
same ``SARK_*`` variables and ``config.yaml``), e.g. through ``kubectl exec``.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from redis.asyncio import Redis

from sark.api.cli._common import clean_errors, emit, json_option, load_settings
from sark.api.db.engine import create_engine
from sark.api.db.migrations import database_errors, ensure_schema
from sark.api.domain.admin import flagstate
from sark.api.domain.admin.store import FlagStore
from sark.api.domain.audit.writer import AuditWriter
from sark.api.observability.metrics import Telemetry
from sark.core.models import Principal, PrincipalType, Role
from sark.core.settings import Settings

T = TypeVar("T")


def cli_actor() -> Principal:
    """The principal CLI changes are made and audited as: ``cli:<os user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    name = f"cli:{user}"
    return Principal(id=name, type=PrincipalType.USER, role=Role.ADMIN, name=name)


async def _with_store(
    settings: Settings, action: Callable[[FlagStore], Awaitable[T]], *, audited: bool
) -> T:
    await ensure_schema(settings)
    engine = create_engine(settings.database)
    url = settings.redis.url
    redis = Redis.from_url(url.reveal()) if url else None
    telemetry = Telemetry()
    writer = AuditWriter.from_settings(settings, engine, telemetry) if audited else None
    try:
        if writer is not None:
            await writer.start()
        store = FlagStore(
            settings, engine, telemetry, redis=redis, audit=(lambda: writer) if writer else None
        )
        await store.refresh()
        return await action(store)
    finally:
        if writer is not None:
            await writer.close()  # the audit event is in the database before we exit
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def run(action: Callable[[FlagStore], Awaitable[T]], *, audited: bool = False) -> T:
    """Run ``action`` on a store over the configured database."""
    settings = load_settings()
    if settings.database.embedded:
        Path(settings.home).mkdir(parents=True, exist_ok=True)  # as `sark serve` does
    with database_errors(settings):
        return asyncio.run(_with_store(settings, action, audited=audited))


def describe(store: FlagStore) -> dict[str, dict[str, Any]]:
    """Every feature's effective state and where it comes from."""
    flags = store.current()
    result: dict[str, dict[str, Any]] = {}
    for feature in ("rust_opa", "rust_cache", "gateway", "a2a"):
        row = store.row(feature)
        result[feature] = {
            **flagstate.encode(flagstate.flag_of(flags, feature)),
            "source": store.source_of(feature),
            "version": row.version if row else 0,
            "updated_at": row.updated_at.isoformat() if row else None,
            "updated_by": row.updated_by if row else None,
            "via": row.source if row else None,
            "rollback_in_force": bool(row and row.pinned),
        }
    return result


def _yes(value: object) -> str:
    if value is None:
        return "-"
    return "yes" if value else "no"


def _print_table(features: dict[str, dict[str, Any]]) -> None:
    header = ("FEATURE", "ENABLED", "ROLLOUT", "FALLBACK", "SHADOW", "SOURCE", "VERSION", "UPDATED")
    rows = [header]
    for name, f in features.items():
        pct = f.get("rollout_percentage")
        updated = (
            f"{f['updated_at'][:19]}Z by {f['updated_by']} ({f['via']})" if f["version"] else "-"
        )
        rows.append((
            name, _yes(f["enabled"]), "-" if pct is None else f"{pct}%",
            _yes(f.get("fallback_on_error")), _yes(f.get("shadow")),
            f["source"] + (" (rolled back)" if f["rollback_in_force"] else ""),
            str(f["version"] or "-"), updated,
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _changes(previous: dict[str, Any], new: dict[str, Any]) -> str:
    diff = [f"{k} {previous[k]} -> {new[k]}" for k in new if previous.get(k) != new[k]]
    return ", ".join(diff) or "no change"


@click.group()
def flags() -> None:
    """Show and change runtime feature flags (the admin API's rules, on the database)."""


@flags.command(name="list")
@json_option
@clean_errors
def list_flags(as_json: bool) -> None:
    """Show every flag: its effective value and where it comes from."""

    async def action(store: FlagStore) -> dict[str, dict[str, Any]]:
        return describe(store)

    features = run(action)
    emit(features, as_json, lambda: _print_table(features))


def _report(feature: str, verb: str, result: tuple[Any, Any], as_json: bool) -> None:
    previous, new = flagstate.encode(result[0]), flagstate.encode(result[1])
    payload = {"feature": feature, "previous": previous, "new": new}
    emit(payload, as_json, lambda: click.echo(f"{feature} {verb}: {_changes(previous, new)}"))


@flags.command(name="set")
@click.argument("feature")
@click.option("--percentage", type=int, default=None, help="Rollout percentage, 0-100.")
@click.option("--enabled/--disabled", default=None, help="Turn the feature on or off.")
@click.option("--fallback/--no-fallback", default=None, help="Fall back on errors.")
@click.option("--shadow/--no-shadow", default=None, help="Evaluate both engines, compare.")
@json_option
@clean_errors
def set_flag(  # noqa: PLR0917 - click passes every option positionally
    feature: str,
    percentage: int | None,
    enabled: bool | None,
    fallback: bool | None,
    shadow: bool | None,
    as_json: bool,
) -> None:
    """Change FEATURE (rust_opa, rust_cache, gateway, a2a); every replica applies it."""
    actor = cli_actor()

    async def action(store: FlagStore) -> tuple[Any, Any]:
        return await store.update(
            feature, percentage=percentage, enabled=enabled, fallback_on_error=fallback,
            shadow=shadow, actor=actor, source="cli",
        )  # fmt: skip

    _report(feature, "updated", run(action, audited=True), as_json)


@flags.command()
@click.argument("feature")
@json_option
@clean_errors
def rollback(feature: str, as_json: bool) -> None:
    """Take FEATURE's new implementation out of service (rollout 0 %, no shadow)."""
    actor = cli_actor()

    async def action(store: FlagStore) -> tuple[Any, Any]:
        return await store.rollback(feature, actor, source="cli")

    _report(feature, "rolled back", run(action, audited=True), as_json)
