"""``sark test-policy``: run the Rego tests of the policy bundle, on OPA or on regorus."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess  # runs only the `opa` binary (sark test-policy)  # nosec B404
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from sark.api.cli._common import clean_errors, emit, fail, json_option, load_settings
from sark.api.domain.policy.bundle import bundle_files
from sark.api.domain.policy.engines.native import native_module
from sark.api.resources import default_bundle_dir

_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]*)\b", re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def opa_binary() -> str | None:
    """The ``opa`` executable: on PATH or where ``go install`` puts it."""
    found = shutil.which("opa")
    if found:
        return found
    gopath = Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "opa"
    return str(gopath) if gopath.exists() else None


@contextmanager
def _test_tree(bundle: Path, policy_files: tuple[str, ...]) -> Iterator[Path]:
    """The directory to test: the bundle, or the given files plus the bundle's data."""
    if not policy_files:
        yield bundle
        return
    with tempfile.TemporaryDirectory(prefix="sark-test-policy-") as tmp:
        root = Path(tmp)
        for relpath, path in bundle_files(bundle):
            if relpath.endswith(".json"):
                (root / relpath).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, root / relpath)
        for name in policy_files:
            source = Path(name)
            if not source.is_file():
                fail(f"--policy-file {name}: no such file")
            shutil.copyfile(source, root / source.name)
        yield root


def run_opa(tree: Path) -> list[dict[str, Any]]:
    """Run ``opa test`` on ``tree`` and return one result per test."""
    binary = opa_binary()
    if binary is None:
        fail("the opa binary is not on PATH; install OPA or run with --use-rust")
    completed = subprocess.run(  # noqa: S603  # fixed binary, our arguments  # nosec B603
        [binary, "test", str(tree), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        raw = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        fail(f"opa test failed: {(completed.stderr or completed.stdout).strip()[:2000]}")
    if not isinstance(raw, list):
        fail(f"opa test failed: {completed.stderr.strip()[:2000]}")
    results = []
    for test in raw:
        outcome = "error" if test.get("error") else "fail" if test.get("fail") else "pass"
        if test.get("skip"):
            outcome = "skip"
        error = test.get("error")
        results.append({
            "package": str(test.get("package", "")).removeprefix("data."),
            "name": test.get("name", ""),
            "result": outcome,
            "duration_ms": round(test.get("duration", 0) / 1e6, 3),
            "message": error.get("message", "") if isinstance(error, dict) else "",
        })  # fmt: skip
    if not results and completed.returncode != 0:
        fail(f"opa test failed: {completed.stderr.strip()[:2000]}")
    return results


def run_native(tree: Path) -> list[dict[str, Any]]:
    """Evaluate every ``test_*`` rule of the ``*_test.rego`` modules on regorus."""
    native = native_module()
    if native is None:
        fail("--use-rust needs the sark-native package (the in-process regorus engine)")
    engine = native.PolicyEngine(timeout_ms=10_000)
    try:
        engine.load_bundle(tree)
        tests = [(rel, path.read_text()) for rel, path in bundle_files(tree)
                 if rel.endswith("_test.rego")]  # fmt: skip
        for relpath, source in tests:
            engine.add_module(relpath, source)
    except native.PolicyCompileError as exc:
        fail(f"the policy does not compile on regorus: {exc}")
    results = []
    for _, source in tests:
        package = _PACKAGE.search(source)
        if package is None:
            continue
        for name in dict.fromkeys(_TEST_RULE.findall(source)):
            results.append(_run_one(engine, native, package.group(1), name))
    return results


def _run_one(engine: Any, native: Any, package: str, name: str) -> dict[str, Any]:
    started = time.perf_counter()
    message = ""
    try:
        value = engine.evaluate(f"data.{package}.{name}", {})
        outcome = "pass" if value is True else "fail"
    except native.NativeError as exc:
        outcome, message = "error", str(exc)
    return {
        "package": package,
        "name": name,
        "result": outcome,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "message": message,
    }


@click.command("test-policy")
@click.option(
    "--policy-file",
    "policy_files",
    multiple=True,
    help="Test these Rego files (with the bundle's data) instead of the bundle.",
)
@click.option("--use-rust", is_flag=True, help="Run on the in-process regorus engine.")
@json_option
@clean_errors
def test_policy(policy_files: tuple[str, ...], use_rust: bool, as_json: bool) -> None:  # fmt: skip
    """Run the Rego tests of the policy bundle (SARK_POLICY_PATH or the bundled one)."""
    settings = load_settings()
    bundle = Path(settings.policy.path or default_bundle_dir())
    if not bundle.is_dir():
        fail(f"policy bundle {bundle} is not a directory")
    with _test_tree(bundle, policy_files) as tree:
        results = run_native(tree) if use_rust else run_opa(tree)
    counts = {k: sum(r["result"] == k for r in results) for k in ("pass", "fail", "error", "skip")}
    payload = {
        "engine": "native" if use_rust else "opa",
        "bundle": str(bundle),
        "policy_files": list(policy_files),
        "passed": counts["pass"],
        "failed": counts["fail"],
        "errors": counts["error"],
        "skipped": counts["skip"],
        "tests": results,
    }

    def human() -> None:
        for r in results:
            line = f"{r['result'].upper():5} {r['package']}.{r['name']} ({r['duration_ms']} ms)"
            click.echo(line + (f": {r['message']}" if r["message"] else ""))
        click.echo(
            f"{payload['engine']}: {counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['error']} errors, {counts['skip']} skipped"
        )

    emit(payload, as_json, human)
    if not results:
        fail("no tests found")
    if counts["fail"] or counts["error"]:
        raise SystemExit(1)
