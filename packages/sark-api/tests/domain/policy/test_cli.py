"""``sark test-policy`` against the real opa binary (and regorus when installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.services import opa_binary

from sark.api.cli import main
from sark.api.domain.policy.engines.native import native_module


@pytest.fixture(name="runner")
def fixture_runner(bundle_dir: Path) -> CliRunner:
    if opa_binary() is None:
        pytest.skip("the opa binary is not installed")
    return CliRunner(env={"SARK_POLICY_PATH": str(bundle_dir), "SARK_CONFIG": ""})


def test_bundle_tests_pass_on_opa(runner: CliRunner) -> None:
    result = runner.invoke(main, ["test-policy", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["engine"] == "opa"
    assert report["passed"] > 10
    assert report["failed"] == report["errors"] == 0
    assert {t["result"] for t in report["tests"]} == {"pass"}


def test_a_failing_policy_file_exits_non_zero(runner: CliRunner, tmp_path: Path) -> None:
    policy = tmp_path / "mine_test.rego"
    policy.write_text(
        "package mine_test\n\nimport data.data.mcp.authz as config\n\n"
        'test_roles_loaded if "admin" in config.roles\n\n'
        "test_wrong if 1 == 2\n"
    )
    result = runner.invoke(main, ["test-policy", "--policy-file", str(policy)])
    assert result.exit_code == 1
    assert "PASS  mine_test.test_roles_loaded" in result.output  # the bundle's data is there
    assert "FAIL  mine_test.test_wrong" in result.output
    assert "1 passed, 1 failed" in result.output


def test_use_rust(runner: CliRunner) -> None:
    result = runner.invoke(main, ["test-policy", "--use-rust", "--json"])
    if native_module() is None:
        assert result.exit_code == 1
        assert "needs the sark-native package" in result.output
        return
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["engine"] == "native"
    assert report["failed"] == report["errors"] == 0
    assert report["passed"] > 10
