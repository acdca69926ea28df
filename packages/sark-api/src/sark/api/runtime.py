"""The long-lived objects of one application, built by ``create_app`` and closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.db.engine import create_engine
from sark.api.domain.audit.sink import AuditSink, LogAuditSink
from sark.api.observability.metrics import Telemetry
from sark.core.settings import Settings


@dataclass(slots=True)
class Runtime:
    """Connections and shared services; created without connecting to anything."""

    settings: Settings
    telemetry: Telemetry
    engine: AsyncEngine
    http: httpx.AsyncClient
    redis: Redis | None = None
    audit: AuditSink = field(default_factory=LogAuditSink)
    plugins: tuple[str, ...] = field(default=())

    @classmethod
    def build(cls, settings: Settings, telemetry: Telemetry | None = None) -> Runtime:
        """Create clients for everything ``settings`` configures (connections are lazy)."""
        redis_url = settings.redis.url
        return cls(
            settings=settings,
            telemetry=telemetry or Telemetry(),
            engine=create_engine(settings.database),
            http=httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0)),
            redis=Redis.from_url(redis_url.reveal()) if redis_url else None,
        )

    @property
    def gateway_enabled(self) -> bool:
        """Gateway features are on: the plugin is installed and its flag is set."""
        return "gateway" in self.plugins and self.settings.features.gateway.enabled

    @property
    def a2a_enabled(self) -> bool:
        """A2A authorization is on (it needs the gateway)."""
        return self.gateway_enabled and self.settings.features.a2a.enabled

    async def start(self) -> None:
        """Start background services (after the schema is known to be current)."""

    async def close(self) -> None:
        """Stop background services and close every client; called once on shutdown."""
        await self.http.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def provide_runtime(state: State) -> Runtime:
    """Dependency provider: the application's runtime."""
    runtime: Runtime = state.runtime
    return runtime
