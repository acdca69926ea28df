"""What the plugin keeps for the life of an application (``app.state.gateway``).

Nothing here touches the network or the database when the gateway is disabled: the
registry client and the sync schedule are created on first use with the feature on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from sark.core.errors import FeatureDisabledError
from sark.gateway.auth import GatewayKey
from sark.gateway.config import A2A_NOT_ENABLED, NOT_ENABLED, GatewayConfig

if TYPE_CHECKING:
    from litestar import Litestar

    from sark.api.domain.identity.context import Identity
    from sark.api.runtime import Runtime
    from sark.gateway.agents import AgentTokens
    from sark.gateway.catalog import CatalogIndex
    from sark.gateway.client import RegistryClient
    from sark.gateway.metrics import GatewayMetrics
    from sark.gateway.subjects import SubjectResolver
    from sark.gateway.sync import RegistrySync

log = logging.getLogger("sark.gateway")


class GatewayState:
    """The gateway plugin's long-lived objects; bound to the app at start-up."""

    def __init__(self, config: GatewayConfig) -> None:
        """Hold ``config``; everything else is created by :meth:`bind` or on first use."""
        self.config = config
        self.gateway_key = GatewayKey(config.api_key.reveal() if config.api_key else None)
        self._runtime: Runtime | None = None
        self._identity: Identity | None = None
        self._metrics: GatewayMetrics | None = None
        self._agents: AgentTokens | None = None
        self._client: RegistryClient | None = None
        self._sync: RegistrySync | None = None
        self._subjects: SubjectResolver | None = None
        self._index: CatalogIndex | None = None
        self._schedule: asyncio.Task[None] | None = None
        self._last_enabled: bool | None = None

    # ------------------------------------------------------------------ lifecycle

    async def bind(self, app: Litestar) -> None:
        """Attach to the started application; start the sync schedule when enabled."""
        from sark.gateway.metrics import GatewayMetrics

        self._runtime = app.state.runtime
        self._identity = app.state.identity
        self._metrics = GatewayMetrics(self.runtime.telemetry)
        self._publish_flags()
        if self.gateway_enabled:
            self.ensure_schedule()

    async def close(self) -> None:
        """Stop the schedule and close the registry client."""
        if self._schedule is not None:
            self._schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedule
            self._schedule = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ feature flags

    @property
    def runtime(self) -> Runtime:
        """The application's runtime (after :meth:`bind`)."""
        if self._runtime is None:
            raise FeatureDisabledError(NOT_ENABLED)
        return self._runtime

    def _flags(self) -> Any:
        runtime = self._runtime
        if runtime is None:
            return None
        store = getattr(runtime, "flags", None)
        return store.current() if store is not None else runtime.settings.features

    @property
    def gateway_enabled(self) -> bool:
        """The gateway flag as it stands now (runtime changes included)."""
        flags = self._flags()
        return bool(flags is not None and flags.gateway.enabled)

    @property
    def a2a_enabled(self) -> bool:
        """The A2A flag as it stands now (it needs the gateway)."""
        flags = self._flags()
        return bool(flags is not None and flags.gateway.enabled and flags.a2a.enabled)

    def _publish_flags(self) -> None:
        enabled = self.gateway_enabled
        if enabled != self._last_enabled and self._metrics is not None:
            self._metrics.enabled.set(1 if enabled else 0)
            self._metrics.a2a_enabled.set(1 if self.a2a_enabled else 0)
            self._last_enabled = enabled

    def require_gateway(self) -> None:
        """Raise the guide's 503 unless the gateway is enabled."""
        enabled = self.gateway_enabled
        if enabled != self._last_enabled:
            self._publish_flags()
        if not enabled:
            raise FeatureDisabledError(NOT_ENABLED)
        if self._schedule is None:
            self.ensure_schedule()

    def require_a2a(self) -> None:
        """Raise a 503 unless both the gateway and A2A are enabled."""
        self.require_gateway()
        if not self.a2a_enabled:
            raise FeatureDisabledError(A2A_NOT_ENABLED)

    # ------------------------------------------------------------------ lazy services

    @property
    def identity(self) -> Identity:
        """SARK's identity machinery."""
        if self._identity is None:
            raise FeatureDisabledError(NOT_ENABLED)
        return self._identity

    @property
    def metrics(self) -> GatewayMetrics:
        """The gateway metrics."""
        if self._metrics is None:
            raise FeatureDisabledError(NOT_ENABLED)
        return self._metrics

    @property
    def agents(self) -> AgentTokens:
        """Agent token issuer and verifier (built on first use)."""
        if self._agents is None:
            from sark.gateway.agents import AgentTokens

            self._agents = AgentTokens(
                self.identity.codec,
                self.config.agent_token_ttl_seconds,
                self.identity.settings.auth.token_cache_size or 1,
            )
        return self._agents

    @property
    def subjects(self) -> SubjectResolver:
        """Resolves subjects named by policy enforcement points to principals."""
        if self._subjects is None:
            from sark.gateway.subjects import SubjectResolver

            self._subjects = SubjectResolver(self.runtime.engine)
        return self._subjects

    @property
    def catalog_index(self) -> CatalogIndex:
        """Servers by tool name and endpoint (for enforcement points naming only a tool)."""
        if self._index is None:
            from sark.gateway.catalog import CatalogIndex

            self._index = CatalogIndex(self.runtime.engine)
        return self._index

    @property
    def client(self) -> RegistryClient | None:
        """The registry client (None without ``GATEWAY_URL``); created on first use."""
        if self._client is None and self.config.registry_url and self.gateway_enabled:
            from sark.gateway.client import RegistryClient

            self._client = RegistryClient(self.config, self.metrics)
        return self._client

    @property
    def sync(self) -> RegistrySync | None:
        """The registry-to-catalog sync (None without a registry)."""
        client = self.client
        if self._sync is None and client is not None:
            from sark.gateway.sync import RegistrySync

            self._sync = RegistrySync(client, self.runtime, self.metrics)
        return self._sync

    def ensure_schedule(self) -> None:
        """Start the periodic sync when a registry is configured and a period is set."""
        if self._schedule is not None or self.config.sync_interval_seconds <= 0:
            return
        if self.sync is None:
            return
        self._schedule = asyncio.create_task(self._run_schedule(), name="sark-gateway-sync")

    async def _run_schedule(self) -> None:
        interval = self.config.sync_interval_seconds
        while True:
            if self.gateway_enabled and self.sync is not None:
                try:
                    await self.sync.run(actor="schedule")
                except Exception:  # the schedule outlives a failed sync; the next one retries
                    log.warning("scheduled gateway registry sync failed", exc_info=True)
            await asyncio.sleep(interval)
