"""The Grafana dashboards are valid and query only metrics SARK actually exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.app import make_settings
from tests.support.metrics import HISTOGRAM_SUFFIXES, metric_names, sample_names

from sark.api.domain.admin.metrics import METRIC_NAMES
from sark.api.runtime import Runtime

DASHBOARDS = Path(__file__).resolve().parents[5] / "deploy" / "grafana" / "dashboards"
FILES = ("rust-performance.json", "feature-flags.json")
GUIDE_METRICS = {
    "opa_evaluation_duration_seconds", "opa_evaluation_errors_total",
    "cache_operation_duration_seconds", "cache_operation_errors_total",
    "feature_flag_assignments_total", "rust_cache_size_entries", "implementation_fallback_total",
    "policy_shadow_divergence_total",
}  # fmt: skip


async def exported_names(tmp_path: Path) -> set[str]:
    """Every sample name the app's registry can expose (counters, gauges, histograms)."""
    runtime = Runtime.build(make_settings(tmp_path))
    try:
        return sample_names(runtime.telemetry.registry)
    finally:
        await runtime.http.aclose()
        await runtime.engine.dispose()


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("name", FILES)
def test_dashboard_is_valid_grafana_json(name: str) -> None:
    dashboard = load(name)
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"]
    assert dashboard["title"].startswith("SARK")
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert ids
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"}
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        assert grid["h"] > 0
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")")
            assert target["datasource"]["uid"] == "${datasource}"


async def test_every_queried_metric_is_exported_and_the_guide_names_are_used(
    tmp_path: Path,
) -> None:
    exported = await exported_names(tmp_path)
    used: set[str] = set()
    for name in FILES:
        for panel in load(name)["panels"]:
            for target in panel["targets"]:
                used |= metric_names(target["expr"])
    missing = sorted(used - exported)
    assert not missing, f"dashboards query metrics nothing exports: {missing}"
    base = {n.removesuffix(s) for n in used for s in HISTOGRAM_SUFFIXES if n.endswith(s)}
    assert used | base >= GUIDE_METRICS
    assert METRIC_NAMES - {"sark_cache_cleanup_removed_total"} <= used | base


def test_the_metric_name_parser() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, implementation) "
        '(rate(opa_evaluation_duration_seconds_bucket{implementation="rust"}[5m])))'
    )
    assert metric_names(expr) == {"opa_evaluation_duration_seconds_bucket"}
    assert metric_names('sum(a_total) / sum(b_total{x="y"})') == {"a_total", "b_total"}
