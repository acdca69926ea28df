"""Prometheus metrics: one registry per application, multi-process aware.

With several workers (``sark serve --workers N``) each process writes its samples to
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` aggregates them, so a scrape sees the whole
server whichever worker answers it.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
M = TypeVar("M", Counter, Gauge, Histogram)
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class Telemetry:
    """The metrics of one application; domains register theirs here by name."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self._multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        if self._multiprocess:
            # Workers are forked from a parent that may have imported prometheus_client
            # before the directory was set; pick the file-backed value class now.
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        # In multi-process mode samples go to files; the registry only names the metrics.
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Any] = {}
        self.http_requests = self.counter(
            "sark_http_requests_total", "HTTP requests answered.", ("method", "route", "status")
        )
        self.http_latency = self.histogram(
            "sark_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ("method", "route"),
        )

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        """The counter ``name``, created on first use."""
        return self._get(Counter, name, doc, labels)

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        """The gauge ``name``, created on first use (summed across processes)."""
        extra = {"multiprocess_mode": "livesum"} if self._multiprocess else {}
        return self._get(Gauge, name, doc, labels, **extra)

    def histogram(
        self,
        name: str,
        doc: str,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> Histogram:
        """The histogram ``name``, created on first use."""
        return self._get(Histogram, name, doc, labels, buckets=buckets)

    def _get(self, kind: type[M], name: str, doc: str, labels: tuple[str, ...], **kw: Any) -> M:
        existing = self._metrics.get(name)
        if isinstance(existing, kind):
            return existing
        metric = kind(name, doc, labels, registry=self.registry, **kw)
        self._metrics[name] = metric
        return metric

    def render(self) -> bytes:
        """The exposition text of every metric (all worker processes in multi-process mode)."""
        if self._multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))
