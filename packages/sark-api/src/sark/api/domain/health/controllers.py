"""Health, readiness, metrics and version endpoints."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec

from sark.api.domain.health.schemas import (
    Compatibility,
    Health,
    Liveness,
    Readiness,
    VersionBody,
    VersionFeatures,
)
from sark.api.domain.health.services import ReadinessService
from sark.api.runtime import Runtime
from sark.core.version import MIN_COMPATIBLE, VERSION


def provide_readiness(runtime: NamedDependency[Runtime]) -> ReadinessService:
    """The readiness probes of this runtime's dependencies."""
    return ReadinessService(
        runtime.engine, runtime.redis, runtime.http, runtime.settings.policy.opa_url
    )


def version_body(runtime: Runtime) -> VersionBody:
    """The version document (shared by ``/version`` and ``/api/v1/version``)."""
    return VersionBody(
        version=VERSION.version,
        major=VERSION.major,
        minor=VERSION.minor,
        patch=VERSION.patch,
        features=VersionFeatures(
            gateway_integration=runtime.gateway_enabled,
            a2a_authorization=runtime.a2a_enabled,
        ),
        compatibility=Compatibility(min_version=MIN_COMPATIBLE, max_version=VERSION.max_compatible),
    )


class HealthController(Controller):
    """Probes for load balancers, orchestrators and monitoring; no authentication."""

    tags = ["health"]
    dependencies = {"readiness": Provide(provide_readiness, sync_to_thread=False)}

    @get("/health", operation_id="getHealth", summary="Process health and release")
    async def health(self, runtime: NamedDependency[Runtime]) -> Health:
        """Always 200 while the process serves requests."""
        return Health(
            status="healthy",
            version=VERSION.version,
            gateway_enabled=runtime.gateway_enabled,
            a2a_enabled=runtime.a2a_enabled,
        )

    @get("/health/live", operation_id="getLiveness", summary="Liveness probe")
    async def live(self) -> Liveness:
        """200 while the event loop answers."""
        return Liveness(status="alive")

    @get(
        "/health/ready",
        operation_id="getReadiness",
        summary="Readiness probe: every configured dependency answers",
        responses={503: ResponseSpec(data_container=Readiness, description="Not ready")},
    )
    async def ready(self, readiness: NamedDependency[ReadinessService]) -> Response[Readiness]:
        """200 when the database, Redis and OPA (those configured) answer, else 503."""
        result = await readiness.check()
        return Response(result, status_code=200 if result.status == "ready" else 503)

    @get("/api/v1/version", operation_id="getVersion", summary="Release and optional features")
    async def version(self, runtime: NamedDependency[Runtime]) -> VersionBody:
        """The running release, its features and the releases it is compatible with."""
        return version_body(runtime)

    @get("/version", operation_id="getVersionUnversioned", summary="Alias of /api/v1/version")
    async def version_alias(self, runtime: NamedDependency[Runtime]) -> VersionBody:
        """The same document as ``/api/v1/version``, for probes that predate the prefix."""
        return version_body(runtime)

    @get(
        "/metrics",
        operation_id="getMetrics",
        summary="Prometheus metrics",
        media_type=MediaType.TEXT,
    )
    async def metrics(self, runtime: NamedDependency[Runtime]) -> Response[bytes]:
        """Prometheus text exposition of every metric of this server."""
        return Response(runtime.telemetry.render(), media_type=runtime.telemetry.content_type)
