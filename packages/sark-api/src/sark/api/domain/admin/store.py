"""``FlagStore``: the live feature flags of one process, persisted and shared by the database.

Reading (:meth:`FlagStore.current`) returns an immutable :class:`FeatureFlags` held in
memory: one attribute load on the decision hot path. Writing goes to the database first
(optimistic ``version`` check, history row), then to memory, then to the other replicas
(:mod:`sark.api.domain.admin.sync`), and is audited with who and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec
import uuid_utils.compat
from redis.asyncio import Redis
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sark.api.domain.admin import flagstate
from sark.api.domain.admin.flagstate import Change, Flag
from sark.api.domain.admin.metrics import RolloutMetrics
from sark.api.domain.admin.models import feature_flag_changes, feature_flags
from sark.api.domain.admin.sync import FlagFollower, publish
from sark.api.domain.audit.sink import AuditSink, LogAuditSink
from sark.api.observability.logging import request_id_var
from sark.api.observability.metrics import Telemetry
from sark.core.errors import ConflictError, ValidationError
from sark.core.flags import FeatureFlags
from sark.core.models import AuditEvent, Principal
from sark.core.settings import Settings

log = logging.getLogger("sark.flags")
MAX_ATTEMPTS: Final = 8
SAMPLE_SECONDS: Final = 5.0


class FlagRow(msgspec.Struct, frozen=True, kw_only=True):
    """The stored runtime state of one feature."""

    feature: str
    state: Flag
    base: Flag
    pinned: bool
    version: int
    updated_at: datetime.datetime
    updated_by: str
    source: str


class FlagChange(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the change history."""

    feature: str
    version: int
    action: str
    old: dict[str, Any]
    new: dict[str, Any]
    actor: str
    source: str
    at: datetime.datetime


def actor_label(principal: Principal) -> str:
    """How a principal is named in the flag tables (its name, else its id)."""
    return principal.name or principal.id


