"""What ``GET /admin/features`` reports: each flag, where it comes from, and its use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sark.api.domain.admin import flagstate
from sark.api.domain.admin.metrics import ASSIGNMENTS, counts_by
from sark.api.domain.admin.schemas import FeatureStatus
from sark.api.domain.policy.engines.native import native_module
from sark.core.flags import CacheRolloutFlag, FeatureFlags, RolloutFlag

if TYPE_CHECKING:
    from sark.api.runtime import Runtime

ENGINE_SECONDS = "opa_evaluation_duration_seconds_count"
CACHE_SECONDS = "cache_operation_duration_seconds_count"


def native_available() -> bool:
    """Whether sark.native's compiled engine and cache are importable here."""
    return native_module() is not None


def _status(feature: str, flags: FeatureFlags, plugins: tuple[str, ...], native: bool) -> str:
    flag = flagstate.flag_of(flags, feature)
    if feature in {"rust_opa", "rust_cache"} and not native:
        return "unavailable"
    if feature in {"gateway", "a2a"} and flag.enabled and "gateway" not in plugins:
        return "unavailable"
    if isinstance(flag, RolloutFlag):
        live = flag.enabled and (flag.rollout_percentage > 0 or flag.shadow)
        return "active" if live else "inactive"
    if feature == "a2a" and not flags.gateway.enabled:
        return "inactive"
    return "active" if flag.enabled else "inactive"


def feature_statuses(runtime: Runtime) -> dict[str, FeatureStatus]:
    """Every feature with its state, source, status and this process's counts."""
    store = runtime.flags
    flags = store.current()
    native = native_available()
    telemetry = runtime.telemetry
    result: dict[str, FeatureStatus] = {}
    for feature in ("rust_opa", "rust_cache", "gateway", "a2a"):
        flag = flagstate.flag_of(flags, feature)
        row = store.row(feature)
        extra: dict[str, object] = {}
        if isinstance(flag, RolloutFlag):
            extra = {
                "rollout_percentage": flag.rollout_percentage,
                "fallback_on_error": flag.fallback_on_error,
                "shadow": flag.shadow,
                "assignments": counts_by(telemetry, ASSIGNMENTS, "implementation", feature=feature),
            }
            if feature == "rust_opa":
                extra["served"] = counts_by(telemetry, ENGINE_SECONDS, "implementation")
            else:
                extra["served"] = counts_by(
                    telemetry, CACHE_SECONDS, "implementation", operation="get"
                )
        if isinstance(flag, CacheRolloutFlag):
            extra |= {"max_size": flag.max_size, "ttl_seconds": flag.ttl_seconds}
        result[feature] = FeatureStatus(
            enabled=flag.enabled,
            status=_status(feature, flags, runtime.plugins, native),
            source=store.source_of(feature),
            version=row.version if row else 0,
            updated_at=row.updated_at if row else None,
            updated_by=row.updated_by if row else None,
            **extra,  # type: ignore[arg-type]
        )
    return result
