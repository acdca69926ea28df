"""The long-lived objects of one application, built by ``create_app`` and closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.db.engine import create_engine
from sark.api.domain.admin.caches import native_cache_size
from sark.api.domain.admin.store import FlagStore
from sark.api.domain.audit.sink import AuditSink, LogAuditSink
from sark.api.domain.audit.writer import AuditWriter
from sark.api.domain.catalog.facts import CatalogFacts
from sark.api.domain.policy.factory import build_decision_service
from sark.api.domain.policy.propagation import PolicyReloads
from sark.api.domain.policy.services import DecisionService
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
    catalog: CatalogFacts = field(init=False)
    """Catalog facts (servers, tools, sensitivity) for the decision path."""
    decisions: DecisionService = field(init=False)
    """The one decision path (ARCHITECTURE §2): every authorization question goes here."""
    flags: FlagStore = field(init=False)
    """Live feature flags (settings < runtime changes), shared by every replica."""
    reloads: PolicyReloads = field(init=False)
    """Policy reloads announced to, and applied from, the other workers and replicas."""

    def __post_init__(self) -> None:
        self.catalog = CatalogFacts(self.engine)
        self.flags = FlagStore(
            self.settings,
            self.engine,
            self.telemetry,
            redis=self.redis,
            audit=lambda: self.audit,
            cache_size=lambda: native_cache_size(self.decisions),
        )
        self.decisions = build_decision_service(self, flags=self.flags.current)
        self.reloads = PolicyReloads(Path(self.settings.home), self.redis, self.decisions)

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
        """Gateway features are on: the plugin is installed and its live flag is set."""
        return "gateway" in self.plugins and self.flags.current().gateway.enabled

    @property
    def a2a_enabled(self) -> bool:
        """A2A authorization is on (it needs the gateway)."""
        return self.gateway_enabled and self.flags.current().a2a.enabled

    async def start(self) -> None:
        """Start background services (after the schema is known to be current)."""
        writer = AuditWriter.from_settings(self.settings, self.engine, self.telemetry)
        await writer.start()  # first, so everything started after it is audited to the DB
        self.audit = writer
        await self.flags.start()  # before serving: stored runtime flag changes apply at once
        await self.catalog.start()
        await self.decisions.start()
        self.flags.follower.listeners.append(self.reloads)

    async def close(self) -> None:
        """Stop background services and close every client; called once on shutdown."""
        await self.decisions.close()
        await self.flags.close()
        if isinstance(self.audit, AuditWriter):
            await self.audit.close()  # flush (or spool) every event before the engine goes
        await self.http.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def provide_runtime(state: State) -> Runtime:
    """Dependency provider: the application's runtime."""
    runtime: Runtime = state.runtime
    return runtime
