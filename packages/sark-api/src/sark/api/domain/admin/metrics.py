"""The 1.4 rollout metrics (migration guide names) and how to read them back.

Names and labels are a contract shared with the decision path: it records assignments and
fallbacks through :class:`RolloutMetrics` (``runtime.flags.metrics``) or, equivalently,
through ``Telemetry`` get-or-create with exactly these names and label tuples.
"""

from __future__ import annotations

from typing import Any, Final

from prometheus_client import Counter, Gauge

from sark.api.observability.metrics import Telemetry

ASSIGNMENTS: Final = "feature_flag_assignments_total"
ASSIGNMENT_LABELS: Final = ("feature", "implementation")
FALLBACKS: Final = "implementation_fallback_total"
FALLBACK_LABELS: Final = ("feature", "from_implementation", "to_implementation")
CACHE_SIZE: Final = "rust_cache_size_entries"
CACHE_ERRORS: Final = "cache_operation_errors_total"
DIVERGENCE: Final = "policy_shadow_divergence_total"
CHANGES: Final = "sark_feature_flag_changes_total"
CLEANUPS: Final = "sark_cache_cleanup_removed_total"

METRIC_NAMES: Final = frozenset(
    {ASSIGNMENTS, FALLBACKS, CACHE_SIZE, CACHE_ERRORS, DIVERGENCE, CHANGES, CLEANUPS}
)
"""Every metric this module registers (the dashboards' test checks against the registry)."""


class RolloutMetrics:
    """Counters of flag assignments, fallbacks and changes, plus the native cache size."""

    def __init__(self, telemetry: Telemetry) -> None:
        """Register (or find) every metric in ``telemetry``."""
        self.assignments: Counter = telemetry.counter(
            ASSIGNMENTS,
            "Decisions routed by a rollout flag, by the implementation that was chosen.",
            ASSIGNMENT_LABELS,
        )
        self.fallbacks: Counter = telemetry.counter(
            FALLBACKS,
            "Operations the other implementation served after an error (fallback_on_error).",
            FALLBACK_LABELS,
        )
        self.cache_size: Gauge = telemetry.gauge(
            CACHE_SIZE, "Entries held by the native (Rust) decision cache of this process."
        )
        self.cache_errors: Counter = telemetry.counter(
            CACHE_ERRORS, "Failed decision-cache operations.", ("implementation",)
        )
        # Same name and labels as the engine router's (get-or-create returns the one metric).
        self.divergence: Counter = telemetry.counter(
            DIVERGENCE, "Shadow evaluations whose decision differed from the served one."
        )
        self.changes: Counter = telemetry.counter(
            CHANGES, "Runtime feature-flag changes made by this process.", ("feature", "action")
        )
        self.cleanups: Counter = telemetry.counter(
            CLEANUPS, "Expired decision-cache entries removed by POST /admin/cache/cleanup."
        )
        self._children: dict[tuple[str, str], Any] = {}

    def assigned(self, feature: str, implementation: str) -> None:
        """Count one decision that ``feature`` routed to ``implementation`` (hot path)."""
        child = self._children.get((feature, implementation))
        if child is None:
            child = self._children[feature, implementation] = self.assignments.labels(
                feature, implementation
            )
        child.inc()

    def fell_back(self, feature: str, from_implementation: str, to_implementation: str) -> None:
        """Count one operation ``to_implementation`` served after ``from_implementation`` failed."""
        self.fallbacks.labels(feature, from_implementation, to_implementation).inc()


def counts_by(telemetry: Telemetry, sample: str, label: str, **match: str) -> dict[str, int]:
    """This process's samples named ``sample`` summed by ``label``, keeping those matching."""
    totals: dict[str, int] = {}
    for family in telemetry.registry.collect():
        for point in family.samples:
            labels = point.labels
            if point.name != sample or label not in labels:
                continue
            if all(labels.get(k) == v for k, v in match.items()):
                totals[labels[label]] = totals.get(labels[label], 0) + int(point.value)
    return totals
