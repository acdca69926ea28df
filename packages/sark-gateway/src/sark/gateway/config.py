"""The plugin's configuration: what the gateway features need, read from the settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sark.core.options import Secret
from sark.core.settings import Settings

NOT_ENABLED = "Gateway integration not enabled. Set GATEWAY_ENABLED=true to enable."
A2A_NOT_ENABLED = "A2A authorization not enabled. Set A2A_ENABLED=true to enable."


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Configuration of :class:`~sark.gateway.plugin.GatewayPlugin`."""

    enabled: bool = False
    """Gateway endpoints serve requests (``GATEWAY_ENABLED``) as the process starts."""
    a2a_enabled: bool = False
    """Agent-to-agent endpoints serve requests (``A2A_ENABLED``; needs the gateway)."""
    registry_url: str | None = None
    """Base URL of the MCP Gateway Registry (``GATEWAY_URL``); None: no client, no sync."""
    api_key: Secret | None = None
    """Shared key: SARK presents it to the registry, the gateway presents it to SARK."""
    timeout_seconds: float = 5.0
    """Time limit of one registry call."""
    max_retries: int = 3
    """Retries of a failed registry call."""
    retry_backoff_seconds: float = 0.2
    """First retry delay; doubles each retry (with jitter)."""
    circuit_failure_threshold: int = 5
    """Consecutive failed calls that open the circuit."""
    circuit_reset_seconds: float = 30.0
    """Time an open circuit waits before letting one probe call through."""
    sync_interval_seconds: int = 300
    """Period of the registry sync (0: only on demand)."""
    trusted_pep_keys: frozenset[str] = field(default_factory=frozenset)
    """API key ids whose asserted subject attributes are believed (AuthZEN, OPA API)."""
    agent_token_ttl_seconds: int = 3600
    """Lifetime of issued agent tokens."""

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayConfig:
        """The configuration ``settings`` describe."""
        gateway = settings.gateway
        keys = frozenset(k for k in re.split(r"[\s,]+", gateway.trusted_pep_keys) if k)
        return cls(
            enabled=settings.features.gateway.enabled,
            a2a_enabled=settings.features.a2a.enabled,
            registry_url=gateway.url.rstrip("/") if gateway.url else None,
            api_key=gateway.api_key if gateway.api_key else None,
            timeout_seconds=gateway.timeout_seconds,
            max_retries=gateway.max_retries,
            retry_backoff_seconds=gateway.retry_backoff_ms / 1000,
            circuit_failure_threshold=gateway.circuit_failure_threshold,
            circuit_reset_seconds=gateway.circuit_reset_seconds,
            sync_interval_seconds=gateway.sync_interval_seconds,
            trusted_pep_keys=keys,
            agent_token_ttl_seconds=gateway.agent_token_ttl_seconds,
        )
