"""``/admin``: feature flags, rollout changes and decision-cache maintenance (admin only)."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from sark.api.domain.admin import flagstate
from sark.api.domain.admin.caches import CleanupReport, cleanup_expired
from sark.api.domain.admin.schemas import (
    FeatureStatus,
    RolloutResult,
    RolloutRollback,
    RolloutUpdate,
)
from sark.api.domain.admin.status import feature_statuses
from sark.api.domain.identity.guards import require_roles, require_scope
from sark.api.runtime import Runtime
from sark.core.errors import SarkError
from sark.core.models import AuditEvent, Principal, Role


def _audit(
    runtime: Runtime,
    request: Request[Any, Any, Any],
    principal: Principal,
    action: str,
    *,
    allow: bool,
    reason: str,
    resource: str,
    details: dict[str, Any] | None = None,
) -> None:
    runtime.audit.record(
        AuditEvent(
            kind="admin",
            action=action,
            occurred_at=time.time(),
            principal_id=principal.id,
            principal_type=str(principal.type),
            principal_role=str(principal.role),
            resource=resource,
            allow=allow,
            reason=reason[:500],
            request_id=request.scope.get("state", {}).get("request_id"),
            client_ip=request.client.host if request.client else None,
            details=details or {},
        )
    )


class AdminController(Controller):
    """Runtime feature flags and cache maintenance (migration guide 1.3 -> 1.4)."""

    path = "/admin"
    tags = ["admin"]
    guards = [require_roles(Role.ADMIN), require_scope("admin")]

    @get("/features", operation_id="listFeatures", summary="Every feature flag and its use")
    async def features(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> dict[str, FeatureStatus]:
        """State, source, status and this process's assignment counts of each feature."""
        runtime.flags.sample_cache_size()
        result = feature_statuses(runtime)
        _audit(runtime, request, principal, "features.read", allow=True, reason="listed",
               resource="features")  # fmt: skip
        return result

    @post(
        "/rollout/update",
        operation_id="updateRollout",
        summary="Change a feature's rollout percentage or switches",
        status_code=200,
    )
    async def update(
        self,
        data: JSONBody[RolloutUpdate],
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> RolloutResult:
        """422 for an unknown feature, a percentage outside 0-100 or an impossible combination."""
        try:
            previous, new = await runtime.flags.update(
                data.feature,
                percentage=data.percentage,
                enabled=data.enabled,
                fallback_on_error=data.fallback_on_error,
                shadow=data.shadow,
                actor=principal,
            )
        except SarkError as exc:
            _audit(runtime, request, principal, "flag.update", allow=False, reason=exc.detail,
                   resource=f"feature:{data.feature}")  # fmt: skip
            raise
        return RolloutResult(
            feature=data.feature, previous=flagstate.encode(previous), new=flagstate.encode(new)
        )

    @post(
        "/rollout/rollback",
        operation_id="rollbackRollout",
        summary="Take a feature's new implementation out of service (rollout 0 %)",
        status_code=200,
    )
    async def rollback(
        self,
        data: JSONBody[RolloutRollback],
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> RolloutResult:
        """Every replica applies it within a second (Redis) or the poll interval."""
        try:
            previous, new = await runtime.flags.rollback(data.feature, principal)
        except SarkError as exc:
            _audit(runtime, request, principal, "flag.rollback", allow=False, reason=exc.detail,
                   resource=f"feature:{data.feature}")  # fmt: skip
            raise
        return RolloutResult(
            feature=data.feature, previous=flagstate.encode(previous), new=flagstate.encode(new)
        )

    @post(
        "/cache/cleanup",
        operation_id="cleanupCache",
        summary="Remove expired entries from the in-process decision caches",
        status_code=200,
    )
    async def cleanup(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> CleanupReport:
        """How many expired entries were removed, per cache level."""
        report = await cleanup_expired(runtime.decisions)
        runtime.flags.metrics.cleanups.inc(report.removed)
        runtime.flags.sample_cache_size()
        _audit(runtime, request, principal, "cache.cleanup", allow=True,
               reason=f"{report.removed} expired entries removed", resource="decision-cache",
               details={"removed": report.removed, "caches": report.caches})  # fmt: skip
        return report
