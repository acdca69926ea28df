"""Building the decision service from settings: which engines, which caches (ARCHITECTURE §4).

- engines: the native engine whenever sark-native is importable; OPA whenever
  ``SARK_OPA_URL`` is set; neither: the service still starts and denies every decision
  with ``no_policy_engine`` (logged at start);
- caches (unless ``SARK_DECISION_CACHE_ENABLED=false``): an in-process L1 (pure Python,
  or sark.native's for subjects in the ``rust_cache`` rollout) in front of Redis when
  ``SARK_REDIS_URL`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sark.api.domain.policy.cache import MemoryCache, NativeCache, RedisCache, TieredCache
from sark.api.domain.policy.engines import (
    EngineRouter,
    NativeEngine,
    OpaHttpEngine,
    PolicyEngine,
    native_module,
)
from sark.api.domain.policy.services import CacheChooser, DecisionService
from sark.api.resources import default_bundle_dir
from sark.core.flags import FeatureFlags

if TYPE_CHECKING:
    from sark.api.runtime import Runtime

log = logging.getLogger("sark.policy")


def build_decision_service(
    runtime: Runtime, flags: Callable[[], FeatureFlags] | None = None
) -> DecisionService:
    """The decision service of ``runtime``; ``flags`` reads the live feature flags."""
    settings = runtime.settings
    read_flags = flags or (lambda: runtime.settings.features)
    module = native_module()
    native: PolicyEngine | None = None
    if module is not None:
        native = NativeEngine(module, settings.policy.timeout_ms)
    elif settings.policy.opa_url:
        log.info("sark-native is not installed: decisions are evaluated by OPA only")
    opa: PolicyEngine | None = None
    if settings.policy.opa_url:
        opa = OpaHttpEngine(runtime.http, settings.policy.opa_url, settings.policy.timeout_ms)
    router = EngineRouter(native, opa, lambda: read_flags().rust_opa, runtime.telemetry)
    caches = None
    if settings.policy.cache_enabled:
        sizing = settings.features.rust_cache
        l2 = RedisCache(runtime.redis) if runtime.redis is not None else None
        memory = MemoryCache(sizing.max_size, sizing.ttl_seconds)
        default = TieredCache(memory, l2, runtime.telemetry)
        native_cache = None
        if module is not None:
            l1 = NativeCache(module.Cache, sizing.max_size, sizing.ttl_seconds)
            native_cache = TieredCache(l1, l2, runtime.telemetry)
        caches = CacheChooser(default, native_cache, read_flags, runtime.telemetry)
    return DecisionService(
        router=router,
        caches=caches,
        telemetry=runtime.telemetry,
        audit=lambda: runtime.audit,
        catalog=lambda: getattr(runtime, "catalog", None),
        bundle_path=settings.policy.path or str(default_bundle_dir()),
    )
