"""deploy/kubernetes/sark: `helm lint` and `helm template` pass; rendered objects are right."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.tools import DEPLOY, SARK_VARIABLES, is_sark_variable, run, tool

CHART = DEPLOY / "kubernetes" / "sark"
PRODUCTION = CHART / "values-production.yaml"
# helm built by `go install` does not know the cluster version it targets; name one.
KUBE_VERSION = "1.31.0"


def template(*arguments: str, check: bool = True) -> list[dict[str, Any]]:
    result = run(
        tool("helm"), "template", "rel", str(CHART), "--kube-version", KUBE_VERSION, *arguments,
        check=check,
    )  # fmt: skip
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def container(document: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = document["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("values", [(), ("-f", str(PRODUCTION))], ids=["default", "production"])
def test_helm_lint(values: tuple[str, ...]) -> None:
    result = run(tool("helm"), "lint", "--strict", str(CHART), *values)
    assert "0 chart(s) failed" in result.stdout


def test_production_values_render_every_kind() -> None:
    documents = template("-f", str(PRODUCTION))
    kinds = {d["kind"] for d in documents}
    assert kinds >= {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                     "ConfigMap", "Job", "ServiceAccount", "ServiceMonitor"}  # fmt: skip
    assert "Secret" not in kinds  # existingSecret: the chart creates none
    deployment = by_kind(documents, "Deployment")[0]
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    env_from = container(deployment)["envFrom"]
    assert {"secretRef": {"name": "sark-secrets"}} in env_from
    hpa = by_kind(documents, "HorizontalPodAutoscaler")[0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    pdb = by_kind(documents, "PodDisruptionBudget")[0]
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_probes_and_security_context() -> None:
    deployment = by_kind(template(), "Deployment")[0]
    main = container(deployment)
    assert main["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert main["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert main["startupProbe"]["httpGet"]["path"] == "/health/live"
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001
    assert main["resources"]["limits"]
    assert main["resources"]["requests"]
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert {"/var/lib/sark", "/tmp"} <= mounts  # the only writable paths


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook() -> None:
    documents = template("--set", "secret.values.SARK_DATABASE_URL=postgresql://u:p@db/sark")
    job = by_kind(documents, "Job")[0]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert container(job)["args"] == ["db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # hooks run before ordinary resources exist: the Job's config comes from hook copies
    hooked = {
        (d["kind"], d["metadata"]["name"])
        for d in documents
        if d["metadata"].get("annotations", {}).get("helm.sh/hook")
    }
    refs = container(job)["envFrom"]
    assert ("ConfigMap", refs[0]["configMapRef"]["name"]) in hooked
    assert ("Secret", refs[1]["secretRef"]["name"]) in hooked
    weights = {
        d["kind"]: int(d["metadata"]["annotations"]["helm.sh/hook-weight"])
        for d in documents
        if d["metadata"].get("annotations", {}).get("helm.sh/hook")
    }
    assert weights["ConfigMap"] < weights["Job"]
    assert weights["Secret"] < weights["Job"]


def test_existing_secret_is_used_by_pods_and_job() -> None:
    documents = template("--set", "secret.existingSecret=mine")
    assert not by_kind(documents, "Secret")
    for kind in ("Deployment", "Job"):
        refs = container(by_kind(documents, kind)[0])["envFrom"]
        assert {"secretRef": {"name": "mine"}} in refs


@pytest.mark.parametrize("variant", ["api", "gateway", "native"])
def test_image_per_variant(variant: str) -> None:
    documents = template(
        "--set", f"image.variant={variant}", "--set", "config.SARK_OPA_URL=http://opa:8181",
        "--set", "image.tag=9.9.9",
    )  # fmt: skip
    image = container(by_kind(documents, "Deployment")[0])["image"]
    assert image == f"ghcr.io/sark/sark-{variant}:9.9.9"
    assert container(by_kind(documents, "Job")[0])["image"] == image


def test_feature_flags_become_documented_variables() -> None:
    documents = template(
        "--set", "image.variant=gateway", "--set", "config.SARK_OPA_URL=http://opa:8181",
        "--set", "features.gateway=true", "--set", "features.a2a=true",
    )  # fmt: skip
    data = by_kind(documents, "ConfigMap")[0]["data"]
    assert data["GATEWAY_ENABLED"] == "true"
    assert data["A2A_ENABLED"] == "true"
    assert data["SARK_RUST_OPA_ENABLED"] == "false"
    for name in data:
        assert is_sark_variable(name), name
        assert name in SARK_VARIABLES, f"{name} is not a SARK setting"
    production = by_kind(template("-f", str(PRODUCTION)), "ConfigMap")[0]["data"]
    assert production["SARK_RUST_OPA_ROLLOUT_PCT"] == "100"
    assert set(production) <= SARK_VARIABLES


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--set", "image.variant=api"), "set config.SARK_OPA_URL"),
        (("--set", "features.gateway=true"), "needs image.variant=gateway"),
        (("--set", "image.variant=debug"), "must be one of api, gateway, native"),
        (("--set", "features.a2a=true"), "requires features.gateway"),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(
    arguments: tuple[str, ...], message: str
) -> None:
    result = run(
        tool("helm"), "template", "rel", str(CHART), "--kube-version", KUBE_VERSION, *arguments,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr


def test_single_replica_default_has_no_disruption_budget() -> None:
    kinds = {d["kind"] for d in template()}
    assert "PodDisruptionBudget" not in kinds
    assert "HorizontalPodAutoscaler" not in kinds
    assert "PodDisruptionBudget" in {d["kind"] for d in template("--set", "replicaCount=3")}


def test_chart_version_moves_in_lockstep_with_the_release() -> None:
    from sark.core.version import VERSION

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == VERSION.version
    assert chart["version"] == VERSION.version
