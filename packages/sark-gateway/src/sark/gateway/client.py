"""Client of the MCP Gateway Registry: retries with back-off behind a circuit breaker.

Endpoints used (see docs/gateway-integration/API_REFERENCE.md, "Registry assumptions"):
``GET {GATEWAY_URL}/api/servers`` and ``GET {GATEWAY_URL}/api/tools/{path}``, with
``Authorization: Bearer <GATEWAY_API_KEY>``.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any
from urllib.parse import quote

import httpx

from sark.core.errors import DependencyUnavailableError
from sark.gateway.config import GatewayConfig
from sark.gateway.metrics import GatewayMetrics

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class CircuitOpenError(DependencyUnavailableError):
    """The registry failed too often; calls are refused until the reset time passes."""


class CircuitBreaker:
    """Closed -> open after N consecutive failures -> half-open (one probe) after a pause."""

    def __init__(self, threshold: int, reset_seconds: float, clock: Any = time.monotonic) -> None:
        """Open after ``threshold`` failures; probe again ``reset_seconds`` later."""
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self.opened_at is None:
            return "closed"
        if self._clock() - self.opened_at >= self.reset_seconds:
            return "half-open"
        return "open"

    def before(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go out now."""
        state = self.state
        if state == "open" or (state == "half-open" and self._probing):
            wait = self.reset_seconds - (self._clock() - (self.opened_at or 0.0))
            msg = f"the MCP Gateway Registry circuit is open; next attempt in {max(wait, 0):.1f}s"
            raise CircuitOpenError(msg)
        if state == "half-open":
            self._probing = True

    def success(self) -> None:
        """Close the circuit."""
        self.failures = 0
        self.opened_at = None
        self._probing = False

    def failure(self) -> None:
        """Count a failure; open (or re-open after a failed probe) at the threshold."""
        self.failures += 1
        self._probing = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self._clock()


class RegistryClient:
    """Talks to the registry; one ``httpx.AsyncClient`` created when first needed."""

    def __init__(self, config: GatewayConfig, metrics: GatewayMetrics) -> None:
        """Call ``config.registry_url`` with ``config``'s timeout, retries and breaker."""
        if not config.registry_url:
            raise DependencyUnavailableError("GATEWAY_URL is not set")
        self.config = config
        self.metrics = metrics
        self.breaker = CircuitBreaker(
            config.circuit_failure_threshold, config.circuit_reset_seconds
        )
        headers = {"Accept": "application/json", "User-Agent": "sark-gateway"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key.reveal()}"
        self._http = httpx.AsyncClient(
            base_url=config.registry_url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def servers(self) -> list[dict[str, Any]]:
        """Every server the registry lists."""
        body = await self._get("/api/servers")
        items = body.get("servers", []) if isinstance(body, dict) else body
        return [s for s in items if isinstance(s, dict)] if isinstance(items, list) else []

    async def tools(self, path: str) -> list[dict[str, Any]]:
        """The tools of the server at registry ``path``."""
        body = await self._get(f"/api/tools/{quote(path.strip('/'), safe='/')}")
        items = body.get("tools", []) if isinstance(body, dict) else body
        return [t for t in items if isinstance(t, dict)] if isinstance(items, list) else []

    async def _get(self, path: str) -> Any:
        attempts = self.config.max_retries + 1
        delay = self.config.retry_backoff_seconds
        last = "no attempt made"
        for attempt in range(attempts):
            self.breaker.before()
            try:
                response = await self._http.get(path)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                retry = True
            else:
                if response.status_code < 400:
                    self.breaker.success()
                    self._publish("ok")
                    try:
                        return response.json()
                    except ValueError:
                        raise DependencyUnavailableError(
                            f"the MCP Gateway Registry answered {path} with invalid JSON"
                        ) from None
                last = f"HTTP {response.status_code}"
                retry = response.status_code in RETRYABLE_STATUS
            self.breaker.failure()
            self._publish("error")
            if not retry:
                break
            if attempt + 1 < attempts:
                await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311  # jitter  # nosec B311
                delay *= 2
        msg = f"the MCP Gateway Registry failed on {path}: {last}"
        raise DependencyUnavailableError(msg)

    def _publish(self, outcome: str) -> None:
        self.metrics.registry_requests.labels(outcome).inc()
        self.metrics.circuit_open.set(1 if self.breaker.state != "closed" else 0)
