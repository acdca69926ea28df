"""The Grafana dashboard queries only metrics the plugin registers."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sark.api.observability.metrics import Telemetry
from sark.gateway.metrics import GatewayMetrics

DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "dashboards" / "gateway.json"


def test_dashboard_metrics_exist() -> None:
    telemetry = Telemetry()
    GatewayMetrics(telemetry)
    exposed = telemetry.render().decode()
    document = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in document["panels"] for t in p["targets"]]
    names = {
        re.sub(r"_(bucket|count|sum)$", "", n)
        for e in exprs
        for n in re.findall(r"sark_gateway_\w+", e)
    }
    assert {"sark_gateway_enabled", "sark_gateway_authorization_requests_total"} <= names
    for name in names:
        assert re.search(rf"^# TYPE {name} ", exposed, re.MULTILINE), name
    disabled = next(p for p in document["panels"] if p["title"] == "Gateway integration")
    assert "Feature Disabled" in json.dumps(disabled["fieldConfig"])
