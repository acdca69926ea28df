"""Metrics of the gateway plugin, registered on the application's telemetry."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from sark.api.observability.metrics import Telemetry
from sark.core.models import Decision


class GatewayMetrics:
    """``sark_gateway_*``: the feature gauge, decision counts and latency, registry health."""

    def __init__(self, telemetry: Telemetry) -> None:
        """Get or create every gateway metric on ``telemetry``."""
        self.enabled: Gauge = telemetry.gauge(
            "sark_gateway_enabled", "1 when gateway integration is enabled (GATEWAY_ENABLED)."
        )
        self.a2a_enabled: Gauge = telemetry.gauge(
            "sark_gateway_a2a_enabled", "1 when A2A authorization is enabled (A2A_ENABLED)."
        )
        requests: Counter = telemetry.counter(
            "sark_gateway_authorization_requests_total",
            "Gateway authorization decisions (only counted while the gateway is enabled).",
            ("decision",),
        )
        self._allow = requests.labels("allow")
        self._deny = requests.labels("deny")
        self.latency: Histogram = telemetry.histogram(
            "sark_gateway_authorization_duration_seconds",
            "Time to answer one gateway authorization request, by endpoint.",
            ("endpoint",),
        )
        self.sync: Counter = telemetry.counter(
            "sark_gateway_sync_total", "Registry syncs by result.", ("result",)
        )
        self.registry_requests: Counter = telemetry.counter(
            "sark_gateway_registry_requests_total",
            "Calls to the MCP Gateway Registry by outcome.",
            ("outcome",),
        )
        self.circuit_open: Gauge = telemetry.gauge(
            "sark_gateway_circuit_open", "1 while the registry client's circuit is open."
        )
        self.audit_events: Counter = telemetry.counter(
            "sark_gateway_audit_events_total", "Gateway audit events ingested by type.", ("type",)
        )

    def count(self, decision: Decision) -> None:
        """Count one decision."""
        (self._allow if decision.allow else self._deny).inc()

    def count_many(self, decisions: Sequence[Decision]) -> None:
        """Count a batch of decisions (one increment per outcome)."""
        allowed = sum(1 for d in decisions if d.allow)
        if allowed:
            self._allow.inc(allowed)
        if allowed < len(decisions):
            self._deny.inc(len(decisions) - allowed)

    def count_allow(self, allow: bool) -> None:
        """Count one decision known only by its outcome."""
        (self._allow if allow else self._deny).inc()
