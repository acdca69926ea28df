"""deploy/prometheus: promtool checks the rules and runs their unit tests; metrics exist."""

from __future__ import annotations

from pathlib import Path

import yaml

from sark.api.runtime import Runtime
from tests.deploy.tools import DEPLOY, run, tool
from tests.support.app import make_settings, migrate
from tests.support.metrics import metric_names, sample_names

RULES = DEPLOY / "prometheus"
REQUIRED = {
    "error rate": "sark_http_requests_total",
    "p99 decision latency": "sark_decision_duration_seconds_bucket",
    "fallback rate": "implementation_fallback_total",
    "audit lag": "sark_audit_lag_seconds",
    "audit queue depth": "sark_audit_queue_depth",
    "shadow divergence": "policy_shadow_divergence_total",
    "forwarder circuit": "sark_siem_circuit_state",
}


def rule_expressions() -> dict[str, str]:
    document = yaml.safe_load((RULES / "alerts.yml").read_text())
    return {rule["alert"]: rule["expr"] for group in document["groups"] for rule in group["rules"]}


async def exported_names(tmp_path: Path) -> set[str]:
    """Every sample name a started SARK (audit writer and a SIEM forwarder on) exposes."""
    (tmp_path / ".sark").mkdir()
    settings = make_settings(tmp_path, {"SARK_SIEM_WEBHOOK_URL": "http://127.0.0.1:9/audit"})
    await migrate(settings)
    runtime = Runtime.build(settings)
    await runtime.start()
    try:
        return sample_names(runtime.telemetry.registry)
    finally:
        await runtime.close()


def test_promtool_check_rules() -> None:
    result = run(tool("promtool"), "check", "rules", "alerts.yml", cwd=RULES)
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=RULES)


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    text = (RULES / "alerts.yml").read_text().replace("> 0.05\n", "> 0.5\n", 1)
    (tmp_path / "alerts.yml").write_text(text)
    (tmp_path / "alerts_test.yml").write_text((RULES / "alerts_test.yml").read_text())
    result = run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "SarkHighErrorRate" in result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tests = (RULES / "alerts_test.yml").read_text()
    for alert in rule_expressions():
        assert f"alertname: {alert}\n" in tests, f"{alert} has no unit test"


async def test_alerts_use_only_metrics_sark_exports(tmp_path: Path) -> None:
    exported = await exported_names(tmp_path)
    used = set().union(*(metric_names(expr) for expr in rule_expressions().values()))
    missing = sorted(used - exported)
    assert not missing, f"alerts query metrics nothing exports: {missing}"
    for what, name in REQUIRED.items():
        assert name in used, f"no alert on {what}"


def test_the_metric_name_parser() -> None:
    expr = 'sum by (job) (rate(a_total{status=~"5.."}[5m])) / sum by (job) (rate(b_total[5m]))'
    assert metric_names(expr) == {"a_total", "b_total"}