class FlagStore:
    """Runtime feature flags: defaults < config.yaml < environment < runtime changes."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        telemetry: Telemetry,
        *,
        redis: Redis | None = None,
        audit: Callable[[], AuditSink] | None = None,
        cache_size: Callable[[], int | None] | None = None,
    ) -> None:
        """A store for ``settings`` over ``engine``; nothing is read until :meth:`start`.

        ``cache_size`` reads the native cache's entry count for ``rust_cache_size_entries``.
        """
        self.settings = settings
        self.engine = engine
        self.redis = redis
        self.metrics = RolloutMetrics(telemetry)
        self._audit = audit or LogAuditSink
        self._configured = settings.features
        self._current = settings.features
        self._rows: dict[str, FlagRow] = {}
        self._cache_size = cache_size
        self._sampler: asyncio.Task[None] | None = None
        self.follower = FlagFollower(
            self.refresh,
            redis,
            poll_seconds=settings.flags.poll_seconds,
            resync_seconds=settings.flags.resync_seconds,
        )

    # ------------------------------------------------------------------ reading

    def current(self) -> FeatureFlags:
        """The flags in force now (memory only; safe on the hot path)."""
        return self._current

    def assign(self, feature: str, subject_id: str, implementation: str, other: str) -> bool:
        """Whether ``feature`` sends ``subject_id`` to ``implementation``; counted either way."""
        chosen = getattr(self._current, feature).assigns(feature, subject_id)
        self.metrics.assigned(feature, implementation if chosen else other)
        return bool(chosen)

    @property
    def configured(self) -> FeatureFlags:
        """The flags as the settings give them (defaults < config.yaml < environment)."""
        return self._configured

    def row(self, feature: str) -> FlagRow | None:
        """The stored runtime state of ``feature`` as last read (None: follows settings)."""
        return self._rows.get(feature)

    def source_of(self, feature: str) -> str:
        """Where the value of ``feature`` comes from: ``settings`` or ``runtime``."""
        return "runtime" if feature in self._rows else "settings"

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, follow: bool = True) -> None:
        """Read the stored state, reconcile it with the configuration, follow other replicas."""
        await self.refresh()
        await self._reconcile()
        if follow:
            self.follower.start()
        if self._cache_size is not None:
            self._sampler = asyncio.create_task(self._sample(), name="sark-cache-size")

    def sample_cache_size(self) -> None:
        """Update ``rust_cache_size_entries`` now."""
        if self._cache_size is None:
            return
        try:
            size = self._cache_size()
        except Exception:
            log.debug("native cache size unavailable", exc_info=True)
            return
        self.metrics.cache_size.set(size or 0)

    async def _sample(self) -> None:
        while True:
            self.sample_cache_size()
            await asyncio.sleep(SAMPLE_SECONDS)

    async def close(self) -> None:
        """Stop following other replicas."""
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        await self.follower.close()

    async def refresh(self) -> None:
        """Re-read every stored feature and apply what changed."""
        async with self.engine.connect() as conn:
            rows = await _read_rows(conn)
        self._install(rows)

    def _install(self, rows: Mapping[str, FlagRow]) -> None:
        flags = self._configured
        for feature, row in rows.items():
            flags = flagstate.with_flag(flags, feature, row.state)
        try:
            flags.check()
        except Exception:
            log.exception("stored flags enable a2a without gateway; a2a stays off")
            flags = flagstate.with_flag(flags, "a2a", flagstate.rolled_back(flags.a2a))
        for feature, row in rows.items():
            known = self._rows.get(feature)
            if known is None or known.version != row.version:
                log.info(
                    "feature %s is now %s (version %d, by %s via %s)",
                    feature,
                    flagstate.encode(row.state),
                    row.version,
                    row.updated_by,
                    row.source,
                )
        self._rows = dict(rows)
        self._current = flags  # one reference swap: readers see the old or the new set

    async def _reconcile(self) -> None:
        for feature, row in list(self._rows.items()):
            configured = flagstate.flag_of(self._configured, feature)
            target = flagstate.reconcile(
                feature, configured, row.state, row.base, pinned=row.pinned
            )
            if target is None:
                if configured != row.base:
                    log.info("%s: configuration changed but the rollback stays in force", feature)
                continue
            log.info(
                "%s: configuration changed since the last runtime change; it now applies", feature
            )
            await self._write(
                feature,
                _constant(target),
                actor="config",
                principal=None,
                source="config",
                action="config",
                pinned=row.pinned,
            )

    # ------------------------------------------------------------------ writing

    async def update(
        self,
        feature: str,
        *,
        percentage: int | None = None,
        enabled: bool | None = None,
        fallback_on_error: bool | None = None,
        shadow: bool | None = None,
        actor: Principal,
        source: str = "api",
    ) -> tuple[Flag, Flag]:
        """Change ``feature``; returns (previous, new). ValidationError (422) on bad input."""
        flagstate.check_feature(feature)
        change = Change(
            percentage=percentage,
            enabled=enabled,
            fallback_on_error=fallback_on_error,
            shadow=shadow,
        )
        flagstate.apply(feature, flagstate.flag_of(self._current, feature), change)  # fail fast
        return await self._write(
            feature,
            lambda flags: flagstate.apply(feature, flagstate.flag_of(flags, feature), change),
            actor=actor_label(actor),
            principal=actor,
            source=source,
            action="update",
            pinned=False,
        )

    async def rollback(
        self, feature: str, actor: Principal, *, source: str = "api"
    ) -> tuple[Flag, Flag]:
        """Take the new implementation of ``feature`` out of service (rollout 0 %, no shadow).

        A rollback of ``gateway`` also rolls back ``a2a``, which cannot run without it.
        """
        flagstate.check_feature(feature)
        if feature == "gateway" and self._current.a2a.enabled:
            await self.rollback("a2a", actor, source=source)
        return await self._write(
            feature,
            lambda flags: flagstate.rolled_back(flagstate.flag_of(flags, feature)),
            actor=actor_label(actor),
            principal=actor,
            source=source,
            action="rollback",
            pinned=True,
        )

    async def _write(
        self,
        feature: str,
        compute: Callable[[FeatureFlags], Flag],
        *,
        actor: str,
        principal: Principal | None,
        source: str,
        action: str,
        pinned: bool,
    ) -> tuple[Flag, Flag]:
        for _ in range(MAX_ATTEMPTS):
            try:
                async with self.engine.begin() as conn:
                    result = await self._write_once(
                        conn,
                        feature,
                        compute,
                        actor=actor,
                        source=source,
                        action=action,
                        pinned=pinned,
                    )
            except _StaleError:
                continue  # another writer won the race: recompute from its state
            except IntegrityError:
                continue  # two first writes of the same feature: the loser retries as an update
            previous, new, rows = result
            self._install(rows)
            self.metrics.changes.labels(feature, action).inc()
            percentage = getattr(new, "rollout_percentage", None)
            await publish(self.redis, feature, rows[feature].version, percentage)
            self._record(
                feature=feature,
                action=action,
                previous=previous,
                new=new,
                actor=actor,
                principal=principal,
                source=source,
                row=rows[feature],
            )
            return previous, new
        msg = f"{feature} is being changed concurrently; try again"
        raise ConflictError(msg)

    async def _write_once(
        self,
        conn: AsyncConnection,
        feature: str,
        compute: Callable[[FeatureFlags], Flag],
        *,
        actor: str,
        source: str,
        action: str,
        pinned: bool,
    ) -> tuple[Flag, Flag, dict[str, FlagRow]]:
        rows = await _read_rows(conn)
        flags = self._configured
        for name, row in rows.items():
            flags = flagstate.with_flag(flags, name, row.state)
        previous = flagstate.flag_of(flags, feature)
        new = compute(flags)
        flagstate.check_combination(flagstate.with_flag(flags, feature, new))
        now = datetime.datetime.now(datetime.UTC)
        stored = rows.get(feature)
        # The base stays the configuration the runtime state was first set over, whoever
        # writes next (a CLI or a replica of an older deploy may see other settings); only
        # a start with edited configuration (``config``) moves it.
        base = flagstate.flag_of(self._configured, feature)
        if stored is not None and action != "config":
            base = stored.base
        values = {
            "state": flagstate.encode(new),
            "base": flagstate.encode(base),
            "pinned": pinned,
            "updated_at": now,
            "updated_by": actor,
            "source": source,
        }
        if stored is None:
            version = 1
            await conn.execute(insert(feature_flags).values(feature=feature, version=1, **values))
        else:
            version = stored.version + 1
            done = await conn.execute(
                update(feature_flags)
                .where(feature_flags.c.feature == feature)
                .where(feature_flags.c.version == stored.version)
                .values(version=version, **values)
            )
            if done.rowcount != 1:
                raise _StaleError
        await conn.execute(
            insert(feature_flag_changes).values(
                id=uuid_utils.compat.uuid7(),
                feature=feature,
                version=version,
                action=action,
                old=flagstate.encode(previous),
                new=flagstate.encode(new),
                actor=actor,
                source=source,
                at=now,
            )
        )
        rows[feature] = FlagRow(
            feature=feature,
            state=new,
            base=base,
            pinned=pinned,
            version=version,
            updated_at=now,
            updated_by=actor,
            source=source,
        )
        return previous, new, rows

    def _record(
        self,
        *,
        feature: str,
        action: str,
        previous: Flag,
        new: Flag,
        actor: str,
        principal: Principal | None,
        source: str,
        row: FlagRow,
    ) -> None:
        event = AuditEvent(
            kind="admin",
            action=f"flag.{action}",
            occurred_at=time.time(),
            principal_id=principal.id if principal else actor,
            principal_type=str(principal.type) if principal else None,
            principal_role=str(principal.role) if principal else None,
            resource=f"feature:{feature}",
            request_id=request_id_var.get(),
            allow=True,
            reason=f"{feature} {action} by {actor} via {source}",
            details={
                "feature": feature,
                "previous": flagstate.encode(previous),
                "new": flagstate.encode(new),
                "version": row.version,
                "actor": actor,
                "source": source,
            },
        )
        try:
            self._audit().record(event)
        except Exception:
            log.exception("audit sink refused the flag change of %s", feature)

    # ------------------------------------------------------------------ history

    async def history(self, feature: str | None = None, limit: int = 50) -> list[FlagChange]:
        """The latest changes, newest first (of ``feature`` only when given)."""
        if feature is not None:
            flagstate.check_feature(feature)
        if not 1 <= limit <= 1000:
            msg = f"limit must be from 1 to 1000 (got {limit})"
            raise ValidationError(msg)
        query = select(feature_flag_changes).order_by(
            feature_flag_changes.c.at.desc(), feature_flag_changes.c.version.desc()
        )
        if feature is not None:
            query = query.where(feature_flag_changes.c.feature == feature)
        async with self.engine.connect() as conn:
            result = await conn.execute(query.limit(limit))
            return [
                FlagChange(
                    feature=r.feature,
                    version=r.version,
                    action=r.action,
                    old=r.old,
                    new=r.new,
                    actor=r.actor,
                    source=r.source,
                    at=r.at,
                )
                for r in result
            ]


def _constant(flag: Flag) -> Callable[[FeatureFlags], Flag]:
    return lambda _flags: flag


class _StaleError(Exception):
    """The row changed between our read and our write."""


async def _read_rows(conn: AsyncConnection) -> dict[str, FlagRow]:
    result = await conn.execute(select(feature_flags))
    rows: dict[str, FlagRow] = {}
    for r in result:
        if r.feature not in flagstate.FEATURES:
            continue  # written by a newer release; not ours to interpret
        rows[r.feature] = FlagRow(
            feature=r.feature,
            state=flagstate.decode(r.feature, r.state),
            base=flagstate.decode(r.feature, r.base),
            pinned=bool(r.pinned),
            version=int(r.version),
            updated_at=r.updated_at,
            updated_by=r.updated_by,
            source=r.source,
        )
    return rows
